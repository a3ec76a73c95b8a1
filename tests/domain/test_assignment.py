"""The assignment engine's rules, one by one, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import itertools
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import (
    Annotation,
    AnnotationTag,
    Assignment,
    AuditEvent,
    Item,
    ItemTag,
    Job,
    Project,
    SpecLabel,
    SpecRule,
    SpecVersion,
    Tag,
    User,
)
from app.domain import assignment as assignment_module
from app.domain.acknowledgements import acknowledge_spec, pending_acknowledgement
from app.domain.annotations import MAX_DURATION_MS, submit_assignment
from app.domain.assignment import (
    expire_leases,
    lease_next_assignment,
    release_assignment,
    skip_assignment,
)
from app.domain.candidates import AGING_SECONDS_PER_POINT, MAX_WALKS
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.domain.leases import add_lease
from app.domain.projects import CURRENT_SPECS, add_member, current_spec
from app.domain.specs import create_draft, publish_spec
from app.domain.task_view import describe_task
from tests.factories import make_project, make_user

_ids = itertools.count(1)
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=utcnow().tzinfo)


def add_items(
    session: Session,
    project: Project,
    n: int,
    *,
    priority: int = 0,
    created_at: datetime | None = None,
    tags: tuple[str, ...] = (),
) -> list[Item]:
    """``n`` items (created one second apart from ``created_at``), optionally tagged."""
    start = created_at or T0 - timedelta(days=1)
    items = []
    for i in range(n):
        text = f"item text {next(_ids)}"
        items.append(
            Item(
                project_id=project.id,
                external_id=f"ext-{next(_ids)}",
                text=text,
                text_hash=hashlib.sha256(text.encode()).hexdigest(),
                priority=priority,
                created_at=start + timedelta(seconds=i),
                metadata_={"n": i},
            )
        )
    session.add_all(items)
    session.flush()
    for name in tags:
        tag = session.scalar(select(Tag).where(Tag.project_id == project.id, Tag.name == name))
        if tag is None:
            tag = Tag(project_id=project.id, name=name)
            session.add(tag)
            session.flush()
        session.add_all(ItemTag(item_id=item.id, tag_id=tag.id) for item in items)
    session.flush()
    return items


def team(session: Session, project: Project, n: int) -> list[User]:
    """``n`` annotators who are members of the project."""
    people = [make_user(session) for _ in range(n)]
    for person in people:
        add_member(session, project, person, actor_id=None)
    return people


def publish_next_version(session: Session, project: Project) -> SpecVersion:
    """Publish a copy of the current spec as the next version (what a lead's publish does)."""
    old = current_spec(session, project)
    new = SpecVersion(
        project_id=project.id,
        number=old.number + 1,
        status="draft",
        guidelines=old.guidelines + "\nChanged.",
        based_on_number=old.number,
    )
    new.labels = [SpecLabel(key=lb.key, name=lb.name, position=lb.position) for lb in old.labels]
    new.rules = [SpecRule(tag_id=r.tag_id, text=r.text + " Changed.") for r in old.rules]
    session.add(new)
    session.flush()
    old.is_current = False
    session.flush()
    new.status, new.is_current, new.published_at = "published", True, utcnow()
    session.flush()
    session.info.pop(CURRENT_SPECS, None)  # as publish_spec does
    return new


def lease(session: Session, project: Project, user: User, now: datetime = T0) -> Assignment:
    assignment = lease_next_assignment(session, project, user, now=now)
    assert assignment is not None
    return assignment


def submit(session: Session, a: Assignment, user: User, now: datetime = T0, **kw: Any) -> Any:
    return submit_assignment(session, a.id, user, value=kw.pop("value", "positive"), now=now, **kw)


def serving_order(
    session: Session, project: Project, user: User, n: int, now: datetime
) -> list[int]:
    """The items ``user`` is given, lease after lease, labeling each one: ``n`` item ids."""
    order = []
    for _ in range(n):
        a = lease(session, project, user, now)
        order.append(a.item_id)
        submit(session, a, user, now)
    return order


def test_k_annotators_share_an_item_in_distinct_slots_then_the_next_item(
    session: Session,
) -> None:
    project = make_project(session, overlap=3)
    first, second = add_items(session, project, 2)
    people = team(session, project, 4)
    leases = [lease(session, project, person) for person in people]
    assert [a.item_id for a in leases] == [first.id] * 3 + [second.id]
    assert [a.slot for a in leases] == [1, 2, 3, 1]
    assert all(a.state == "leased" and a.kind == "label" for a in leases)
    assert leases[0].lease_expires_at == T0 + timedelta(seconds=project.lease_seconds)


def test_a_lease_insert_refused_by_the_unique_slot_moves_on_and_records_nothing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an item whose slot 1 is held, and a claim whose slot count missed that (a race the
    # partial unique index is the last line of defence against)
    project = make_project(session, overlap=2)
    first, second = add_items(session, project, 2)
    holder, claimer = team(session, project, 2)
    assert lease(session, project, holder).slot == 1
    tried: list[int] = []

    def stale_slot(*args: Any, **kwargs: Any) -> Assignment:
        tried.append(args[4])
        if len(tried) == 1:
            kwargs["slot"] = 1  # what a claimer that counted before the holder's insert picks
        return add_lease(*args, **kwargs)

    monkeypatch.setattr(assignment_module, "add_lease", stale_slot)
    # When the claimer asks for work, the refused insert undoes itself and the claim moves on
    taken = lease(session, project, claimer)
    session.commit()
    assert tried[0] == first.id and len(tried) == 2
    assert (taken.item_id, taken.slot) in {(first.id, 2), (second.id, 1)}
    # And the item has exactly the two active assignments, one lease audited per person
    active = session.scalars(
        select(Assignment).where(Assignment.project_id == project.id, Assignment.state == "leased")
    ).all()
    assert sorted((a.user_id, a.item_id, a.slot) for a in active) == sorted(
        [(holder.id, first.id, 1), (claimer.id, taken.item_id, taken.slot)]
    )
    leased = session.scalar(
        select(func.count()).where(
            AuditEvent.project_id == project.id, AuditEvent.action == "assignment.leased"
        )
    )
    assert leased == 2


def test_never_the_same_person_twice_on_an_item(session: Session) -> None:
    project = make_project(session, overlap=3)
    _first, second = add_items(session, project, 2)
    (ann,) = team(session, project, 1)
    submit(session, lease(session, project, ann), ann)
    assert lease(session, project, ann).item_id == second.id
    submit(session, lease(session, project, ann), ann)
    assert lease_next_assignment(session, project, ann, now=T0) is None


def test_asking_again_returns_the_same_live_lease(session: Session) -> None:
    project = make_project(session)
    add_items(session, project, 3)
    (ann,) = team(session, project, 1)
    a = lease(session, project, ann)
    assert lease(session, project, ann, T0 + timedelta(seconds=10)).id == a.id
    assert session.scalar(select(func.count()).select_from(Assignment)) == 1


def test_a_skipped_item_goes_to_someone_else_and_never_back(session: Session) -> None:
    project = make_project(session, overlap=1)
    first, second = add_items(session, project, 2)
    alice, bob = team(session, project, 2)
    skipped = skip_assignment(
        session, lease(session, project, alice).id, alice, reason=" unreadable ", now=T0
    )
    assert (skipped.state, skipped.skip_reason) == ("skipped", "unreadable")
    assert lease(session, project, alice).item_id == second.id
    assert lease(session, project, bob).item_id == first.id
    with pytest.raises(Conflict) as info:
        submit(session, skipped, alice)
    assert info.value.code == "lease_expired"


def test_an_expired_lease_returns_the_item_to_the_queue(session: Session) -> None:
    project = make_project(session, overlap=1)
    (item,) = add_items(session, project, 1)
    alice, bob = team(session, project, 2)
    held = lease(session, project, alice)
    later = T0 + timedelta(seconds=project.lease_seconds)
    taken = lease(session, project, bob, later)
    assert taken.item_id == item.id and taken.slot == 1
    session.refresh(held)
    assert held.state == "expired"
    with pytest.raises(Conflict) as info:
        submit(session, held, alice, later)
    assert info.value.code == "lease_expired"
    assert session.scalar(select(func.count()).select_from(Annotation)) == 0


def test_expire_leases_frees_slots_and_says_how_many(session: Session) -> None:
    project = make_project(session, overlap=2)
    add_items(session, project, 1)
    people = team(session, project, 3)
    for person in people[:2]:
        lease(session, project, person)
    assert lease_next_assignment(session, project, people[2], now=T0) is None
    assert expire_leases(session, project, now=T0 + timedelta(seconds=10)) == 0
    assert expire_leases(session, now=T0 + timedelta(hours=1)) == 2
    assert lease(session, project, people[2], T0 + timedelta(hours=1)).slot == 1


def test_a_released_item_may_come_back_to_the_same_person(session: Session) -> None:
    project = make_project(session, overlap=1)
    (item,) = add_items(session, project, 1)
    (ann,) = team(session, project, 1)
    released = release_assignment(session, lease(session, project, ann).id, ann, now=T0)
    assert released.state == "cancelled"
    assert lease(session, project, ann).item_id == item.id


def test_priority_first_then_oldest_with_aging(session: Session) -> None:
    # Given label items waiting 30 h and 10 h, and re-label items (priority 200 = 20 h of
    # waiting) created now
    project = make_project(session, overlap=1)
    now = T0
    relabel = add_items(session, project, 2, priority=200, created_at=now)
    old = add_items(session, project, 1, created_at=now - timedelta(hours=30))
    recent = add_items(session, project, 1, created_at=now - timedelta(hours=10))
    assert 200 * AGING_SECONDS_PER_POINT == 20 * 3600
    (ann,) = team(session, project, 1)
    order = serving_order(session, project, ann, 4, now)
    # Then the item that waited longer than the priority is worth comes first, the re-label
    # items beat the one that waited less, and among equals the oldest goes first
    assert order == [old[0].id, relabel[0].id, relabel[1].id, recent[0].id]


def test_a_lowered_priority_waits_its_points_behind_plain_items(session: Session) -> None:
    # Given a plain item created now, one created 10 h ago, and an item lowered by 50 points
    # (5 h of waiting) created 10 h ago, in a project with raised (re-label) work as well
    project = make_project(session, overlap=1)
    now = T0
    fresh = add_items(session, project, 1, created_at=now)
    lowered = add_items(session, project, 1, priority=-50, created_at=now - timedelta(hours=10))
    waited = add_items(session, project, 1, created_at=now - timedelta(hours=10))
    relabel = add_items(session, project, 1, priority=200, created_at=now)
    (ann,) = team(session, project, 1)
    order = serving_order(session, project, ann, 4, now)
    # Then the lowered item counts as 5 h old: after the re-label (20 h) and the plain item
    # that waited 10 h, before the one created now
    assert order == [relabel[0].id, waited[0].id, lowered[0].id, fresh[0].id]


def test_any_number_of_priorities_is_served_by_the_aging_key(session: Session) -> None:
    # Given items under more distinct priorities than are walked one by one, two per priority,
    # created at scattered times
    assert MAX_WALKS < 12
    project = make_project(session, overlap=1)
    rng = random.Random(7)
    items = [
        item
        for priority in (-40, -5, 0, 3, 10, 25, 60, 100, 150, 200, 240, 300)
        for item in add_items(
            session,
            project,
            2,
            priority=priority,
            created_at=T0 - timedelta(minutes=rng.randrange(0, 48 * 60)),
        )
    ]
    (ann,) = team(session, project, 1)
    order = serving_order(session, project, ann, len(items), T0)
    # Then they come in the order of the aging key, oldest effective age first
    by_key = sorted(
        items, key=lambda i: (i.created_at.timestamp() - i.priority * AGING_SECONDS_PER_POINT, i.id)
    )
    assert order == [item.id for item in by_key]


def test_people_outside_the_project_may_not_take_work(session: Session) -> None:
    project = make_project(session)
    add_items(session, project, 1)
    outsider = make_user(session)
    with pytest.raises(Forbidden):
        lease_next_assignment(session, project, outsider, now=T0)
    admin = make_user(session, role="admin")
    assert lease(session, project, admin).slot == 1


def test_submitting_records_value_tags_and_flags(session: Session) -> None:
    project = make_project(session)
    (item,) = add_items(session, project, 1)
    (ann,) = team(session, project, 1)
    a = lease(session, project, ann)
    annotation = submit(
        session,
        a,
        ann,
        value="negative",
        tags=["sarcasm", "sarcasm"],
        unclear=True,
        comment="  the rule does not say  ",
        duration_ms=10 * MAX_DURATION_MS,
        source="browser",
    )
    assert (annotation.value, annotation.unclear, annotation.comment) == (
        "negative",
        True,
        "the rule does not say",
    )
    assert annotation.duration_ms == MAX_DURATION_MS
    assert annotation.spec_version_id == a.spec_version_id and annotation.assignment_id == a.id
    assert (a.state, a.finished_at) == ("submitted", T0)
    assert session.scalar(select(func.count()).select_from(AnnotationTag)) == 1
    item_tag = session.scalars(select(ItemTag).where(ItemTag.item_id == item.id)).one()
    assert (item_tag.source, item_tag.added_by_id) == ("annotator", ann.id)
    view = describe_task(session, a)
    assert view.tags == ["sarcasm"] and view.rules[0][0] == "sarcasm"


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"value": "maybe"}, "value"),
        ({"tags": ["no-such-tag"]}, "tags"),
        ({"duration_ms": -1}, "duration_ms"),
        ({"comment": "x" * 2001}, "comment"),
    ],
)
def test_invalid_submissions_record_nothing(
    session: Session, fields: dict[str, Any], bad_field: str
) -> None:
    project = make_project(session)
    add_items(session, project, 1)
    (ann,) = team(session, project, 1)
    a = lease(session, project, ann)
    with pytest.raises(InvalidInput) as info:
        submit(session, a, ann, **fields)
    assert bad_field in info.value.field_errors
    assert a.state == "leased"
    assert session.scalar(select(func.count()).select_from(Annotation)) == 0
    submit(session, a, ann)  # the lease is still good for a valid value


