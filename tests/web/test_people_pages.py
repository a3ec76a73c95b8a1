"""The people page (members, invites, workforce rules) and the public invite pages."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_session_factory, session_scope
from app.db.models import Assignment, Membership, Project
from app.domain.assignment import lease_next_assignment
from app.domain.invites import create_invite
from app.domain.people import find_or_create_annotator, get_user_by_email
from app.domain.projects import add_member, get_project
from app.web.auth import SESSION_COOKIE
from tests.apps import commit_user, login, post_form
from tests.domain.test_assignment import add_items
from tests.factories import make_project

SLUG = "reviews"
PEOPLE = f"/projects/{SLUG}/people"
PASSWORD = "a brand new passphrase"


def given_a_project(app: Litestar) -> dict[str, Any]:
    """Project ``reviews`` (k=1, two items) led by lee@ with annotator ann@ on it."""
    lee = commit_user(app, email="lee@example.test", role="lead", name="Lee Lead")
    ann = commit_user(app, email="ann@example.test", name="Ann")
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        project = make_project(s, actor=s.merge(lee), slug=SLUG, name="Reviews", overlap=1)
        add_items(s, project, 2)
        add_member(s, project, s.merge(ann), actor_id=lee.id)
    return {"lee": lee, "ann": ann}


def browser(app: Litestar) -> TestClient[Litestar]:
    """A second browser on the same (already started) app."""
    return TestClient(app=app, base_url="http://testserver.local")


def invite(s: Session, people: dict[str, Any], email: str) -> str:
    """An invite to ``reviews`` from lee@; returns the raw token."""
    _, raw = create_invite(s, get_project(s, SLUG), email, actor=s.merge(people["lee"]))
    return raw


def invite_link(html: str) -> str:
    match = re.search(r'id="invite-link" type="text" readonly value="([^"]+)"', html)
    assert match, html
    return match.group(1).removeprefix("http://testserver.local")


def test_a_lead_invites_and_the_person_joins_logged_in(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    # Given a lead on the people page
    given_a_project(app)
    login(client, "lee@example.test")
    page = client.get(f"{PEOPLE}/")
    assert page.status_code == 200 and "Invite someone" in page.text
    assert '<option value="lead"' not in page.text  # leads invite annotators only
    # When they create an invite (htmx), the link is shown once and the list refreshes
    created = post_form(client, f"{PEOPLE}/invites", {"email": "nia@example.test"}, htmx=True)
    assert created.status_code == 201
    assert created.headers["HX-Trigger"] == "invites-changed"
    assert "shown only this once" in created.text and "<html" not in created.text
    url = invite_link(created.text)
    invites = client.get(f"{PEOPLE}/invites")
    assert "nia@example.test" in invites.text and "pending" in invites.text
    assert url.split("/")[-1] not in client.get(f"{PEOPLE}/").text  # never shown again
    # Then the invitee opens the link without an account
    nia = browser(app)
    opened = nia.get(url)
    assert opened.status_code == 200
    assert "Join Reviews" in opened.text and "nia@example.test" in opened.text
    mismatch = post_form(
        nia, url, {"name": "Nia", "password": PASSWORD, "confirm": "something else!"}
    )
    assert mismatch.status_code == 422 and "does not match the password" in mismatch.text
    accepted = post_form(nia, url, {"name": "Nia", "password": PASSWORD, "confirm": PASSWORD})
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/projects/{SLUG}"
    assert SESSION_COOKIE in nia.cookies
    project_page = nia.get(f"/projects/{SLUG}", follow_redirects=False)
    assert project_page.status_code == 200 and "Start labeling" in project_page.text
    assert "Nia" in project_page.text  # logged in as the new person
    # And the link is used up
    again = browser(app)
    used = again.get(url)
    assert used.status_code == 409 and "already used" in used.text
    reused = post_form(again, url, {"name": "X", "password": PASSWORD, "confirm": PASSWORD})
    assert reused.status_code == 409
    assert "accepted" in client.get(f"{PEOPLE}/invites").text


def test_invite_form_errors_are_inline(app: Litestar, client: TestClient[Litestar]) -> None:
    given_a_project(app)
    login(client, "lee@example.test")
    bad = post_form(client, f"{PEOPLE}/invites", {"email": "nope", "valid_days": "0"}, htmx=True)
    assert bad.status_code == 422 and 'id="invite-form"' in bad.text
    assert "not an email address" in bad.text and "between 1 and 90" in bad.text
    member = post_form(client, f"{PEOPLE}/invites", {"email": "ann@example.test"}, htmx=True)
    assert member.status_code == 422
    assert "ann@example.test is already an active member of Reviews" in member.text
    lead = post_form(client, f"{PEOPLE}/invites", {"email": "x@example.test", "role": "lead"})
    assert lead.status_code == 403 and "only admins may invite leads" in lead.text


def test_admins_may_pick_lead_in_the_invite_form(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_a_project(app)
    commit_user(app, email="root@example.test", role="admin")
    login(client, "root@example.test")
    assert '<option value="lead"' in client.get(f"{PEOPLE}/").text
    created = post_form(client, f"{PEOPLE}/invites", {"email": "boss@example.test", "role": "lead"})
    assert created.status_code == 201 and "as lead" in created.text


def test_unknown_expired_and_revoked_links_say_so_plainly(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    people = given_a_project(app)
    unknown = client.get("/invites/not-a-real-token")
    assert unknown.status_code == 404
    assert "not valid" in unknown.text and "Reviews" not in unknown.text
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        project, lee = get_project(s, SLUG), s.merge(people["lee"])
        late, raw_late = create_invite(s, project, "late@example.test", actor=lee)
        late.expires_at = late.created_at
        _, raw_revoked = create_invite(s, project, "gone@example.test", actor=lee)
    expired = client.get(f"/invites/{raw_late}")
    assert expired.status_code == 409 and "expired" in expired.text
    login(client, "lee@example.test")
    listing = client.get(f"{PEOPLE}/invites").text
    invite_id = re.search(r'id="invite-(\d+)">\s*<th scope="row">gone@', listing)
    assert invite_id, listing
    revoked = post_form(client, f"{PEOPLE}/invites/{invite_id.group(1)}/revoke", htmx=True)
    assert revoked.status_code == 200 and 'id="invites"' in revoked.text
    assert "revoked" in revoked.text and "expired" in revoked.text
    stranger = browser(app)
    gone = stranger.get(f"/invites/{raw_revoked}")
    assert gone.status_code == 409 and "withdrawn" in gone.text


def test_an_imported_annotator_sets_a_password_through_the_invite(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    people = given_a_project(app)
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        find_or_create_annotator(s, "vendor@example.test")
        raw = invite(s, people, "vendor@example.test")
    opened = client.get(f"/invites/{raw}")
    assert opened.status_code == 200 and "Choose a password" in opened.text
    accepted = post_form(client, f"/invites/{raw}", {"password": PASSWORD, "confirm": PASSWORD})
    assert accepted.status_code == 303
    other = browser(app)
    assert login(other, "vendor@example.test", PASSWORD).status_code == 303
    assert other.get(f"/projects/{SLUG}").status_code == 200


def test_an_existing_account_logs_in_first_then_joins(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    people = given_a_project(app)
    commit_user(app, email="old@example.test", name="Olga")
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        raw = invite(s, people, "old@example.test")
    url = f"/invites/{raw}"
    opened = client.get(url)
    assert "already exists" in opened.text and "Choose a password" not in opened.text
    forced = post_form(client, url, {"name": "Mallory", "password": PASSWORD, "confirm": PASSWORD})
    assert forced.status_code == 401 and "log in first" in forced.text
    login(client, "old@example.test")
    page = client.get(url)
    assert page.status_code == 200 and "Join Reviews</button>" in page.text
    joined = post_form(client, url)
    assert joined.status_code == 303
    assert client.get(f"/projects/{SLUG}").status_code == 200


def test_the_invite_form_needs_its_csrf_token(app: Litestar, client: TestClient[Litestar]) -> None:
    people = given_a_project(app)
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        raw = invite(s, people, "nia@example.test")
    form = {"name": "Nia", "password": PASSWORD, "confirm": PASSWORD}
    refused = client.post(f"/invites/{raw}", data=form, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get(f"/invites/{raw}").status_code == 200  # still unused


def test_pausing_releases_the_lease_and_the_annotator_sees_why(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    people = given_a_project(app)
    ann_id = people["ann"].id
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        project = get_project(s, SLUG)
        lease = lease_next_assignment(s, project, get_user_by_email(s, "ann@example.test"))
        assert lease is not None
    ann = browser(app)
    login(ann, "ann@example.test")
    assert ann.get(f"/projects/{SLUG}").status_code == 200
    # When the lead pauses ann with a reason (a plain form: redirect after post)
    login(client, "lee@example.test")
    paused = post_form(client, f"{PEOPLE}/members/{ann_id}/pause", {"reason": "Re-read sarcasm"})
    assert paused.status_code == 303 and paused.headers["location"] == f"{PEOPLE}/"
    page = client.get(f"{PEOPLE}/").text
    assert "paused" in page and "Re-read sarcasm" in page and "by Lee Lead" in page
    # Then her lease is released, the project is gone for her, and home says why
    with session_scope(make_session_factory(app.state.engine)) as s:
        assert s.scalars(select(Assignment.state)).one() == "cancelled"
    assert ann.get(f"/projects/{SLUG}").status_code == 404
    assert "Paused on Reviews: Re-read sarcasm. Ask your lead." in ann.get("/").text
    # When resumed (htmx), the members region comes back and she can work again
    resumed = post_form(client, f"{PEOPLE}/members/{ann_id}/resume", htmx=True)
    assert resumed.status_code == 200 and 'id="members"' in resumed.text
    assert "<html" not in resumed.text and "Re-read sarcasm" not in resumed.text
    assert ann.get(f"/projects/{SLUG}").status_code == 200
    assert "Paused on" not in ann.get("/").text


def test_removing_needs_a_confirmation_and_keeps_nothing_of_access(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    people = given_a_project(app)
    login(client, "lee@example.test")
    page = client.get(f"{PEOPLE}/").text
    assert "Yes, remove Ann" in page and "<details>" in page
    assert f'action="{PEOPLE}/members/{people["lee"].id}/remove"' not in page  # not yourself
    removed = post_form(client, f"{PEOPLE}/members/{people['ann'].id}/remove", htmx=True)
    assert removed.status_code == 200 and "ann@example.test" not in removed.text
    with session_scope(make_session_factory(app.state.engine)) as s:
        assert s.scalar(select(Membership).where(Membership.user_id == people["ann"].id)) is None


def test_daily_quota_is_set_with_inline_errors(app: Litestar, client: TestClient[Litestar]) -> None:
    people = given_a_project(app)
    login(client, "lee@example.test")
    url = f"{PEOPLE}/members/{people['ann'].id}/quota"
    bad = post_form(client, url, {"daily_quota": "0"}, htmx=True)
    assert bad.status_code == 422 and 'id="members"' in bad.text
    assert "a whole number from 1" in bad.text and 'aria-invalid="true"' in bad.text
    ok = post_form(client, url, {"daily_quota": "30"}, htmx=True)
    assert ok.status_code == 200 and 'value="30"' in ok.text
    cleared = post_form(client, url, {"daily_quota": ""})
    assert cleared.status_code == 303
    with session_scope(make_session_factory(app.state.engine)) as s:
        quota = s.scalar(
            select(Membership.daily_quota).where(Membership.user_id == people["ann"].id)
        )
    assert quota is None


def test_workforce_rules_form_names_bad_fields_and_saves_good_ones(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_a_project(app)
    login(client, "lee@example.test")
    page = client.get(f"{PEOPLE}/").text
    assert "Require qualification" in page and "Gold accuracy bar" in page
    form = {
        "qualification_pass": "0.8",
        "qualification_size": "10",
        "qualification_cooldown_minutes": "60",
        "gold_share": "1.5",
        "gold_accuracy_bar": "0.7",
        "gold_min_checks": "5",
        "daily_quota": "",
        "max_items_per_annotator": "",
        "max_share": "0",
    }
    bad = post_form(client, f"{PEOPLE}/rules", form, htmx=True)
    assert bad.status_code == 422 and "Nothing was saved" in bad.text
    assert 'id="f-gold_share-error"' in bad.text and 'id="f-max_share-error"' in bad.text
    assert 'id="f-gold_min_checks-error"' not in bad.text
    good = dict(form, gold_share="0.1", max_share="0.5", requires_qualification="on")
    saved = post_form(client, f"{PEOPLE}/rules", good, htmx=True)
    assert saved.status_code == 200 and "Workforce rules saved" in saved.text
    with session_scope(make_session_factory(app.state.engine)) as s:
        project = s.scalars(select(Project).where(Project.slug == SLUG)).one()
        assert (project.gold_share, project.max_share) == (0.1, 0.5)
        assert project.requires_qualification is True
    plain = post_form(client, f"{PEOPLE}/rules", form | {"gold_share": "0.2", "max_share": ""})
    assert plain.status_code == 303


def test_only_the_projects_leads_reach_the_people_page(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    people = given_a_project(app)
    commit_user(app, email="other@example.test", role="lead")
    login(client, "ann@example.test")
    assert client.get(f"{PEOPLE}/").status_code == 403
    assert post_form(client, f"{PEOPLE}/members/{people['lee'].id}/pause").status_code == 403
    assert "/people/" not in client.get(f"/projects/{SLUG}").text
    other = browser(app)
    login(other, "other@example.test")
    assert other.get(f"{PEOPLE}/").status_code == 404
    assert post_form(other, f"{PEOPLE}/members/{people['ann'].id}/remove").status_code == 404
    lead = browser(app)
    login(lead, "lee@example.test")
    assert f'href="{PEOPLE}/"' in lead.get(f"/projects/{SLUG}").text
