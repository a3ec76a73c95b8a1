"""The web layer: Litestar controllers for pages, HTMX partials and the JSON API."""
