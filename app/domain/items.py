"""Importing items: all-or-nothing, idempotent, and fast enough for 10,000 rows at once.

An import first checks every row (tags, clashes with items already in the project) and only then
writes, with bulk inserts, so a bad row anywhere leaves the database untouched. Items are never
silently changed: a row whose ``external_id`` already exists must be identical to the stored item
(same text, split, metadata and imported tags) and then counts as ``unchanged``; any difference is
a 409 naming the row. An import that creates nothing writes nothing at all (no batch, no audit
event, ``batch_id`` None), which is what makes re-sending a file harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import execute_core
from app.db.models import ImportBatch, Item, ItemTag, Project, Tag, User
from app.domain.audit import record_event
from app.domain.bulk_insert import bulk_insert
from app.domain.errors import Conflict, NotFound
from app.domain.import_files import MAX_REPORTED_ERRORS, RowErrors
from app.domain.item_parsing import ItemRow, duplicate_ids
from app.domain.stats import queue_recount

LOOKUP_CHUNK = 1000
"""Ids per ``IN (...)`` lookup; well under SQLite's and PostgreSQL's parameter limits."""


@dataclass(frozen=True)
class ImportResult:
    """What an import did: items created, rows that matched existing items, and its batch."""

    created: int
    unchanged: int
    batch_id: int | None


@dataclass(frozen=True)
class _Stored:
    id: int
    text_hash: str
    split: str
    metadata: dict[str, Any]


def text_hash(text: str) -> str:
    """The SHA-256 of an item's text (hex), stored to spot changed re-sends cheaply."""
    return hashlib.sha256(text.encode()).hexdigest()


