"""Spec versions: drafting, editing, diffing and publishing a project's annotation spec.

A project has at most one open draft at a time (numbered after the highest existing version),
so versions form one line: a second draft is refused with the open one's number, and two
concurrent attempts collide on the unique ``(project_id, number)``. Published versions are
immutable: the mutators refuse, and a ``before_flush`` listener on every Session refuses any
ORM change to a published ``SpecVersion`` (except the ``is_current`` hand-over) or to its labels
and rules. Drafts are edited with optimistic locking on ``edit_version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import event, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from app.db.base import utcnow
from app.db.models import Job, Project, SpecLabel, SpecRule, SpecVersion, Tag, User
from app.domain.audit import record_event
from app.domain.errors import Conflict, Forbidden, NotFound
from app.domain.outbox import enqueue_job
from app.domain.projects import CURRENT_SPECS, current_spec
from app.domain.spec_diff import (
    Scale,
    SpecDiff,
    SpecSnapshot,
    diff_snapshots,
)
from app.domain.spec_input import DraftChanges, parse_changes

IMMUTABLE = "published spec versions are immutable"
# What may still change on a published version: which one is current (and the version counter
# SQLAlchemy bumps with every UPDATE).
_MUTABLE_WHEN_PUBLISHED = frozenset({"is_current", "edit_version"})


def _require_lead(actor: User) -> None:
    if actor.role not in ("lead", "admin"):
        raise Forbidden("only leads and admins change specs")


def get_spec(session: Session, project: Project, number: int) -> SpecVersion:
    """Spec version ``number`` of the project, or NotFound."""
    spec = session.scalar(
        select(SpecVersion).where(
            SpecVersion.project_id == project.id, SpecVersion.number == number
        )
    )
    if spec is None:
        raise NotFound(f"project {project.slug!r} has no spec v{number}")
    return spec


def list_specs(
    session: Session, project: Project, *, include_drafts: bool = True
) -> list[SpecVersion]:
    """The project's spec versions, newest first (drafts only when asked for)."""
    query = select(SpecVersion).where(SpecVersion.project_id == project.id)
    if not include_drafts:
        query = query.where(SpecVersion.status == "published")
    return list(session.scalars(query.order_by(SpecVersion.number.desc())))


def open_draft(session: Session, project: Project) -> SpecVersion | None:
    """The project's open draft, if there is one."""
    return session.scalar(
        select(SpecVersion).where(
            SpecVersion.project_id == project.id, SpecVersion.status == "draft"
        )
    )


def create_draft(
    session: Session, project: Project, *, actor: User, from_number: int | None = None
) -> SpecVersion:
    """Open a draft copying the current version (or version ``from_number``), numbered max+1."""
    _require_lead(actor)
    existing = open_draft(session, project)
    if existing is not None:
        raise Conflict(
            f"draft v{existing.number} is already open; edit or publish it first",
            code="draft_exists",
            details={"number": existing.number},
        )
    source = (
        current_spec(session, project)
        if from_number is None
        else get_spec(session, project, from_number)
    )
    highest = session.scalar(
        select(func.max(SpecVersion.number)).where(SpecVersion.project_id == project.id)
    )
    draft = SpecVersion(
        project_id=project.id,
        number=(highest or 0) + 1,
        status="draft",
        is_current=False,
        guidelines=source.guidelines,
        changelog="",
        scale_min=source.scale_min,
        scale_max=source.scale_max,
        scale_step=source.scale_step,
        based_on_number=source.number,
        created_by_id=actor.id,
    )
    draft.labels = [
        SpecLabel(
            key=label.key,
            name=label.name,
            description=label.description,
            hotkey=label.hotkey,
            position=label.position,
        )
        for label in source.labels
    ]
    draft.rules = [SpecRule(tag_id=rule.tag_id, text=rule.text) for rule in source.rules]
    session.add(draft)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "another draft was opened at the same time; reload the spec versions",
            code="draft_exists",
        ) from exc
    record_event(
        session,
        "spec.draft_created",
        actor_id=actor.id,
        project_id=project.id,
        subject_type="spec_version",
        subject_id=draft.id,
        number=draft.number,
        based_on=source.number,
    )
    return draft


