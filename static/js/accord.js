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
