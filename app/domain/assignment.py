"""The assignment engine: leasing the next item to an annotator, expiring and releasing leases.

Rules (per item and spec version): at most ``project.overlap`` (k) assignments are active
(leased or submitted), each in its own ``slot`` 1..k; an annotator holds at most one of them, and
never gets back an item they skipped or already labeled. The partial unique indexes on
``assignments`` enforce the first two even if this code were wrong.

Which items come first is :mod:`app.domain.candidates`' business.

Concurrency: on SQLite the caller's transaction holds the write lock from its first statement
(write requests, jobs and commands begin with ``BEGIN IMMEDIATE``), so claims are serialized.
On PostgreSQL each claim locks its candidate item with ``FOR NO KEY UPDATE SKIP LOCKED`` inside
a savepoint, re-reads the item's slots with a fresh snapshot and inserts; a lost race (a
unique-index violation, or a candidate that filled up meanwhile) rolls back to the savepoint,
which also drops the item lock, and the next candidate or a new round is tried, a bounded number
of times. The ``items.is_full`` hint is set there, under the item's lock, and cleared by every
change that frees a slot.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.db.base import utcnow
from app.db.engine import execute_core, is_sqlite
from app.db.models import Assignment, Item, Project, SpecVersion, User
from app.domain.acknowledgements import pending_acknowledgement
from app.domain.audit import record_event
from app.domain.candidates import best_candidates, kind_for_priority
from app.domain.errors import Conflict, Forbidden, NotFound
from app.domain.gold_checks import lease_gold_check
from app.domain.leases import add_lease, lock_item
from app.domain.plain_rows import all_columns, object_for_row
from app.domain.projects import can_reach, current_spec
from app.domain.work_gate import paused_refusal, work_block

ACTIVE_STATES = ("leased", "submitted")
MAX_CLAIM_ROUNDS = 25
# The tables, for the plain updates of the lease path (no ORM objects involved).
_ASSIGNMENTS = cast(Table, Assignment.__table__)
_ITEMS = cast(Table, Item.__table__)
# The lease path's statements, built once (building them per request cost about as much as
# running them).
_OPENING = (
    update(_ITEMS)
    .where(_ITEMS.c.id.in_(bindparam("item_ids", expanding=True)))
    .values(is_full=False)
)
_FILLING = update(_ITEMS).where(_ITEMS.c.id == bindparam("full_item")).values(is_full=True)
_SLOTS = select(Assignment.slot, Assignment.user_id).where(
    Assignment.item_id == bindparam("item_id"),
    Assignment.label_round == bindparam("label_round"),
    Assignment.state.in_(ACTIVE_STATES),
)
_LIVE_LEASES = (
    select(*all_columns(Assignment))
    .where(
        Assignment.user_id == bindparam("user_id"),
        Assignment.state == "leased",
        Assignment.project_id == bindparam("project_id"),
        Assignment.lease_expires_at > bindparam("now"),
    )
    .order_by(Assignment.leased_at, Assignment.id)
)
_ASSIGNMENT = select(*all_columns(Assignment)).where(Assignment.id == bindparam("assignment_id"))
_ASSIGNMENT_LOCKED = _ASSIGNMENT.with_for_update()
_EXPIRING = (
    update(_ASSIGNMENTS)
    .where(_ASSIGNMENTS.c.state == "leased", _ASSIGNMENTS.c.lease_expires_at <= bindparam("now"))
    .values(state="expired", finished_at=bindparam("now"))
    .returning(
        _ASSIGNMENTS.c.id, _ASSIGNMENTS.c.project_id, _ASSIGNMENTS.c.item_id, _ASSIGNMENTS.c.user_id
    )
)
_EXPIRING_IN_PROJECT = _EXPIRING.where(_ASSIGNMENTS.c.project_id == bindparam("in_project"))


LOCKED = "accord_locked_assignments"
"""``session.info`` key: assignments read under a lock, remembered until a transaction or a
savepoint ends (rolling back a savepoint releases the locks taken in it)."""


def _forget_locked(session: Session, _transaction: SessionTransaction) -> None:
    session.info.pop(LOCKED, None)


if not event.contains(Session, "after_transaction_end", _forget_locked):
    event.listen(Session, "after_transaction_end", _forget_locked)


class _LostRace(Exception):
    """A candidate was taken by someone else between the candidate query and the insert."""


def _now(now: datetime | None) -> datetime:
    return now if now is not None else utcnow()


def audit_assignment(
    session: Session, action: str, assignment: Assignment, actor_id: int | None, **extra: Any
) -> None:
    """Record a change of an assignment in the item's audit log."""
    record_event(
        session,
        action,
        actor_id=actor_id,
        project_id=assignment.project_id,
        item_id=assignment.item_id,
        subject_type="assignment",
        subject_id=assignment.id,
        annotator_id=assignment.user_id,
        slot=assignment.slot,
        state=assignment.state,
        **extra,
    )


