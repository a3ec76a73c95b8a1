"""The annotator's side of the loop: keeping a lease alive while working, undoing the last
submission, and the figures of the progress strip.

Undo never deletes: the annotation is retracted (kept for history), its assignment is closed
and the annotator gets a fresh lease on the same item in the same slot, so k still holds and
the item cannot be taken by someone else in between.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from app.db.base import utc_midnight, utcnow
from app.db.models import Annotation, Assignment, Item, Project, SpecVersion, User
from app.domain.assignment import (
    annotator_assignment,
    audit_assignment,
    mark_items_open,
    require_live_lease,
)
from app.domain.candidates import gold_item_ids, items_closed_to
from app.domain.errors import Conflict, NotFound
from app.domain.projects import current_spec, visible_projects
from app.domain.stats import queue_recount

UNDO_WINDOW = timedelta(seconds=60)
"""How long after submitting an annotator may take it back from the labeling page."""


def renew_lease(
    session: Session, assignment_id: int, annotator: User, *, now: datetime | None = None
) -> Assignment:
    """Extend the annotator's live lease to a full lease time from now (they are working)."""
    now = now if now is not None else utcnow()
    assignment = annotator_assignment(session, assignment_id, annotator, lock=True)
    require_live_lease(assignment, now)
    project = session.get(Project, assignment.project_id)
    assert project is not None  # the foreign key guarantees it
    assignment.lease_expires_at = now + timedelta(seconds=project.lease_seconds)
    session.flush()
    return assignment


def _within_undo_window(annotation: Annotation, now: datetime) -> bool:
    return annotation.retracted_at is None and now - annotation.created_at <= UNDO_WINDOW


def undoable_submission(
    session: Session, annotation_id: int | None, annotator: User, *, now: datetime | None = None
) -> Annotation | None:
    """The annotator's submission to offer an undo for, if still inside the undo window."""
    if not annotation_id:
        return None
    annotation = session.get(Annotation, annotation_id)
    if annotation is None or annotation.user_id != annotator.id:
        return None
    return annotation if _within_undo_window(annotation, now or utcnow()) else None


def undo_submission(
    session: Session, annotation_id: int, annotator: User, *, now: datetime | None = None
) -> Assignment:
    """Take back the annotator's recent submission: retract it and lease the item to them again.

    NotFound for someone else's annotation; Conflict ``undo_expired`` once the window passed,
    the annotation was already taken back, or the spec version or the item's round changed since.
    """
    now = now if now is not None else utcnow()
    annotation = session.scalars(
        select(Annotation).where(Annotation.id == annotation_id).with_for_update()
    ).one_or_none()
    if annotation is None or annotation.user_id != annotator.id or annotation.assignment_id is None:
        raise NotFound(f"no submission {annotation_id} of yours")
    old = annotator_assignment(session, annotation.assignment_id, annotator, lock=True)
    project = session.get(Project, old.project_id)
    assert project is not None  # the foreign key guarantees it
    if (
        not _within_undo_window(annotation, now)
        or old.state != "submitted"
        or current_spec(session, project).id != old.spec_version_id
        or session.scalar(select(Item.label_round).where(Item.id == old.item_id)) != old.label_round
    ):
        raise Conflict("this submission can no longer be undone", code="undo_expired")
    annotation.retracted_at = now
    old.state = "cancelled"
    _release_other_leases(session, project, annotator, now)
    session.flush()  # frees the slot before the new lease takes it
    again = Assignment(
        project_id=old.project_id,
        item_id=old.item_id,
        user_id=annotator.id,
        spec_version_id=old.spec_version_id,
        label_round=old.label_round,
        kind=old.kind,
        state="leased",
        slot=old.slot,
        priority=old.priority,
        leased_at=now,
        lease_expires_at=now + timedelta(seconds=project.lease_seconds),
    )
    session.add(again)
    session.flush()
    audit_assignment(
        session,
        "assignment.undone",
        again,
        annotator.id,
        retracted_annotation_id=annotation.id,
        previous_assignment_id=old.id,
    )
    queue_recount(session, project.id, actor_id=annotator.id)
    return again


