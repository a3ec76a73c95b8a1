"""Invites: who may invite whom, single use, expiry, revocation, and accepting them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import make_session_factory, session_scope
from app.db.models import AuditEvent, Invite, User
from app.domain.credentials import authenticate, digest
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from app.domain.invites import (
    accept_invite,
    claim_invite,
    create_invite,
    find_invite,
    list_invites,
    revoke_invite,
)
from app.domain.people import find_or_create_annotator
from app.domain.projects import add_member, can_reach
from app.domain.roster import pause_member
from tests.factories import DEFAULT_PASSWORD, make_project, make_user

NEW_PASSWORD = "a brand new passphrase"


def log_in(session: Session, email: str, password: str) -> User:
    return authenticate(
        session, email, password, client="t", max_failures=5, window=timedelta(minutes=5)
    )


def test_invite_then_accept_creates_an_active_member_with_a_login(session: Session) -> None:
    # Given a lead who invites a new person
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    invite, raw = create_invite(session, project, " New@Example.test ", actor=lead)
    assert invite.email == "new@example.test" and invite.role == "annotator"
    assert invite.token_hash == digest(raw) and raw not in invite.token_hash
    assert invite.expires_at - invite.created_at == timedelta(days=7)
    assert [row.status for row in list_invites(session, project)] == ["pending"]
    # When they accept with a name and a password
    user, joined = accept_invite(
        session, raw, name="Nia", password=NEW_PASSWORD, confirm=NEW_PASSWORD
    )
    # Then they exist, can log in, and are an active member
    assert joined.id == project.id and user.name == "Nia" and user.role == "annotator"
    assert log_in(session, "new@example.test", NEW_PASSWORD).id == user.id
    assert can_reach(session, user, project)
    (row,) = list_invites(session, project)
    assert row.status == "accepted" and row.invite.accepted_user_id == user.id
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"invite.created", "invite.accepted", "project.member_added"} <= actions


def test_an_invite_works_once(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    _, raw = create_invite(session, project, "once@example.test", actor=lead)
    accept_invite(session, raw, name="Once", password=NEW_PASSWORD)
    with pytest.raises(Conflict) as info:
        accept_invite(session, raw, name="Twice", password="another passphrase")
    assert info.value.code == "invite_used"


def test_expired_revoked_and_unknown_links_say_so(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    expired, raw_expired = create_invite(session, project, "late@example.test", actor=lead)
    expired.expires_at = utcnow() - timedelta(minutes=1)
    session.flush()
    revoked, raw_revoked = create_invite(session, project, "gone@example.test", actor=lead)
    revoke_invite(session, project, revoked.id, actor_id=lead.id)
    for raw, code in ((raw_expired, "invite_expired"), (raw_revoked, "invite_revoked")):
        with pytest.raises(Conflict) as info:
            accept_invite(session, raw, name="X", password=NEW_PASSWORD)
        assert info.value.code == code
    with pytest.raises(NotFound) as unknown:
        find_invite(session, "not-a-real-token")
    assert unknown.value.code == "invite_unknown" and "project" not in unknown.value.message
    statuses = {row.invite.email: row.status for row in list_invites(session, project)}
    assert statuses == {"late@example.test": "expired", "gone@example.test": "revoked"}
    assert session.scalar(select(User).where(User.email == "late@example.test")) is None


def test_a_new_invite_replaces_the_pending_one(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    _, first = create_invite(session, project, "ann@example.test", actor=lead)
    _, second = create_invite(session, project, "ann@example.test", actor=lead, valid_days=2)
    with pytest.raises(Conflict) as info:
        find_invite(session, first)
    assert info.value.code == "invite_revoked"
    assert find_invite(session, second).email == "ann@example.test"


def test_only_admins_invite_leads(session: Session) -> None:
    lead = make_user(session, role="lead")
    admin = make_user(session, role="admin")
    annotator = make_user(session)
    project = make_project(session, actor=lead)
    with pytest.raises(Forbidden, match="only admins"):
        create_invite(session, project, "boss@example.test", "lead", actor=lead)
    with pytest.raises(Forbidden):
        create_invite(session, project, "x@example.test", actor=annotator)
    _, raw = create_invite(session, project, "boss@example.test", "lead", actor=admin)
    user, _ = accept_invite(session, raw, name="Boss", password=NEW_PASSWORD)
    assert user.role == "lead"


def test_inviting_bad_input_or_an_active_member_is_refused(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    member = make_user(session, email="member@example.test")
    add_member(session, project, member, actor_id=lead.id)
    with pytest.raises(Conflict, match=r"member@example\.test is already an active member"):
        create_invite(session, project, "member@example.test", actor=lead)
    with pytest.raises(InvalidInput) as info:
        create_invite(session, project, "nope", "owner", actor=lead, valid_days=0)
    assert set(info.value.field_errors) == {"email", "role", "valid_days"}
    pause_member(session, project, member.id, actor_id=lead.id)
    with pytest.raises(Conflict, match="resume them"):
        create_invite(session, project, "member@example.test", actor=lead)


def test_an_imported_login_less_annotator_gets_a_password(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    imported = find_or_create_annotator(session, "vendor@example.test")
    assert imported.password_hash is None
    _, raw = create_invite(session, project, "vendor@example.test", actor=lead)
    user, _ = accept_invite(session, raw, name="", password=NEW_PASSWORD)
    assert user.id == imported.id and user.can_log_in
    assert log_in(session, "vendor@example.test", NEW_PASSWORD).id == imported.id


def test_an_existing_account_must_be_logged_in_to_accept(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    existing = make_user(session, email="old@example.test")
    stranger = make_user(session)
    _, raw = create_invite(session, project, "old@example.test", actor=lead)
    with pytest.raises(Unauthenticated) as info:
        accept_invite(session, raw, password="attacker's password")
    assert info.value.code == "login_first"
    with pytest.raises(Forbidden) as wrong:
        accept_invite(session, raw, current_user=stranger)
    assert wrong.value.code == "wrong_account"
    user, _ = accept_invite(session, raw, current_user=existing)
    assert user.id == existing.id and can_reach(session, existing, project)
    assert log_in(session, "old@example.test", DEFAULT_PASSWORD).id == existing.id


def test_accepting_checks_name_and_password(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    _, raw = create_invite(session, project, "new@example.test", actor=lead)
    with pytest.raises(InvalidInput) as info:
        accept_invite(session, raw, name="", password="short")
    assert set(info.value.field_errors) == {"name", "password"}
    with pytest.raises(InvalidInput) as mismatch:
        accept_invite(session, raw, name="N", password=NEW_PASSWORD, confirm="something else!")
    assert set(mismatch.value.field_errors) == {"confirm"}
    assert find_invite(session, raw).accepted_at is None  # still usable


def test_an_accepted_invite_cannot_be_revoked(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    other = make_project(session, actor=lead)
    invite, raw = create_invite(session, project, "new@example.test", actor=lead)
    with pytest.raises(NotFound):
        revoke_invite(session, other, invite.id, actor_id=lead.id)
    accept_invite(session, raw, name="N", password=NEW_PASSWORD)
    with pytest.raises(Conflict, match="already accepted"):
        revoke_invite(session, project, invite.id, actor_id=lead.id)
    assert session.scalars(select(Invite)).one().revoked_at is None


def test_two_accepts_racing_on_one_link_cannot_both_succeed(engine: Engine) -> None:
    # Given an invite that person A has opened (read before anyone accepted it)
    factory = make_session_factory(engine)
    with session_scope(factory, immediate=True) as setup:
        lead = make_user(setup, role="lead")
        project = make_project(setup, actor=lead)
        _, raw = create_invite(setup, project, "race@example.test", actor=lead)
    with session_scope(factory) as a:
        seen = find_invite(a, raw)
        a.expunge(seen)
    # When B accepts it and commits first
    with session_scope(factory, immediate=True) as b:
        accept_invite(b, raw, name="B", password=NEW_PASSWORD)
    # Then A's claim of what it saw as pending fails instead of accepting a second time
    with session_scope(factory, immediate=True) as a, pytest.raises(Conflict) as info:
        a.add(seen)
        claim_invite(a, seen, utcnow())
    assert info.value.code == "invite_used"
    with session_scope(factory) as check:
        assert check.scalars(select(Invite)).one().accepted_at is not None