def mark_items_open(session: Session, item_ids: list[int]) -> None:
    """Clear the ``is_full`` hint of items that just lost an active assignment.

    Unconditionally, even where the hint looks clear already: on PostgreSQL the update waits
    for a claimer that holds the item's lock and may be about to set the hint from a count
    that still includes the slot freed here; clearing after it commits keeps the hint honest.
    """
    if item_ids:
        execute_core(session, _OPENING, {"item_ids": sorted(set(item_ids))})


def expire_leases(
    session: Session, project: Project | None = None, now: datetime | None = None
) -> int:
    """Mark leases past their expiry as ``expired`` (freeing their slots); returns how many."""
    now = _now(now)
    statement, params = (
        (_EXPIRING, {"now": now})
        if project is None
        else (_EXPIRING_IN_PROJECT, {"now": now, "in_project": project.id})
    )
    # The state test in the WHERE makes a concurrent expirer (PostgreSQL re-checks it after the
    # row lock) skip rows already expired, so each expiry is audited exactly once. A plain
    # update (it runs before every lease, and nearly always finds nothing): pending changes are
    # flushed first and the session's own copies of expired rows updated after, as the ORM would.
    rows = execute_core(session, statement, params).all()
    for assignment_id, *_ in rows:
        held = session.identity_map.get(identity_key(Assignment, assignment_id))
        if held is not None:
            set_committed_value(held, "state", "expired")
            set_committed_value(held, "finished_at", now)
    mark_items_open(session, [item_id for _, _, item_id, _ in rows])
    for assignment_id, project_id, item_id, user_id in rows:
        record_event(
            session,
            "assignment.expired",
            actor_id=None,
            project_id=project_id,
            item_id=item_id,
            subject_type="assignment",
            subject_id=assignment_id,
            annotator_id=user_id,
        )
    return len(rows)


def _place(
    session: Session,
    project: Project,
    spec: SpecVersion,
    user: User,
    item_id: int,
    label_round: int,
    now: datetime,
    priority: int,
) -> Assignment:
    """Insert the user's assignment in the item's lowest free slot of its round, or raise
    _LostRace."""
    taken = execute_core(session, _SLOTS, {"item_id": item_id, "label_round": label_round}).all()
    if len(taken) >= project.overlap or any(uid == user.id for _, uid in taken):
        raise _LostRace
    slot = min(set(range(1, project.overlap + 1)) - {s for s, _ in taken})
    assignment = add_lease(
        session,
        project,
        spec,
        user,
        item_id,
        label_round=label_round,
        slot=slot,
        kind=kind_for_priority(priority),
        priority=priority,
        now=now,
    )
    if len(taken) + 1 >= project.overlap:
        # Counted just now under the item's lock (PostgreSQL) or the write lock (SQLite).
        execute_core(session, _FILLING, {"full_item": item_id})
    return assignment


def _claim_round(
    session: Session, project: Project, spec: SpecVersion, user: User, now: datetime
) -> Assignment | None:
    """One attempt: the new assignment, None if nothing is left, or raise _LostRace."""
    candidates = best_candidates(session, project, user)
    if not candidates:
        return None
    locked_any = False
    # On PostgreSQL a lost race rolls back to a savepoint, which releases the item's lock. On
    # SQLite no race can be lost before the insert (the transaction holds the write lock) and
    # a failed insert backs itself out (SQLite undoes a failed statement, nothing else), so the
    # savepoint would only cost its statements and the session's bookkeeping, every lease.
    attempt_scope: Callable[[], AbstractContextManager[Any]] = (
        nullcontext if is_sqlite(session) else session.begin_nested
    )
    for attempt, (item_id, priority, candidate_round) in enumerate([*candidates, candidates[0]]):
        # Last resort when every candidate was locked by other claimers: wait for the best one
        # rather than spin or answer "nothing left" while work remains.
        wait = attempt == len(candidates)
        if wait and locked_any:
            break
        try:
            with attempt_scope():
                label_round = lock_item(session, item_id, wait=wait, read_round=candidate_round)
                if label_round is None:
                    continue
                locked_any = True
                return _place(session, project, spec, user, item_id, label_round, now, priority)
        except (_LostRace, IntegrityError):
            continue
    raise _LostRace


def _live_lease(
    session: Session, project: Project, spec: SpecVersion, user: User, now: datetime
) -> Assignment | None:
    """The user's live lease under the current version; leases under older versions are
    cancelled (their rules no longer apply)."""
    leases = [
        object_for_row(session, Assignment, row)
        for row in execute_core(
            session, _LIVE_LEASES, {"user_id": user.id, "project_id": project.id, "now": now}
        )
    ]
    live = None
    for lease in leases:
        if lease.spec_version_id == spec.id and live is None:
            live = lease
        elif lease.spec_version_id != spec.id:
            lease.state = "cancelled"
            lease.finished_at = now
            session.flush()
            mark_items_open(session, [lease.item_id])
            audit_assignment(session, "assignment.cancelled", lease, user.id)
    return live