def _release_other_leases(session: Session, project: Project, user: User, now: datetime) -> None:
    """Give back the lease the annotator moved on to, so the undone item is their one task."""
    for lease in session.scalars(
        select(Assignment).where(
            Assignment.project_id == project.id,
            Assignment.user_id == user.id,
            Assignment.state == "leased",
        )
    ):
        lease.state = "cancelled"
        lease.finished_at = now
        mark_items_open(session, [lease.item_id])
        audit_assignment(session, "assignment.released", lease, user.id)


@dataclass(frozen=True)
class AnnotatorProgress:
    """The progress strip: what this annotator did today and here, and what is left for them."""

    done_today: int
    done_in_project: int
    remaining: int


def count_open_items(session: Session, project: Project, user: User) -> int:
    """Items the annotator could still be given (free slots of items' current rounds).

    Counted as all items minus the blocked ones (full, already the annotator's, or gold: gold
    checks come on top of the queue and must not show in it), which reads the project's
    assignments once instead of counting slots item by item.
    """
    full = (
        select(Assignment.item_id)
        .join(Item, (Item.id == Assignment.item_id) & (Item.label_round == Assignment.label_round))
        .where(
            Assignment.project_id == project.id,
            Assignment.state.in_(("leased", "submitted")),
        )
        .group_by(Assignment.item_id)
        .having(func.count() >= project.overlap)
    )
    mine, labeled = items_closed_to(user.id, project.id)
    blocked = union(full, mine, labeled, gold_item_ids(project.id)).subquery()
    total = session.scalar(select(func.count()).where(Item.project_id == project.id)) or 0
    n_blocked = session.scalar(select(func.count()).select_from(blocked)) or 0
    return max(int(total) - int(n_blocked), 0)


OPEN_COUNT_SECONDS = 10.0
"""How long a counted number of open items is reused for the progress strip (see below)."""
_open_counts: dict[tuple[str, int, int, int], tuple[float, int, int]] = {}
_open_counts_lock = threading.Lock()


def _open_items_for_strip(
    session: Session, project: Project, spec: SpecVersion, user: User, here: int, *, exact: bool
) -> int:
    """The open items for the progress strip. Counting them reads every active assignment of
    the project, so between exact counts (at most ``OPEN_COUNT_SECONDS`` apart) the last count
    is reused, less what the annotator labeled since; others' work shows at the next count."""
    key = (str(session.get_bind().engine.url), project.id, spec.id, user.id)
    clock = time.monotonic()
    with _open_counts_lock:
        cached = _open_counts.get(key)
    if not exact and cached is not None and clock - cached[0] < OPEN_COUNT_SECONDS:
        return max(cached[1] - (here - cached[2]), 0)
    remaining = count_open_items(session, project, user)
    with _open_counts_lock:
        if len(_open_counts) > 10_000:
            _open_counts.clear()
        _open_counts[key] = (clock, remaining, here)
    return remaining


def annotator_progress(
    session: Session,
    project: Project,
    user: User,
    *,
    now: datetime | None = None,
    exact: bool = True,
) -> AnnotatorProgress:
    """Submissions today (UTC, all projects) and in this project, and the items left for them
    (``exact=False``: possibly reused from a count a few seconds old, for the progress strip)."""
    now = now if now is not None else utcnow()
    midnight = utc_midnight(now)
    today, here = session.execute(
        select(
            func.count().filter(Annotation.created_at >= midnight),
            func.count().filter(Annotation.project_id == project.id),
        ).where(Annotation.user_id == user.id, Annotation.retracted_at.is_(None))
    ).one()
    spec = current_spec(session, project)
    left = _open_items_for_strip(session, project, spec, user, int(here), exact=exact)
    return AnnotatorProgress(int(today), int(here), left)


def projects_with_work(
    session: Session, user: User, *, besides: Project | None = None
) -> list[tuple[Project, int]]:
    """The other projects where the annotator still has items to label, with how many."""
    found = []
    for project in visible_projects(session, user):
        if besides is not None and project.id == besides.id:
            continue
        left = count_open_items(session, project, user)
        if left:
            found.append((project, left))
    return found
