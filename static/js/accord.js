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
