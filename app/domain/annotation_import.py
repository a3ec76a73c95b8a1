"""Importing labels made elsewhere (a vendor batch, a migration), all-or-nothing.

Rows are ``{external_id, annotator, value, spec_version?, tags?, created_at?, comment?,
unclear?, duration_ms?}`` as a JSON array, JSONL or CSV. ``annotator`` is an email or a handle;
people not yet known are created as annotators *without a login*. They are deliberately not made
project members: membership is what lets someone lease work and see the project, and a vendor's
labeler does neither here; their annotations are attributed to them, count towards agreement, and
show on item pages. Every value is checked against the spec version it names (default: the
current one; it must be a published version of this project), every item and tag must exist, and
an annotator may label an item only once per spec version (a clash is a 409 naming the row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import (
    Annotation,
    AnnotationTag,
    ImportBatch,
    Item,
    Project,
    SpecVersion,
    User,
)
from app.domain.audit import record_event
from app.domain.bulk_insert import bulk_insert
from app.domain.errors import Conflict, InvalidInput
from app.domain.import_files import (
    MAX_REPORTED_ERRORS,
    RowErrors,
)
from app.domain.item_parsing import AnnotationRow, csv_value
from app.domain.items import chunks, project_tag_ids
from app.domain.people import find_or_create_annotator
from app.domain.stats import queue_recount
from app.domain.values import validate_value


@dataclass(frozen=True)
class AnnotationImportResult:
    """What an annotation import did."""

    created: int
    batch_id: int
    annotators_created: list[str]


@dataclass(frozen=True, slots=True)
class _Checked:
    row: AnnotationRow
    item_id: int
    spec: SpecVersion
    value: Any
    who: tuple[str, int | str]


def _published_specs(session: Session, project: Project) -> tuple[dict[int, SpecVersion], int]:
    specs = {
        spec.number: spec
        for spec in session.scalars(
            select(SpecVersion).where(
                SpecVersion.project_id == project.id, SpecVersion.status == "published"
            )
        )
    }
    current = [number for number, spec in specs.items() if spec.is_current]
    if not current:
        raise Conflict(f"project {project.slug!r} has no published spec to label against")
    return specs, current[0]


def _item_ids(session: Session, project: Project, ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(sorted(set(ids))):
        rows = session.execute(
            select(Item.external_id, Item.id).where(
                Item.project_id == project.id, Item.external_id.in_(part)
            )
        )
        found.update({external_id: item_id for external_id, item_id in rows})
    return found


def _known_people(session: Session, annotators: set[str]) -> dict[str, int]:
    """User ids of the annotators (normalized emails or handles) who already exist."""
    emails = sorted(a for a in annotators if "@" in a)
    handles = sorted(a for a in annotators if "@" not in a)
    found: dict[str, int] = {}
    for part in chunks(emails):
        by_email = session.execute(select(User.email, User.id).where(User.email.in_(part)))
        found.update({str(email): user_id for email, user_id in by_email})
    for part in chunks(handles):
        by_handle = session.execute(select(User.handle, User.id).where(User.handle.in_(part)))
        found.update({handle: user_id for handle, user_id in by_handle})
    return found


def _value(project: Project, spec: SpecVersion, row: AnnotationRow, errors: RowErrors) -> Any:
    raw = csv_value(project.kind, row.value) if row.record.from_csv else row.value
    try:
        return validate_value(project.kind, spec, raw, field="value")
    except InvalidInput as exc:
        detail = exc.field_errors.get("value", "")
        rule = exc.message.removeprefix("value ")
        errors.add(row.record, "value", f"{detail}; {rule}" if detail else rule)
        return None


def _check_rows(
    session: Session, project: Project, rows: Sequence[AnnotationRow]
) -> list[_Checked]:
    """Resolve items, spec versions, tags and values; 422 naming the row for anything unknown."""
    specs, current = _published_specs(session, project)
    tags = project_tag_ids(session, project)
    items = _item_ids(session, project, [row.external_id for row in rows])
    people = _known_people(session, {row.annotator for row in rows})
    errors = RowErrors()
    checked = []
    for row in rows:
        before = len(errors.problems)
        number = current if row.spec_version is None else row.spec_version
        spec = specs.get(number)
        if spec is None:
            errors.add(
                row.record,
                "spec_version",
                f"v{number} is not a published spec version of this project "
                f"(published: {', '.join(f'v{n}' for n in sorted(specs))})",
            )
        item_id = items.get(row.external_id)
        if item_id is None:
            errors.add(row.record, "external_id", f"no item {row.external_id!r} in this project")
        for name in row.tags:
            if name not in tags:
                errors.add(row.record, "tags", f"{name!r} is not a tag of this project")
        value = _value(project, spec, row, errors) if spec is not None else None
        if len(errors.problems) == before and spec is not None and item_id is not None:
            user_id = people.get(row.annotator)
            who = ("user", user_id) if user_id is not None else ("new", row.annotator)
            checked.append(_Checked(row, item_id, spec, value, who))
        if errors.full:
            break
    errors.raise_if_any("the annotations were not imported")
    return checked


def _check_clashes(session: Session, project: Project, checked: Sequence[_Checked]) -> None:
    """409 naming the row if an annotator labels an item twice under one spec version."""
    clashes: list[dict[str, Any]] = []

    def clash(entry: _Checked, why: str) -> None:
        if len(clashes) < MAX_REPORTED_ERRORS:
            row = entry.row
            clashes.append(
                {
                    "row": row.record.row,
                    "line": row.record.line,
                    "external_id": row.external_id,
                    "annotator": row.annotator,
                    "message": f"{row.record.where}: {row.annotator} {why} item "
                    f"{row.external_id!r} under spec v{entry.spec.number}",
                }
            )

    first: dict[tuple[int, tuple[str, int | str], int], _Checked] = {}
    for entry in checked:
        earlier = first.setdefault((entry.item_id, entry.who, entry.spec.id), entry)
        if earlier is not entry:
            clash(entry, f"also labels (as on {earlier.row.record.where})")
    user_ids = {int(e.who[1]) for e in checked if e.who[0] == "user"}
    existing: set[tuple[int, int, int]] = set()
    for part in chunks(sorted({e.item_id for e in checked})):
        rows = session.execute(
            select(Annotation.item_id, Annotation.user_id, Annotation.spec_version_id).where(
                Annotation.project_id == project.id,
                Annotation.retracted_at.is_(None),
                Annotation.item_id.in_(part),
            )
        )
        existing.update(
            (item_id, user_id, spec_id) for item_id, user_id, spec_id in rows if user_id in user_ids
        )
    for entry in checked:
        if entry.who[0] == "user" and (entry.item_id, entry.who[1], entry.spec.id) in existing:
            clash(entry, "has already labelled")
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise Conflict(
            f"the annotations were not imported: {clashes[0]['message']}{more}",
            details={"conflicts": clashes},
            code="duplicate_annotation",
        )


def import_annotations(
    session: Session,
    project: Project,
    rows: Sequence[AnnotationRow],
    *,
    actor: User,
    source: str = "api",
    filename: str = "",
) -> AnnotationImportResult:
    """Import annotation rows all-or-nothing (see the module docstring for the rules)."""
    if not rows:
        raise InvalidInput("there are no rows to import", field_errors={"rows": "empty"})
    checked = _check_rows(session, project, rows)
    _check_clashes(session, project, checked)
    try:
        with session.begin_nested():
            batch, created = _write(session, project, checked, actor, source, filename)
    except IntegrityError:
        raise Conflict(
            "another import added some of these annotations at the same time; nothing was "
            "imported, send the file again"
        ) from None
    record_event(
        session,
        "annotations.imported",
        actor_id=actor.id,
        project_id=project.id,
        subject_type="import_batch",
        subject_id=batch.id,
        created=batch.n_created,
        annotators_created=created,
        source=source,
        filename=filename,
    )
    queue_recount(session, project.id, actor_id=actor.id)
    return AnnotationImportResult(batch.n_created, batch.id, created)


def _write(
    session: Session,
    project: Project,
    checked: Sequence[_Checked],
    actor: User,
    source: str,
    filename: str,
) -> tuple[ImportBatch, list[str]]:
    now = utcnow()
    user_ids: dict[tuple[str, int | str], int] = {}
    created: list[str] = []
    for entry in checked:
        if entry.who not in user_ids:
            if entry.who[0] == "user":
                user_ids[entry.who] = int(entry.who[1])
            else:
                user = find_or_create_annotator(session, entry.row.annotator)
                user_ids[entry.who] = user.id
                created.append(user.handle)
    batch = ImportBatch(
        project_id=project.id,
        kind="annotations",
        source=source[:40],
        filename=filename[:300],
        n_created=len(checked),
        n_unchanged=0,
        created_at=now,
        created_by_id=actor.id,
    )
    session.add(batch)
    session.flush()
    rounds: dict[int, int] = {}
    for part in chunks(sorted({e.item_id for e in checked})):
        rows = session.execute(select(Item.id, Item.label_round).where(Item.id.in_(part)))
        rounds.update((item_id, label_round) for item_id, label_round in rows)
    bulk_insert(
        session,
        Annotation,
        [
            {
                "project_id": project.id,
                "item_id": e.item_id,
                "user_id": user_ids[e.who],
                "spec_version_id": e.spec.id,
                # Imported labels count in the item's current round, like labels made now.
                "label_round": rounds[e.item_id],
                "value": e.value,
                "duration_ms": e.row.duration_ms,
                "unclear": e.row.unclear,
                "comment": e.row.comment,
                "source": "import",
                "import_batch_id": batch.id,
                "created_at": e.row.created_at or now,
            }
            for e in checked
        ],
    )
    tagged = [e for e in checked if e.row.tags]
    if tagged:
        tag_ids = project_tag_ids(session, project)
        ids = {
            (item_id, user_id, spec_id): annotation_id
            for annotation_id, item_id, user_id, spec_id in session.execute(
                select(
                    Annotation.id,
                    Annotation.item_id,
                    Annotation.user_id,
                    Annotation.spec_version_id,
                ).where(Annotation.import_batch_id == batch.id)
            )
        }
        bulk_insert(
            session,
            AnnotationTag,
            [
                {
                    "annotation_id": ids[(e.item_id, user_ids[e.who], e.spec.id)],
                    "tag_id": tag_ids[name],
                }
                for e in tagged
                for name in e.row.tags
            ],
        )
    return batch, created