def lease_next_assignment(
    session: Session, project: Project, annotator: User, *, now: datetime | None = None
) -> Assignment | None:
    """Lease the next item for ``annotator`` under the current spec (None: nothing left).

    On SQLite the caller must have started the transaction with
    :func:`app.db.engine.begin_immediate` before any statement, so that the claim holds the
    write lock from the start (a deferred transaction could fail to upgrade its lock). Asking
    again while holding a live lease returns that same lease. Raises Forbidden for non-members,
    Conflict ``spec_acknowledgement_required`` while a newer spec awaits acknowledgement, and
    the Conflicts of :mod:`app.domain.work_gate` (qualification, quota, cap) before a new lease.
    """
    now = _now(now)
    if not can_reach(session, annotator, project):
        raise paused_refusal(session, project, annotator) or Forbidden(
            "only active members of the project may take its work"
        )
    if project.archived_at is not None:
        return None
    spec = current_spec(session, project)
    pending = pending_acknowledgement(session, project, annotator, spec=spec)
    if pending is not None:
        raise Conflict(
            f"spec v{pending.number} changed the rules; acknowledge it before continuing",
            code="spec_acknowledgement_required",
            details={"spec_version": pending.number},
        )
    if not is_sqlite(session):
        # Serialize one person's concurrent "next" requests so they get one lease, not two.
        session.execute(
            select(User.id).where(User.id == annotator.id).with_for_update(key_share=True)
        )
    expire_leases(session, project, now)
    live = _live_lease(session, project, spec, annotator, now)
    if live is not None:
        return live
    blocked = work_block(session, project, annotator, now)
    if blocked is not None:
        raise blocked
    gold = lease_gold_check(session, project, spec, annotator, now)
    if gold is not None:
        audit_assignment(session, "assignment.leased", gold, annotator.id)
        return gold
    for _ in range(MAX_CLAIM_ROUNDS):
        try:
            assignment = _claim_round(session, project, spec, annotator, now)
        except _LostRace:
            continue
        if assignment is not None:
            audit_assignment(session, "assignment.leased", assignment, annotator.id)
        return assignment
    raise Conflict("too many people are claiming work at once; try again", code="busy")


def annotator_assignment(
    session: Session, assignment_id: int, annotator: User, *, lock: bool = False
) -> Assignment:
    """The annotator's own assignment, or NotFound (other people's leases do not exist).

    Read with ``lock=True`` again in the same transaction (the task API checks the task's
    project before the domain submits it), it is not read twice: the first read was fresh and
    under the lock, so only this transaction can have changed the row since.
    """
    locked: dict[int, Assignment] = session.info.setdefault(LOCKED, {})
    assignment = locked.get(assignment_id) if lock else None
    if assignment is None:
        query = _ASSIGNMENT_LOCKED if lock else _ASSIGNMENT
        row = execute_core(session, query, {"assignment_id": assignment_id}).first()
        assignment = None if row is None else object_for_row(session, Assignment, row, refresh=True)
    if assignment is None or assignment.user_id != annotator.id:
        raise NotFound(f"no task {assignment_id}")
    if lock:
        locked[assignment_id] = assignment
    return assignment


def require_live_lease(assignment: Assignment, now: datetime) -> None:
    """Raise Conflict ``lease_expired`` unless the assignment is leased and not yet expired."""
    if assignment.state != "leased":
        raise Conflict(
            f"this task is already {assignment.state}; ask for the next one",
            code="lease_expired",
            details={"state": assignment.state},
        )
    if assignment.lease_expires_at <= now:
        raise Conflict(
            "the lease on this task expired and the item went back to the queue",
            code="lease_expired",
            details={"state": "expired"},
        )


def skip_assignment(
    session: Session,
    assignment_id: int,
    annotator: User,
    *,
    reason: str = "",
    now: datetime | None = None,
) -> Assignment:
    """Skip a leased task: its slot goes to someone else and this annotator never gets it back."""
    now = _now(now)
    assignment = annotator_assignment(session, assignment_id, annotator, lock=True)
    require_live_lease(assignment, now)
    assignment.state = "skipped"
    assignment.skip_reason = reason.strip()[:2000]
    assignment.finished_at = now
    session.flush()
    mark_items_open(session, [assignment.item_id])
    audit_assignment(session, "assignment.skipped", assignment, annotator.id)
    return assignment


def release_assignment(
    session: Session, assignment_id: int, annotator: User, *, now: datetime | None = None
) -> Assignment:
    """Give a leased task back unlabeled (``cancelled``); unlike a skip it may come back."""
    now = _now(now)
    assignment = annotator_assignment(session, assignment_id, annotator, lock=True)
    require_live_lease(assignment, now)
    assignment.state = "cancelled"
    assignment.finished_at = now
    session.flush()
    mark_items_open(session, [assignment.item_id])
    audit_assignment(session, "assignment.released", assignment, annotator.id)
    return assignment
