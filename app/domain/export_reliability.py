"""Whether an export row's tags are reliable, the ``min_alpha`` gate, and measuring the tags'
slices from the labels an export reads anyway.

A row's ``tags_reliable`` depends on its item's tags alone: each tag's slice of the labels in
force (:func:`~app.domain.agreement.tag_slices`) must be judged reliable. So rows are built
without it and judged afterwards (:func:`judged`). A streamed export judges each range as it
goes, with slices stored or measured before its first row. A whole-frame export (Parquet, a
snapshot) whose slices are not stored yet measures them from its own ranges instead
(:class:`TaggedLabels`): every range reads all its live labels and, when gathering, its items of
every split, which together hold the tagged items' labels in force. That saves reading them a
second time, about a second on a million items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy.orm import Session

from app.db.models import Project
from app.domain.agreement import TagSlices, keep_tag_slices, measure_tag_slices
from app.domain.export import ExportRequest
from app.domain.ratings import decoded_values


@dataclass(frozen=True)
class Reliability:
    """The figures every row is judged by: per tag its alpha and whether it is reliable, and
    the overall alpha (None unless a ``min_alpha`` gate needs it for untagged items)."""

    tag_alpha: dict[str, float | None]
    reliable: frozenset[str]
    overall_alpha: float | None

    @classmethod
    def of(cls, slices: TagSlices, overall_alpha: float | None) -> Reliability:
        """The judgement of ``slices``."""
        return cls(
            {g.key: g.alpha for g in slices.groups},
            frozenset(g.key for g in slices.groups if g.reliable),
            overall_alpha,
        )


def judged(rows: pl.DataFrame, request: ExportRequest, figures: Reliability) -> pl.DataFrame:
    """``rows`` (with their ``tags``) without those a ``min_alpha`` gate excludes, with
    ``tags_reliable`` (null for untagged items) placed after ``rule_versions``."""
    has_tags = pl.col("tags").list.len() > 0
    if request.min_alpha is not None:
        floor = request.min_alpha
        passing = {t for t, a in figures.tag_alpha.items() if a is not None and a >= floor}
        overall_ok = figures.overall_alpha is not None and figures.overall_alpha >= floor
        rows = rows.filter(pl.when(has_tags).then(all_tags_in(passing)).otherwise(overall_ok))
    reliable = pl.when(has_tags).then(all_tags_in(figures.reliable)).alias("tags_reliable")
    return rows.insert_column(
        rows.columns.index("rule_versions") + 1, rows.select(reliable).to_series()
    )


def all_tags_in(names: frozenset[str] | set[str]) -> pl.Expr:
    """Whether every tag of the item is one of ``names``."""
    return pl.col("tags").list.eval(pl.element().is_in(list(names))).list.all()


@dataclass
class TaggedLabels:
    """The tagged items' labels in force and their tags, gathered range by range, then measured
    as :func:`~app.domain.agreement.tag_slices` would (and remembered as its)."""

    ratings: list[pl.DataFrame] = field(default_factory=list)
    tags: list[pl.DataFrame] = field(default_factory=list)
    reliability: Reliability | None = None
    """The judgement, once :meth:`measure` has run."""

    def add(self, items: pl.DataFrame, tags: pl.DataFrame, labels: pl.DataFrame) -> None:
        """One range: its ``items`` of every split (id, item_round), ``tags`` (item_id, tag) and
        live ``labels`` (item_id, user_id, key as JSON text, round)."""
        if not tags.height:
            return
        tagged = items.select(item_id="id", item_round="item_round").join(
            tags.select("item_id").unique(), on="item_id"
        )
        in_force = labels.join(tagged, on="item_id").filter(pl.col("round") == pl.col("item_round"))
        self.ratings.append(in_force.select(item="item_id", annotator="user_id", json="key"))
        self.tags.append(tags.select(item="item_id", tag="tag"))

    def measure(
        self,
        session: Session,
        project: Project,
        names: Mapping[int, str],
        overall_alpha: float | None,
    ) -> None:
        """Measure the slices of everything added (``names``: the project's tags), remember
        them for every later reader of the same labels, and judge by them
        (:attr:`reliability`)."""
        raw = pl.concat(self.ratings) if self.ratings else pl.DataFrame(schema=_RAW)
        ratings = raw.select("item", "annotator", value=decoded_values(project, raw))
        tags = pl.concat(self.tags).unique() if self.tags else pl.DataFrame(schema=_TAGS)
        slices = measure_tag_slices(session, project, ratings, tags, names)
        keep_tag_slices(session, project, slices, names)
        self.reliability = Reliability.of(slices, overall_alpha)


_RAW = {"item": pl.Int64, "annotator": pl.Int64, "json": pl.String}
_TAGS = {"item": pl.Int64, "tag": pl.String}
