/*
 * Accord's own script. Deliberately tiny and CSP-safe: no eval, no inline handlers, no
 * HTML built from strings. htmx itself is configured by <meta name="htmx-config"> in
 * base.html (see static/vendor/README.md), not here.
 *
 * The one job: send the CSRF token with every htmx request. Plain forms carry it in a hidden
 * field; htmx requests carry it in the header Litestar's CSRF middleware checks. The token is
 * read from <meta name="csrf-token"> when each request is made, so a page that was re-rendered
 * after login (new session, new token) always sends the current one.
 */
(function () {
  "use strict";

  var CSRF_HEADER = "x-csrftoken";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers[CSRF_HEADER] = token;
    }
  });
})();

/*
 * Upload progress: a form holding <progress data-upload-progress> shows how much of its file has
 * been sent. htmx reports the XHR's progress as htmx:xhr:progress on the form; the bar appears
 * when sending starts, and the form's .htmx-indicator says "checking" while the server works.
 */
(function () {
  "use strict";

  function bar(event) {
    var form = event.target && event.target.closest ? event.target.closest("form") : null;
    return form ? form.querySelector("progress[data-upload-progress]") : null;
  }

  document.addEventListener("htmx:xhr:loadstart", function (event) {
    var progress = bar(event);
    if (progress) {
      progress.value = 0;
      progress.hidden = false;
    }
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    var progress = bar(event);
    if (progress && event.detail.lengthComputable && event.detail.total > 0) {
      progress.value = Math.round((event.detail.loaded / event.detail.total) * 100);
    }
  });
})();

/*
 * The labeling page (#workspace): keys, focus, durations, the lease timer and the undo window.
 * Every key has a button or field behind it, so the page also works with a mouse, and without
 * this script as plain forms. Keys are ignored while typing in a text field (Esc leaves it).
 */
(function () {
  "use strict";

  var ACTIVE_MS = 60000; // renew the lease at most once a minute, and only while someone works
  var shownAt = performance.now();
  var lastActivity = Date.now();
  var lastRenew = Date.now();

  function workspace() {
    return document.getElementById("workspace");
  }

  function isTyping(el) {
    if (!el) return false;
    if (el.tagName === "TEXTAREA" || el.isContentEditable) return true;
    return el.tagName === "INPUT" && ["checkbox", "radio", "submit", "button", "hidden"].indexOf(el.type) < 0;
  }

  // Focus lands where the hands are: the item (or the one button) of a freshly shown region.
  // Done in htmx:afterSwap, in the same task as the swap: htmx has just put focus back on the
  // field with the old focused field's id (the comment box after Ctrl+Enter), and no key can
  // arrive in between; waiting for afterSettle would move focus under a fast typist's fingers.
  function arrive() {
    var ws = workspace();
    if (!ws || ws.accordSeen) return;
    ws.accordSeen = true;
    shownAt = performance.now();
    var target = ws.querySelector("[data-autofocus]");
    if (target) target.focus();
  }
  document.addEventListener("DOMContentLoaded", arrive);
  document.addEventListener("htmx:afterSwap", arrive);

  // Time on the item, sent with the label (capture phase: before htmx reads the form).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || form.id !== "label-form") return;
    var field = form.querySelector("[data-duration]");
    if (field) field.value = String(Math.round(performance.now() - shownAt));
  }, true);

  function openHelp() {
    var help = document.getElementById("help");
    if (help && !help.open) help.showModal();
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-help-open]")) openHelp();
  });

  function submit(form) {
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  }

  document.addEventListener("keydown", function (event) {
    var ws = workspace();
    if (!ws || event.defaultPrevented || event.metaKey || event.altKey) return;
    lastActivity = Date.now();
    var help = document.getElementById("help");
    if (help && help.open) return; // the dialog closes itself on Esc
    var active = document.activeElement;
    var form = document.getElementById("label-form");
    if (isTyping(active)) {
      if (event.key === "Escape") {
        active.blur();
        event.preventDefault();
      } else if (event.key === "Enter" && event.ctrlKey && form && form.contains(active)) {
        event.preventDefault();
        submit(form);
      }
      return; // Enter in a one-line field submits that field's own form
    }
    if (event.ctrlKey) return;
    if (event.key === "h") {
      event.preventDefault();
      openHelp();
      return;
    }
    if (event.key === "u") {
      var undo = ws.querySelector("[data-undo]:not([hidden]) button");
      if (undo) {
        event.preventDefault();
        undo.click();
      }
      return;
    }
    if (!form) {
      // Start, next item, acknowledge: Enter presses the one main button.
      var main = ws.querySelector("button[data-autofocus]");
      if (event.key === "Enter" && main && active !== main) {
        event.preventDefault();
        main.click();
      }
      return;
    }
    if (event.key === "Enter") {
      if (active && (active.tagName === "BUTTON" || active.tagName === "A" || active.tagName === "SUMMARY")) return;
      event.preventDefault();
      submit(form);
      return;
    }
    if (event.shiftKey && /^Digit[1-9]$/.test(event.code)) {
      var tag = form.querySelector('[data-tag-key="' + event.code.slice(5) + '"]');
      if (tag) {
        event.preventDefault();
        tag.checked = !tag.checked;
      }
      return;
    }
    if (event.key === "?") {
      var unclear = form.querySelector("[data-unclear]");
      event.preventDefault();
      unclear.checked = !unclear.checked;
      if (unclear.checked) form.querySelector("textarea[name=comment]").focus();
      return;
    }
    var key = event.key.length === 1 ? event.key.toLowerCase() : "";
    if (key && !event.shiftKey) {
      var choice = form.querySelector('[data-hotkey="' + CSS.escape(key) + '"]');
      if (choice) {
        event.preventDefault();
        choice.checked = choice.type === "radio" ? true : !choice.checked;
        if (choice.type === "radio" && form.hasAttribute("data-auto-submit")) submit(form);
        return;
      }
    }
    if (key === "s") {
      var reason = ws.querySelector("[data-skip-reason]");
      if (reason) {
        event.preventDefault();
        reason.focus();
      }
    }
  });

  ["pointerdown", "input"].forEach(function (name) {
    document.addEventListener(name, function () { lastActivity = Date.now(); });
  });

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // Once a second: the lease countdown, renewing while active, and the undo window.
  setInterval(function () {
    var ws = workspace();
    if (!ws) return;
    var now = Date.now();
    var lease = ws.querySelector("[data-lease]");
    if (lease) {
      var left = Date.parse(lease.getAttribute("data-expires")) - now;
      var out = lease.querySelector("[data-countdown]");
      var expired = ws.querySelector("[data-lease-expired]");
      if (left <= 0) {
        out.textContent = "expired";
        if (expired) expired.hidden = false;
      } else {
        var s = Math.floor(left / 1000);
        out.textContent = Math.floor(s / 60) + ":" + pad(s % 60) + " left";
        if (now - lastActivity < ACTIVE_MS && now - lastRenew >= ACTIVE_MS && window.htmx) {
          lastRenew = now;
          window.htmx.ajax("POST", lease.getAttribute("data-renew-url"), { target: "#lease", swap: "outerHTML" });
        }
      }
    }
    var undo = ws.querySelector("[data-undo]");
    if (undo && !undo.hidden && now / 1000 > Number(undo.getAttribute("data-undo-until"))) {
      undo.hidden = true;
    }
  }, 1000);
})();
