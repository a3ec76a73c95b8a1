"""What an export reads for one range of item ids, as Polars frames.

Each read is a plain range scan of one table (items, item tags, live annotations, rulings) with
no joins and no per-row SQL functions: joining, filtering by spec version and staleness, and
formatting timestamps happen in Polars, which does them for a million rows in milliseconds,
while the same work in SQL costs more than reading the rows. The project condition goes through
:func:`~app.db.engine.unindexed_on_sqlite` so that SQLite, whose planner has no statistics,
walks the id range rather than the whole project once per range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.db.engine import json_as_text, read_frame, unindexed_on_sqlite
from app.db.models import Adjudication, Annotation, Item, ItemTag, Project, SpecVersion
from app.domain.export import ExportRequest
from app.domain.ratings import named_tags

ISO_MILLIS = "%Y-%m-%dT%H:%M:%S%.3fZ"
"""How exports write times: ISO 8601 in UTC with milliseconds (``2026-01-31T09:30:00.123Z``)."""


@dataclass(frozen=True)
class SpecVersions:
    """The project's spec versions: number per id, and the id of a selected number."""

    number_of: Mapping[int, int]

    @classmethod
    def of(cls, session: Session, project: Project) -> SpecVersions:
        """The project's versions, read once per export."""
        rows = session.execute(
            select(SpecVersion.id, SpecVersion.number).where(SpecVersion.project_id == project.id)
        )
        return cls({version_id: number for version_id, number in rows})

    def id_of(self, number: int) -> int | None:
        """The id of version ``number``, or None if the project has no such version."""
        return next((i for i, n in self.number_of.items() if n == number), None)


def items_query(project: Project, split: str, low: int, high: int) -> Select[*tuple[Any, ...]]:
    """The range's items (id, external_id, text, split, label_round) of ``split`` (or all)."""
    query = select(Item.id, Item.external_id, Item.text, Item.split, Item.label_round).where(
        unindexed_on_sqlite(Item.project_id) == project.id, Item.id.between(low, high)
    )
    return query if split == "all" else query.where(Item.split == split)


def read_items(session: Session, project: Project, split: str, low: int, high: int) -> pl.DataFrame:
    """The rows of :func:`items_query`, by id."""
    return read_frame(
        session,
        items_query(project, split, low, high),
        {
            "id": pl.Int64,
            "external_id": pl.String,
            "text": pl.String,
            "split": pl.String,
            "item_round": pl.Int64,
        },
    ).sort("id")


def item_tags_query(low: int, high: int) -> Select[*tuple[Any, ...]]:
    """(item_id, tag_id) of the range."""
    return select(ItemTag.item_id, ItemTag.tag_id).where(ItemTag.item_id.between(low, high))


def read_item_tags(
    session: Session, tag_names: Mapping[int, str], low: int, high: int
) -> pl.DataFrame:
    """(item_id, tag) of the range, tag names looked up from the project's ``tag_names``."""
    if not tag_names:
        return pl.DataFrame(schema={"item_id": pl.Int64, "tag": pl.String})
    pairs = read_frame(
        session, item_tags_query(low, high), {"item_id": pl.Int64, "tag_id": pl.Int64}
    )
    return named_tags(pairs, tag_names)


def labels_query(
    session: Session, project: Project, low: int, high: int
) -> Select[*tuple[Any, ...]]:
    """The range's live labels: item_id, user_id, value (JSON text), spec version id, round,
    created_at."""
    return select(
        Annotation.item_id,
        Annotation.user_id,
        json_as_text(session, Annotation.value),
        Annotation.spec_version_id,
        Annotation.label_round,
        Annotation.created_at,
    ).where(
        unindexed_on_sqlite(Annotation.project_id) == project.id,
        Annotation.item_id.between(low, high),
        Annotation.retracted_at.is_(None),
    )


def read_labels(session: Session, project: Project, low: int, high: int) -> pl.DataFrame:
    """The rows of :func:`labels_query`: item_id, user_id, key (the value's JSON text),
    version_id, round, created_at (naive UTC)."""
    return read_frame(
        session,
        labels_query(session, project, low, high),
        {
            "item_id": pl.Int64,
            "user_id": pl.Int64,
            "key": pl.String,
            "version_id": pl.Int64,
            "round": pl.Int64,
            "created_at": pl.Datetime("us"),
        },
    )


def exported_labels(
    labels: pl.DataFrame, items: pl.DataFrame, versions: SpecVersions, request: ExportRequest
) -> pl.DataFrame:
    """The ``labels`` (as :func:`read_labels` reads them) of ``items`` that the request exports,
    in no particular order: item_id, user_id, key, number (spec version), stale (from an
    earlier labeling round), created_at."""
    labels = labels.join(items.select(item_id="id", item_round="item_round"), on="item_id")
    stale = pl.col("round") < pl.col("item_round")
    keep = pl.lit(True)
    selection = request.spec_version
    if selection == "current" and not request.include_stale:
        keep = pl.col("round") == pl.col("item_round")
    elif isinstance(selection, int):
        keep = pl.col("version_id") == versions.id_of(selection)
    if not request.include_stale:
        keep = keep & ~stale
    return labels.filter(keep).select(
        "item_id",
        "user_id",
        "key",
        number=pl.col("version_id").replace_strict(dict(versions.number_of), return_dtype=pl.Int64),
        stale=stale,
        created_at="created_at",
    )


def rulings_query(
    session: Session, project: Project, low: int, high: int
) -> Select[*tuple[Any, ...]]:
    """The range's rulings: item_id, value (JSON text), created_at, spec version id, revision."""
    return select(
        Adjudication.item_id,
        json_as_text(session, Adjudication.value),
        Adjudication.created_at,
        Adjudication.spec_version_id,
        Adjudication.revision,
    ).where(
        unindexed_on_sqlite(Adjudication.project_id) == project.id,
        Adjudication.item_id.between(low, high),
    )


def read_rulings(
    session: Session, project: Project, versions: SpecVersions, low: int, high: int
) -> pl.DataFrame:
    """The latest ruling per item of the range (newest revision under the newest version):
    item_id, ruling (JSON text), ruled_at."""
    raw = read_frame(
        session,
        rulings_query(session, project, low, high),
        {
            "item_id": pl.Int64,
            "ruling": pl.String,
            "ruled_at": pl.Datetime("us"),
            "version_id": pl.Int64,
            "revision": pl.Int64,
        },
    )
    number = pl.col("version_id").replace_strict(dict(versions.number_of), return_dtype=pl.Int64)
    return (
        raw.sort("item_id", number, "revision")
        .group_by("item_id", maintain_order=True)
        .last()
        .select("item_id", "ruling", ruled_at=iso_utc(pl.col("ruled_at")))
    )


def iso_utc(moment: pl.Expr) -> pl.Expr:
    """A naive UTC timestamp column (as :func:`~app.db.engine.read_frame` reads them) as
    :data:`ISO_MILLIS` text."""
    return moment.dt.to_string(ISO_MILLIS)