def _stale(spec: SpecVersion, expected: int) -> Conflict:
    return Conflict(
        f"someone else saved draft v{spec.number} since you opened it "
        f"(edit version {spec.edit_version}, yours {expected}); reload it and reapply your changes",
        code="stale_version",
        details={"edit_version": spec.edit_version},
    )


def _tag_ids(session: Session, project: Project, names: list[str]) -> dict[str, int]:
    """Ids of the named tags, creating the ones the project does not have yet."""
    known = {
        name: tag_id
        for tag_id, name in session.execute(
            select(Tag.id, Tag.name).where(Tag.project_id == project.id, Tag.name.in_(names))
        )
    }
    for name in names:
        if name not in known:
            tag = Tag(project_id=project.id, name=name)
            session.add(tag)
            session.flush()
            known[name] = tag.id
    return known


def _apply(session: Session, project: Project, spec: SpecVersion, changes: DraftChanges) -> None:
    if changes.guidelines is not None:
        spec.guidelines = changes.guidelines
    if changes.changelog is not None:
        spec.changelog = changes.changelog
    if changes.scale is not None:
        spec.scale_min = changes.scale["min"]
        spec.scale_max = changes.scale["max"]
        spec.scale_step = changes.scale["step"]
    # Old rows go first (and are flushed) so re-used keys, positions and tags never collide with
    # the unique constraints while both exist.
    if changes.labels is not None:
        spec.labels.clear()
        session.flush()
        spec.labels.extend(
            SpecLabel(
                key=label["key"],
                name=label["name"],
                description=label["description"],
                hotkey=label["hotkey"],
                position=label["order"],
            )
            for label in changes.labels
        )
    if changes.rules is not None:
        spec.rules.clear()
        session.flush()
        ids = _tag_ids(session, project, [rule["tag"] for rule in changes.rules])
        spec.rules.extend(
            SpecRule(tag_id=ids[rule["tag"]], text=rule["text"]) for rule in changes.rules
        )


def update_draft(
    session: Session,
    project: Project,
    number: int,
    changes: Mapping[str, Any],
    *,
    expected_edit_version: int,
    actor: User,
) -> SpecVersion:
    """Edit a draft's guidelines, changelog, labels, rules or scale; 409 if someone saved first."""
    _require_lead(actor)
    spec = get_spec(session, project, number)
    if spec.status != "draft":
        raise Conflict(IMMUTABLE, code="spec_published")
    if spec.edit_version != expected_edit_version:
        raise _stale(spec, expected_edit_version)
    parsed = parse_changes(project.kind, changes)
    # The versioned UPDATE goes out with the first flush, so a save that raced ours fails here
    # rather than after we have rewritten its labels.
    flag_modified(spec, "guidelines")
    try:
        _apply(session, project, spec, parsed)
        session.flush()
    except StaleDataError as exc:
        raise _stale(spec, expected_edit_version) from exc
    record_event(
        session,
        "spec.draft_updated",
        actor_id=actor.id,
        project_id=project.id,
        subject_type="spec_version",
        subject_id=spec.id,
        number=spec.number,
        fields=sorted(parsed.given()),
    )
    return spec


def publish_spec(
    session: Session, project: Project, number: int, *, actor: User
) -> tuple[SpecVersion, Job]:
    """Publish a draft as the project's only current version; queues ``spec_published``, whose
    job creates the re-label campaign."""
    _require_lead(actor)
    spec = get_spec(session, project, number)
    if spec.status != "draft":
        raise Conflict(f"spec v{number} is already published", code="not_a_draft")
    previous = session.scalar(
        select(SpecVersion).where(SpecVersion.project_id == project.id, SpecVersion.is_current)
    )
    try:
        # Hand over in two flushes: the partial unique index allows one current row at a time.
        if previous is not None:
            previous.is_current = False
            session.flush()
        spec.status = "published"
        spec.is_current = True
        spec.published_at = utcnow()
        spec.published_by_id = actor.id
        session.flush()
    except (StaleDataError, IntegrityError) as exc:
        raise Conflict(
            "another spec version was published at the same time; reload and try again",
            code="concurrent_publish",
        ) from exc
    session.info.get(CURRENT_SPECS, {}).pop(project.id, None)
    # Items keep their rounds (and labels): the spec_published job sends back only those the
    # change affects (app.domain.campaigns).
    previous_number = previous.number if previous is not None else 0
    record_event(
        session,
        "spec.published",
        actor_id=actor.id,
        project_id=project.id,
        subject_type="spec_version",
        subject_id=spec.id,
        number=spec.number,
        previous_number=previous_number,
    )
    job = enqueue_job(
        session,
        "spec_published",
        {
            "project_id": project.id,
            "spec_version_id": spec.id,
            "number": spec.number,
            # 0 when nothing was current before (only hand-built projects lack a v1).
            "previous_number": previous_number,
        },
        project_id=project.id,
        dedupe_key=f"spec_published:{spec.id}",
        created_by_id=actor.id,
    )
    return spec, job


