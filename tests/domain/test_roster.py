"""The roster: pausing, resuming, removing, quotas, releasing leases and workforce rules."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Annotation, AuditEvent, Membership, Notice
from app.domain.assignment import lease_next_assignment
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.people import disable_user
from app.domain.projects import add_member, can_reach
from app.domain.roster import (
    list_roster,
    parse_quota,
    pause_member,
    paused_memberships,
    release_leases,
    remove_member,
    resume_member,
    set_member_quota,
)
from app.domain.workforce_rules import WORKFORCE_RULES, set_workforce_rules, workforce_rules
from tests.domain.test_assignment import T0, add_items, lease, submit, team
from tests.factories import make_project, make_user


def test_pausing_releases_the_lease_so_someone_else_gets_the_item(session: Session) -> None:
    # Given one item that alice holds on a k=1 project
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead, overlap=1)
    (item,) = add_items(session, project, 1)
    alice, bob = team(session, project, 2)
    held = lease(session, project, alice)
    assert lease_next_assignment(session, project, bob, now=T0) is None
    # When the lead pauses alice
    membership = pause_member(session, project, alice.id, " sloppy on sarcasm ", actor_id=lead.id)
    # Then her lease is cancelled, she cannot reach the project, and bob gets the item
    session.refresh(held)
    assert held.state == "cancelled" and held.finished_at is not None
    assert membership.status == "paused" and membership.paused_reason == "sloppy on sarcasm"
    assert membership.paused_by_id == lead.id and membership.paused_at is not None
    assert not can_reach(session, alice, project)
    with pytest.raises(Conflict) as refused:
        lease_next_assignment(session, project, alice, now=T0)
    assert refused.value.code == "member_paused" and "sloppy on sarcasm" in refused.value.message
    assert lease(session, project, bob).item_id == item.id
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"project.member_paused", "assignment.cancelled"} <= actions
    assert [(p.id, m.paused_reason) for p, m in paused_memberships(session, alice)] == [
        (project.id, "sloppy on sarcasm")
    ]


def test_resuming_lets_them_back_in_and_resolves_their_notices(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead, overlap=1)
    add_items(session, project, 1)
    (alice,) = team(session, project, 1)
    pause_member(session, project, alice.id, "gold accuracy", actor_id=None)
    session.add(Notice(project_id=project.id, kind="gold_pause", user_id=alice.id, message="m"))
    session.flush()
    (row,) = [r for r in list_roster(session, project) if r.user.id == alice.id]
    assert row.paused_by_name == "automatically"
    membership = resume_member(session, project, alice.id, actor_id=lead.id)
    assert membership.status == "active" and membership.reinstated_at is not None
    assert membership.paused_at is None and membership.paused_reason == ""
    assert can_reach(session, alice, project)
    notice = session.scalars(select(Notice)).one()
    assert notice.resolved_at is not None and notice.resolved_by_id == lead.id
    assert lease(session, project, alice).state == "leased"
    assert paused_memberships(session, alice) == []


def test_removing_a_member_releases_leases_and_keeps_annotations(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead, overlap=1)
    add_items(session, project, 2)
    (alice,) = team(session, project, 1)
    submit(session, lease(session, project, alice), alice)
    held = lease(session, project, alice)
    remove_member(session, project, alice.id, actor_id=lead.id)
    session.refresh(held)
    assert held.state == "cancelled"
    assert not can_reach(session, alice, project)
    assert session.scalar(select(func.count()).select_from(Annotation)) == 1
    assert alice.id not in {r.user.id for r in list_roster(session, project)}
    with pytest.raises(NotFound):
        remove_member(session, project, alice.id, actor_id=lead.id)


def test_leads_cannot_pause_or_remove_themselves(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    with pytest.raises(Conflict, match="yourself"):
        pause_member(session, project, lead.id, actor_id=lead.id)
    with pytest.raises(Conflict, match="yourself"):
        remove_member(session, project, lead.id, actor_id=lead.id)
    status = session.scalar(select(Membership.status).where(Membership.user_id == lead.id))
    assert status == "active"


def test_member_quota_is_set_cleared_and_validated(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    (alice,) = team(session, project, 1)
    assert set_member_quota(session, project, alice.id, 40, actor_id=lead.id).daily_quota == 40
    assert set_member_quota(session, project, alice.id, None, actor_id=lead.id).daily_quota is None
    with pytest.raises(InvalidInput) as info:
        set_member_quota(session, project, alice.id, 0, actor_id=lead.id)
    assert "daily_quota" in info.value.field_errors
    assert parse_quota(" 12 ") == 12 and parse_quota("") is None
    with pytest.raises(InvalidInput):
        parse_quota("lots")


def test_release_leases_is_per_project_or_everywhere(session: Session) -> None:
    lead = make_user(session, role="lead")
    one = make_project(session, actor=lead, overlap=1)
    two = make_project(session, actor=lead, overlap=1)
    add_items(session, one, 1)
    add_items(session, two, 1)
    alice = make_user(session)
    for project in (one, two):
        add_member(session, project, alice, actor_id=lead.id)
    first, second = lease(session, one, alice), lease(session, two, alice)
    assert release_leases(session, alice.id, one.id, actor_id=lead.id) == 1
    session.refresh(second)
    assert second.state == "leased"
    assert release_leases(session, alice.id, actor_id=lead.id) == 1
    session.refresh(first)
    session.refresh(second)
    assert (first.state, second.state) == ("cancelled", "cancelled")
    assert release_leases(session, alice.id, actor_id=lead.id) == 0


def test_disabling_a_person_releases_their_leases_everywhere(session: Session) -> None:
    admin = make_user(session, role="admin")
    project = make_project(session, overlap=1)
    (item,) = add_items(session, project, 1)
    alice, bob = team(session, project, 2)
    held = lease(session, project, alice)
    disable_user(session, alice.id, actor_id=admin.id)
    session.refresh(held)
    assert held.state == "cancelled"
    assert lease(session, project, bob).item_id == item.id


def test_workforce_rules_are_validated_naming_each_bad_field(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    before = workforce_rules(project)
    with pytest.raises(InvalidInput) as info:
        set_workforce_rules(
            session,
            project,
            actor_id=lead.id,
            qualification_pass=0,
            gold_share="1.5",
            qualification_size="3.5",
            max_share="",
            daily_quota=0,
            requires_qualification="maybe",
            bogus=1,
        )
    assert set(info.value.field_errors) == {
        "qualification_pass",
        "gold_share",
        "qualification_size",
        "daily_quota",
        "requires_qualification",
        "bogus",
    }
    assert "above 0" in info.value.field_errors["qualification_pass"]
    assert workforce_rules(project) == before  # nothing changed


def test_workforce_rules_are_saved_from_form_strings_or_json(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    set_workforce_rules(
        session,
        project,
        actor_id=lead.id,
        requires_qualification="on",
        qualification_pass="0.9",
        qualification_size="12",
        gold_share=0.1,
        daily_quota="",
        max_items_per_annotator=500,
        max_share="0.25",
    )
    rules = workforce_rules(project)
    assert rules["requires_qualification"] is True and rules["qualification_pass"] == 0.9
    assert rules["qualification_size"] == 12 and rules["gold_share"] == 0.1
    assert rules["daily_quota"] is None and rules["max_items_per_annotator"] == 500
    assert rules["max_share"] == 0.25
    session.expire(project)
    assert workforce_rules(project) == rules  # the database took them (CheckConstraints agree)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "project.workforce_rules_set")
    ).one()
    assert event.details["changes"]["qualification_size"] == {"old": 10, "new": 12}
    assert {r.name for r in WORKFORCE_RULES} == set(rules)