def test_someone_elses_task_does_not_exist_and_a_task_is_submitted_once(
    session: Session,
) -> None:
    project = make_project(session)
    add_items(session, project, 1)
    alice, bob = team(session, project, 2)
    a = lease(session, project, alice)
    for action in (
        lambda: submit(session, a, bob),
        lambda: skip_assignment(session, a.id, bob, now=T0),
        lambda: submit_assignment(session, 10**9, alice, value="positive", now=T0),
    ):
        with pytest.raises(NotFound):
            action()
    submit(session, a, alice)
    with pytest.raises(Conflict) as info:
        submit(session, a, alice)
    assert info.value.code == "lease_expired"
    assert session.scalar(select(func.count()).select_from(Annotation)) == 1


def test_every_change_is_audited_per_item_and_recounts_are_debounced(session: Session) -> None:
    project = make_project(session, overlap=1)
    (item,) = add_items(session, project, 1)
    alice, bob, carol = team(session, project, 3)
    skip_assignment(session, lease(session, project, alice).id, alice, now=T0)
    lease(session, project, bob)
    later = T0 + timedelta(hours=1)
    submit(session, lease(session, project, carol, later), carol, later)
    actions = session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.item_id == item.id, AuditEvent.project_id == project.id)
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [
        "assignment.leased",
        "assignment.skipped",
        "assignment.leased",
        "assignment.expired",
        "assignment.leased",
        "assignment.submitted",
    ]
    jobs = session.scalars(select(Job).where(Job.kind == "recount_project")).all()
    assert [(j.payload, j.dedupe_key) for j in jobs] == [
        ({"project_id": project.id}, f"recount_project:{project.id}")
    ]


