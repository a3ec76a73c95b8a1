"""Logging in and out, sessions, rate limiting and CSRF, through the real app."""

from __future__ import annotations

import html

from litestar import Litestar
from litestar.testing import TestClient

from app.web.auth import SESSION_COOKIE
from tests.apps import commit_user, login, post_form


def test_login_sets_a_fresh_session_and_logout_ends_it(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    # Given an annotator
    user = commit_user(app, email="ann@example.test")
    # When they log in
    response = login(client, "ann@example.test")
    # Then they are sent home with an HttpOnly session cookie
    assert response.status_code == 303 and response.headers["location"] == "/"
    first = client.cookies[SESSION_COOKIE]
    assert "httponly" in response.headers["set-cookie"].lower()
    home = client.get("/")
    assert home.status_code == 200 and "Your projects" in home.text
    assert user.display_name in home.text
    # When they log in again, the session id rotates
    login(client, "ann@example.test")
    assert client.cookies[SESSION_COOKIE] != first
    # When they log out, the old cookie no longer works
    stolen = client.cookies[SESSION_COOKIE]
    assert post_form(client, "/logout").headers["location"] == "/login"
    client.cookies.set(SESSION_COOKIE, stolen)
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_wrong_password_unknown_user_and_disabled_user_get_one_clear_message(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="ann@example.test")
    commit_user(app, email="off@example.test")
    admin = commit_user(app, email="root@example.test", role="admin")
    from app.db.engine import make_session_factory, session_scope
    from app.domain.people import disable_user, get_user_by_email

    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        disable_user(s, get_user_by_email(s, "off@example.test").id, actor_id=admin.id)
    for email, password in [
        ("ann@example.test", "not the password"),
        ("ghost@example.test", "whatever123"),
        ("off@example.test", "correct horse battery"),
    ]:
        response = login(client, email, password)
        assert response.status_code == 401
        assert "email or password is wrong" in response.text
        assert SESSION_COOKIE not in client.cookies


def test_login_is_rate_limited(app: Litestar, client: TestClient[Litestar]) -> None:
    commit_user(app, email="ann@example.test")
    for _ in range(3):
        assert login(client, "ann@example.test", "wrong wrong wrong").status_code == 401
    response = login(client, "ann@example.test")
    assert response.status_code == 429
    assert "too many failed logins" in response.text


def test_state_change_without_csrf_token_is_refused(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="ann@example.test")
    client.get("/login")
    response = client.post(
        "/login",
        data={"email": "ann@example.test", "password": "correct horse battery"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "security token" in response.text
    assert SESSION_COOKIE not in client.cookies


def test_pages_redirect_to_login_and_keep_the_destination(client: TestClient[Litestar]) -> None:
    response = client.get("/admin/users/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].rstrip("/") == "/login?next=/admin/users"
    htmx = client.get("/admin/users/", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.headers["HX-Redirect"].startswith("/login")


def test_next_parameter_cannot_send_users_off_site(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="ann@example.test")
    response = post_form(
        client,
        "/login",
        {
            "email": "ann@example.test",
            "password": "correct horse battery",
            "next": "//evil.example/x",
        },
    )
    assert response.headers["location"] == "/"


def test_security_headers_and_csp_are_sent(client: TestClient[Litestar]) -> None:
    response = client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    page = html.unescape(response.text)
    assert '"allowEval": false' in page and '"selfRequestsOnly": true' in page
    assert '"allowScriptTags": false' in page