def chunks(values: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterable[Sequence[Any]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def get_item(session: Session, project: Project, external_id: str) -> Item:
    """The project's item with this external_id, or NotFound."""
    item = session.scalar(
        select(Item).where(Item.project_id == project.id, Item.external_id == external_id)
    )
    if item is None:
        raise NotFound(f"no item {external_id!r} in project {project.slug!r}")
    return item


_EXTERNAL_ID = select(Item.external_id).where(Item.id == bindparam("item_id"))


def item_external_id(session: Session, item_id: int) -> str:
    """An item's external id, read alone (an answer naming the item needs no more of it)."""
    external_id = execute_core(session, _EXTERNAL_ID, {"item_id": item_id}).scalar()
    if external_id is None:
        raise NotFound(f"no item with id {item_id}")
    return external_id


def project_tag_ids(session: Session, project: Project) -> dict[str, int]:
    """The project's tag ids by name."""
    rows = session.execute(select(Tag.name, Tag.id).where(Tag.project_id == project.id))
    return {name: tag_id for name, tag_id in rows}


def _stored_items(session: Session, project: Project, ids: Sequence[str]) -> dict[str, _Stored]:
    found: dict[str, _Stored] = {}
    for part in chunks(ids):
        rows = session.execute(
            select(Item.external_id, Item.id, Item.text_hash, Item.split, Item.metadata_).where(
                Item.project_id == project.id, Item.external_id.in_(part)
            )
        )
        for external_id, item_id, digest, split, metadata in rows:
            found[external_id] = _Stored(item_id, digest, split, metadata or {})
    return found


def _imported_tags(session: Session, item_ids: Sequence[int]) -> dict[int, set[str]]:
    tags: dict[int, set[str]] = {item_id: set() for item_id in item_ids}
    for part in chunks(item_ids):
        rows = session.execute(
            select(ItemTag.item_id, Tag.name)
            .join(Tag, Tag.id == ItemTag.tag_id)
            .where(ItemTag.item_id.in_(part), ItemTag.source == "import")
        )
        for item_id, name in rows:
            tags[item_id].add(name)
    return tags


def _check_tags(rows: Sequence[ItemRow], known: dict[str, int], create_tags: bool) -> list[str]:
    """The tag names to create; without ``create_tags`` an unknown tag is a 422 naming the row."""
    errors = RowErrors()
    missing: dict[str, None] = {}
    for row in rows:
        for name in row.tags:
            if name not in known:
                missing.setdefault(name)
                if not create_tags and not errors.full:
                    errors.add(
                        row.record,
                        "tags",
                        f"{name!r} is not a tag of this project "
                        "(create it first, or import with create_tags=true)",
                    )
    errors.raise_if_any("the items were not imported")
    return list(missing)


def _differences(row: ItemRow, digest: str, stored: _Stored, tags: set[str]) -> list[str]:
    differences = []
    if digest != stored.text_hash:
        differences.append("text")
    if row.split != stored.split:
        differences.append(f"split ({stored.split} → {row.split})")
    if set(row.tags) != tags:
        differences.append("tags")
    if row.metadata != stored.metadata:
        differences.append("metadata")
    return differences


def _split_new_and_unchanged(
    session: Session, project: Project, rows: Sequence[ItemRow]
) -> tuple[list[tuple[ItemRow, str]], int]:
    """Rows to create (with their text hash) and how many match stored items; 409 on a clash."""
    stored = _stored_items(session, project, [row.external_id for row in rows])
    tags = _imported_tags(session, [s.id for s in stored.values()])
    new: list[tuple[ItemRow, str]] = []
    unchanged = 0
    clashes: list[dict[str, Any]] = []
    for row in rows:
        digest = text_hash(row.text)
        old = stored.get(row.external_id)
        if old is None:
            new.append((row, digest))
            continue
        differences = _differences(row, digest, old, tags[old.id])
        if not differences:
            unchanged += 1
        elif len(clashes) < MAX_REPORTED_ERRORS:
            clashes.append(
                {
                    "row": row.record.row,
                    "line": row.record.line,
                    "external_id": row.external_id,
                    "differs_in": differences,
                    "message": f"{row.where}: item {row.external_id!r} already exists with a "
                    f"different {', '.join(differences)}",
                }
            )
    if clashes:
        first = clashes[0]["message"]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise Conflict(
            f"the items were not imported: {first}{more}; imported items never change, "
            "so give changed items a new external_id",
            details={"conflicts": clashes},
            code="item_changed",
        )
    return new, unchanged


def _create_tags(
    session: Session, project: Project, names: Sequence[str], known: dict[str, int]
) -> dict[str, int]:
    if not names:
        return known
    now = utcnow()
    session.execute(
        insert(Tag),
        [{"project_id": project.id, "name": name, "created_at": now} for name in names],
    )
    return project_tag_ids(session, project)


def import_items(
    session: Session,
    project: Project,
    rows: Sequence[ItemRow],
    *,
    actor: User,
    create_tags: bool = False,
    source: str = "api",
    filename: str = "",
) -> ImportResult:
    """Import item rows all-or-nothing; see the module docstring for what counts as a clash."""
    errors = RowErrors()
    duplicate_ids(rows, errors)
    errors.raise_if_any("the items were not imported")
    known = project_tag_ids(session, project)
    to_create = _check_tags(rows, known, create_tags)
    new, unchanged = _split_new_and_unchanged(session, project, rows)
    if not new:
        return ImportResult(created=0, unchanged=unchanged, batch_id=None)
    try:
        # A concurrent import (PostgreSQL) may add the same ids or tags after our checks; the
        # unique constraints refuse them and the caller gets a 409 instead of a 500.
        with session.begin_nested():
            batch = _write(
                session, project, new, unchanged, to_create, known, actor, source, filename
            )
    except IntegrityError:
        raise Conflict(
            "another import added some of these items or tags at the same time; "
            "nothing was imported, send the file again"
        ) from None
    record_event(
        session,
        "items.imported",
        actor_id=actor.id,
        project_id=project.id,
        subject_type="import_batch",
        subject_id=batch.id,
        created=batch.n_created,
        unchanged=unchanged,
        source=source,
        filename=filename,
        tags_created=to_create,
    )
    queue_recount(session, project.id, actor_id=actor.id)
    return ImportResult(created=batch.n_created, unchanged=unchanged, batch_id=batch.id)


def _write(
    session: Session,
    project: Project,
    new: Sequence[tuple[ItemRow, str]],
    unchanged: int,
    to_create: Sequence[str],
    known: dict[str, int],
    actor: User,
    source: str,
    filename: str,
) -> ImportBatch:
    now = utcnow()
    tag_ids = _create_tags(session, project, to_create, known)
    batch = ImportBatch(
        project_id=project.id,
        kind="items",
        source=source[:40],
        filename=filename[:300],
        n_created=len(new),
        n_unchanged=unchanged,
        created_at=now,
        created_by_id=actor.id,
    )
    session.add(batch)
    session.flush()
    bulk_insert(
        session,
        Item,
        [
            {
                "project_id": project.id,
                "external_id": row.external_id,
                "text": row.text,
                "text_hash": digest,
                "split": row.split,
                "metadata": row.metadata,
                "priority": 0,
                "import_batch_id": batch.id,
                "created_at": now,
            }
            for row, digest in new
        ],
    )
    tagged = [(row.external_id, row.tags) for row, _ in new if row.tags]
    if tagged:
        ids = dict(
            session.execute(
                select(Item.external_id, Item.id).where(Item.import_batch_id == batch.id)
            ).all()
        )
        bulk_insert(
            session,
            ItemTag,
            [
                {
                    "item_id": ids[external_id],
                    "tag_id": tag_ids[name],
                    "source": "import",
                    "added_by_id": actor.id,
                    "added_at": now,
                }
                for external_id, names in tagged
                for name in names
            ],
        )
    return batch