def test_a_new_spec_version_must_be_acknowledged_by_people_who_worked_before(
    session: Session,
) -> None:
    # Given Alice labeled under v1 and Bob never worked on the project
    project = make_project(session, overlap=3)
    add_items(session, project, 2)
    alice, bob = team(session, project, 2)
    submit(session, lease(session, project, alice), alice)
    held = lease(session, project, alice)
    # When v2 is published
    publish_next_version(session, project)
    # Then Alice must acknowledge v2 first, Bob starts right away under v2
    with pytest.raises(Conflict) as info:
        lease_next_assignment(session, project, alice, now=T0)
    assert (info.value.code, info.value.details) == (
        "spec_acknowledgement_required",
        {"spec_version": 2},
    )
    assert pending_acknowledgement(session, project, bob) is None
    assert lease(session, project, bob).spec_version_id == current_spec(session, project).id
    with pytest.raises(Conflict) as stale:
        acknowledge_spec(session, project, 1, alice)
    assert stale.value.code == "spec_not_current"
    with pytest.raises(NotFound):
        acknowledge_spec(session, project, 7, alice)
    _, created = acknowledge_spec(session, project, 2, alice)
    _, again = acknowledge_spec(session, project, 2, alice)
    assert (created, again) == (True, False)
    # And her v1 lease is cancelled; she relabels under v2, even the item she did under v1
    fresh = lease(session, project, alice)
    assert fresh.spec_version_id != held.spec_version_id
    session.refresh(held)
    assert held.state == "cancelled"