def spec_snapshot(session: Session, spec: SpecVersion) -> SpecSnapshot:
    """The spec version as plain data (labels in order, rules by tag name)."""
    ids = [rule.tag_id for rule in spec.rules]
    names: dict[int, str] = {}
    if ids:
        rows = session.execute(select(Tag.id, Tag.name).where(Tag.id.in_(ids)))
        names = {tag_id: name for tag_id, name in rows}
    scale: Scale | None = None
    if spec.scale_min is not None and spec.scale_max is not None and spec.scale_step is not None:
        scale = {"min": spec.scale_min, "max": spec.scale_max, "step": spec.scale_step}
    return {
        "number": spec.number,
        "guidelines": spec.guidelines,
        "changelog": spec.changelog,
        "labels": [
            {
                "key": label.key,
                "name": label.name,
                "description": label.description,
                "hotkey": label.hotkey,
                "order": label.position,
            }
            for label in sorted(spec.labels, key=lambda label: label.position)
        ],
        "rules": sorted(
            ({"tag": names[rule.tag_id], "text": rule.text} for rule in spec.rules),
            key=lambda rule: rule["tag"],
        ),
        "scale": scale,
    }


def diff_specs(session: Session, old: SpecVersion, new: SpecVersion) -> SpecDiff:
    """What changed going from spec version ``old`` to ``new`` (any two of one project)."""
    if old.project_id != new.project_id:
        raise NotFound("spec versions of different projects cannot be compared")
    return diff_snapshots(spec_snapshot(session, old), spec_snapshot(session, new))


# --- immutability -----------------------------------------------------------------------------


def _committed_status(session: Session, spec_version_id: int | None) -> str | None:
    """The spec version's status as the database has it (before this flush)."""
    if spec_version_id is None:
        return None
    with session.no_autoflush:
        return session.scalar(select(SpecVersion.status).where(SpecVersion.id == spec_version_id))


def _committed_value(obj: object, attribute: str) -> Any:
    history = inspect(obj).attrs[attribute].history
    if history.deleted:
        return history.deleted[0]
    if history.unchanged:
        return history.unchanged[0]
    return getattr(obj, attribute)


def _changes_published(session: Session, obj: object, *, deleting: bool) -> bool:
    state = inspect(obj)
    if state.key is None:  # new: checked through its parent below
        if isinstance(obj, SpecLabel | SpecRule):
            return _committed_status(session, obj.spec_version_id) == "published"
        return False
    if isinstance(obj, SpecVersion):
        if _committed_status(session, state.identity[0]) != "published":
            return False
        if deleting:
            return True
        return any(
            attr.history.has_changes()
            for attr in state.attrs
            if attr.key not in _MUTABLE_WHEN_PUBLISHED
        )
    if isinstance(obj, SpecLabel | SpecRule):
        parent_id = _committed_value(obj, "spec_version_id")
        if _committed_status(session, parent_id) == "published":
            return deleting or any(attr.history.has_changes() for attr in state.attrs)
    return False


def _refuse_changes_to_published_specs(session: Session, _context: Any, _instances: Any) -> None:
    """``before_flush``: refuse any pending change to a published version, its labels or rules."""
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, SpecVersion | SpecLabel | SpecRule) and _changes_published(
            session, obj, deleting=False
        ):
            raise Conflict(IMMUTABLE, code="spec_published")
    for obj in session.deleted:
        if isinstance(obj, SpecVersion | SpecLabel | SpecRule) and _changes_published(
            session, obj, deleting=True
        ):
            raise Conflict(IMMUTABLE, code="spec_published")


if not event.contains(Session, "before_flush", _refuse_changes_to_published_specs):
    event.listen(Session, "before_flush", _refuse_changes_to_published_specs)
