"""Admins manage people and tokens in the browser; others may not."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_session_factory, session_scope
from app.db.models import ApiToken, User
from app.web.auth import SESSION_COOKIE
from tests.apps import commit_user, login, post_form


def test_annotator_and_lead_cannot_reach_admin_pages(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="ann@example.test")
    commit_user(app, email="lee@example.test", role="lead")
    for email in ("ann@example.test", "lee@example.test"):
        login(client, email)
        for path in ("/admin/users/", "/admin/tokens/", "/admin/jobs/"):
            assert client.get(path).status_code == 403
        response = post_form(client, "/admin/users/", {"email": "x@example.test", "role": "admin"})
        assert response.status_code == 403


def test_admin_creates_a_user_with_inline_validation(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="root@example.test", role="admin")
    login(client, "root@example.test")
    # Invalid: 422 and the form fragment names the field
    bad = post_form(
        client, "/admin/users/", {"email": "not-an-email", "role": "annotator"}, htmx=True
    )
    assert bad.status_code == 422
    assert 'id="user-form"' in bad.text and "not an email address" in bad.text
    assert "<html" not in bad.text
    # Valid: 201, the password shown once, and an event so the table refreshes
    good = post_form(
        client,
        "/admin/users/",
        {"email": "new@example.test", "name": "New", "role": "lead"},
        htmx=True,
    )
    assert good.status_code == 201
    assert good.headers["HX-Trigger"] == "users-changed"
    assert "shown only this once" in good.text
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        created = s.scalar(select(User).where(User.email == "new@example.test"))
        assert created is not None and created.role == "lead"


def test_disabling_a_user_ends_their_session_at_once(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    from litestar.testing import TestClient as Client

    admin = commit_user(app, email="root@example.test", role="admin")
    victim = commit_user(app, email="ann@example.test")
    # A second browser on the same (already started) app
    other = Client(app=app, base_url="http://testserver.local")
    login(other, "ann@example.test")
    assert other.get("/").status_code == 200
    login(client, "root@example.test")
    response = post_form(client, f"/admin/users/{victim.id}/disable", htmx=True)
    assert response.status_code == 200 and "disabled" in response.text
    assert other.get("/", follow_redirects=False).status_code == 303
    assert admin.id != victim.id


def test_role_change_applies_immediately(app: Litestar, client: TestClient[Litestar]) -> None:
    commit_user(app, email="root@example.test", role="admin")
    lead = commit_user(app, email="lee@example.test", role="lead")
    login(client, "root@example.test")
    admin_cookie = client.cookies[SESSION_COOKIE]
    response = post_form(client, f"/admin/users/{lead.id}/role", {"role": "annotator"}, htmx=True)
    assert response.status_code == 200
    assert client.cookies[SESSION_COOKIE] == admin_cookie


def test_admin_issues_a_token_shown_once_and_revokes_it(
    app: Litestar, client: TestClient[Litestar], db: Session
) -> None:
    commit_user(app, email="root@example.test", role="admin")
    commit_user(app, email="lee@example.test", role="lead")
    login(client, "root@example.test")
    response = post_form(
        client,
        "/admin/tokens/",
        {"email": "lee@example.test", "name": "nightly", "scopes": ["export:read"]},
        htmx=True,
    )
    assert response.status_code == 201
    secret = response.text.split('<code class="secret">')[1].split("</code>")[0]
    assert secret.startswith("acc_")
    assert (
        client.get("/api/v1/projects/", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 403
    )  # export:read only
    listing = client.get("/admin/tokens/")
    assert secret not in listing.text
    token_id = db.scalar(select(ApiToken.id).where(ApiToken.name == "nightly"))
    assert post_form(client, f"/admin/tokens/{token_id}/revoke", htmx=True).status_code == 200
    revoked = client.get("/api/v1/projects/", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "token_revoked"


def test_admin_token_form_rejects_unknown_owner(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="root@example.test", role="admin")
    login(client, "root@example.test")
    response = post_form(
        client, "/admin/tokens/", {"email": "ghost@example.test", "name": "x"}, htmx=True
    )
    assert response.status_code == 422 and "no user with email" in response.text