def test_the_full_hint_follows_the_slots(session: Session) -> None:
    # Given an item with k=2
    project = make_project(session, overlap=2)
    (item,) = add_items(session, project, 1)
    ann, bob, cid = team(session, project, 3)
    first = lease(session, project, ann)
    session.refresh(item)
    assert item.is_full is False  # one of two slots taken
    # When the second slot is taken, the item is marked full and nobody else is offered it
    second = lease(session, project, bob)
    session.refresh(item)
    assert item.is_full is True
    assert lease_next_assignment(session, project, cid, now=T0) is None
    # Then a skip frees a slot: the hint clears and the third annotator gets the item
    skip_assignment(session, second.id, bob, now=T0)
    session.refresh(item)
    assert item.is_full is False
    assert lease(session, project, cid).item_id == item.id
    session.refresh(item)
    assert item.is_full is True and first.item_id == item.id


def test_publishing_leaves_items_full_until_their_campaign_sends_them_back(
    session: Session,
) -> None:
    project = make_project(session, overlap=1)
    (item,) = add_items(session, project, 1)
    (ann,) = team(session, project, 1)
    lease(session, project, ann)
    session.refresh(item)
    assert item.is_full is True
    lead = make_user(session, role="lead")
    create_draft(session, project, actor=lead)
    publish_spec(session, project, 2, actor=lead)
    session.refresh(item)
    # A version that changes nothing about the item: its labels keep counting under v2
    assert item.is_full is True and item.label_round == 1
