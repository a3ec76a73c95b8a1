"""The labels in force on a project's tagged items, kept between readers and brought up to date.

Every edge-case tag's slice (:func:`~app.domain.agreement.tag_slices`) is measured from the
labels in force on the tagged items: a fifth of a large project's labels, about a second to read
on a million items, and a streamed export must have them before its first row. Labels are only
ever added or retracted (never changed), so the set last read is kept in the database for every
process (:class:`~app.db.models.KeptTaggedLabels`) with the point it was read at: the project's
annotation and retraction counts and the highest annotation id. The next reader, in one read
transaction, reads that point again and then only

* the annotations with higher ids (their count must close the gap between the two counts, or one
  committed late under a lower id: the set is read whole), keeping the live ones on tagged items
  in their item's current round, and
* when the retraction count moved, the ids of the retracted annotations, dropped from the set.

The caught-up set is written back once the labels made since the kept one are worth it
(:data:`REKEEP_AFTER`). Anything else that changes what is in force (an item tagged, a re-label
campaign, another version of Accord) changes the kept set's ``inputs`` and has it read whole.
Keeping needs every read in one transaction, so it happens only inside a bulk read
(:mod:`app.db.bulk_read`: large projects, the ones it pays for); smaller projects read the set
each time.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app import __version__
from app.db.base import utcnow
from app.db.bulk_read import WROTE, open_reader, prefetch
from app.db.engine import dialect_insert, json_as_text, read_frame, unindexed
from app.db.models import Annotation, ItemTag, KeptTaggedLabels, Project, RelabelCampaign
from app.db.per_transaction import per_transaction
from app.domain.agreement_store import STORE_MIN_ANNOTATIONS, write_aside
from app.domain.projects import tag_names
from app.domain.ratings import (
    TAGGED_ITEM_SCHEMA,
    in_force,
    labels_schema,
    named_tags,
    read_tagged_labels,
)

REKEEP_AFTER = 0.02
"""The share of new annotations (next to the kept labels) after which the kept set is rewritten."""


@dataclass(frozen=True)
class LabelsPoint:
    """Where a project's labels stood, read in one statement: counts only ever grow, so any new
    label, retraction, tagged item or campaign moves it."""

    annotations: int
    """The project's annotations, live or retracted."""
    retractions: int
    last_annotation_id: int
    """The highest annotation id of any project."""
    item_tags: int
    campaign: int | None
    """The latest re-label campaign."""

    def inputs(self, project: Project) -> str:
        """What, when it changes, has the kept labels read whole."""
        text = repr((__version__, project.kind, self.item_tags, self.campaign))
        return hashlib.sha256(text.encode()).hexdigest()


_POINTS = per_transaction("accord_labels_points")


def labels_point(session: Session, project: Project, tag_ids: list[int]) -> LabelsPoint:
    """The project's :class:`LabelsPoint` (``tag_ids``: its tags), read once per read
    transaction: the bulk read's while one is open (the point then describes exactly what its
    reads see), else the session's, again after it writes. A point a bulk read saw is then the
    session's too: what the transaction goes on to report (a snapshot's manifest after its
    rows) describes the rows it read, even if labels were committed meanwhile."""
    reader = open_reader(session)
    wrote = session.connection().info.get(WROTE)
    shared: dict[int, LabelsPoint] = {} if wrote else session.info.setdefault(_POINTS, {})
    memo = reader.memo if reader is not None else shared
    if project.id not in memo:
        row = read_frame(session, _point_query(project, tag_ids), _POINT_SCHEMA).row(0, named=True)
        row["last_annotation_id"] = row["last_annotation_id"] or 0
        memo[project.id] = shared[project.id] = LabelsPoint(**row)
    point: LabelsPoint = memo[project.id]
    return point


def tagged_ratings(
    session: Session, project: Project, names: dict[int, str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The labels in force on items carrying the tags ``names`` (the project's, by id) as
    ratings (item, annotator, value), and the (item, tag) pairs: the inputs of every tag's
    slice, kept and brought up to date where it pays (see the module docstring)."""
    reader = open_reader(session)
    if reader is None or not names:
        labels, tags = read_tagged_labels(session, project, list(names))
    else:
        point = labels_point(session, project, list(names))
        kept = session.get(KeptTaggedLabels, project.id)
        found = _brought_up_to_date(session, project, kept, point) if kept else None
        labels, tags = found or read_tagged_labels(session, project, list(names))
        if (
            _worth_keeping(kept, point, found is None, labels.height)
            and not reader.failed
            and point.annotations >= STORE_MIN_ANNOTATIONS
        ):
            _keep(session, project, point, labels, tags)
    return labels.select("item", "annotator", "value"), named_tags(
        tags.select("item", "tag_id"), names
    ).unique()


def prefetch_catching_up(session: Session, project: Project) -> None:
    """Inside a bulk read, have the reader start now on what the tags' slices read first (the
    point, and the labels made and retracted since the kept ones): a streamed export asks
    before its first range's reads, so that it learns whether its tags' slices are stored, and
    brings their labels up to date when they are not, without waiting for that range."""
    if open_reader(session) is None:
        return
    tag_ids = list(tag_names(session, project))
    queries = [_point_query(project, tag_ids)]
    last = (
        None
        if not tag_ids
        else session.scalar(
            select(KeptTaggedLabels.last_annotation_id).where(
                KeptTaggedLabels.project_id == project.id
            )
        )
    )
    if last is not None:
        queries += [_new_labels_query(session, project, last), _retracted_query(project)]
    prefetch(session, queries)


_POINT_SCHEMA = {
    "annotations": pl.Int64,
    "retractions": pl.Int64,
    "last_annotation_id": pl.Int64,
    "item_tags": pl.Int64,
    "campaign": pl.Int64,
}


def _point_query(project: Project, tag_ids: list[int]) -> Select[*tuple[Any, ...]]:
    counted = (
        select(func.count()).select_from(Annotation).where(Annotation.project_id == project.id)
    )
    return select(
        counted.scalar_subquery().label("annotations"),
        counted.where(Annotation.retracted_at.is_not(None)).scalar_subquery().label("retractions"),
        select(func.max(Annotation.id)).scalar_subquery().label("last_annotation_id"),
        select(func.count())
        .select_from(ItemTag)
        .where(ItemTag.tag_id.in_(tag_ids))
        .scalar_subquery()
        .label("item_tags"),
        select(func.max(RelabelCampaign.id))
        .where(RelabelCampaign.project_id == project.id)
        .scalar_subquery()
        .label("campaign"),
    )


_NEW_LABELS_SCHEMA = {
    "item_id": pl.Int64,
    "annotator": pl.Int64,
    "json": pl.String,
    "round": pl.Int64,
    "id": pl.Int64,
    "retracted_at": pl.Datetime("us"),
}


def _new_labels_query(
    session: Session, project: Project, last_annotation_id: int
) -> Select[*tuple[Any, ...]]:
    """The project's annotations after ``last_annotation_id``, live or not."""
    return select(
        Annotation.item_id,
        Annotation.user_id,
        json_as_text(session, Annotation.value),
        Annotation.label_round,
        Annotation.id,
        Annotation.retracted_at,
    ).where(
        # The id range, not the project's index: the new labels are few.
        unindexed(Annotation.project_id) == project.id,
        Annotation.id > last_annotation_id,
    )


def _retracted_query(project: Project) -> Select[*tuple[Any, ...]]:
    return select(Annotation.id).where(
        Annotation.project_id == project.id, Annotation.retracted_at.is_not(None)
    )


def _worth_keeping(
    kept: KeptTaggedLabels | None, point: LabelsPoint, read_whole: bool, n_labels: int
) -> bool:
    """Whether to write the labels read at ``point`` in place of ``kept``: when they were read
    whole, or once the annotations made since ``kept`` (in any project: the catching up walks
    their ids) outnumber :data:`REKEEP_AFTER` of the labels. Until then reading those few again
    costs less than writing every label (3 MB on a million items)."""
    if kept is None or read_whole:
        return True
    return point.last_annotation_id - kept.last_annotation_id > REKEEP_AFTER * n_labels


def _brought_up_to_date(
    session: Session, project: Project, kept: KeptTaggedLabels, point: LabelsPoint
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """The ``kept`` labels and tags brought up to ``point``, or None when they must be read
    whole."""
    if kept.inputs != point.inputs(project):
        return None
    added = point.annotations - kept.annotations
    if added < 0 or point.retractions < kept.retractions:
        return None
    labels = pl.read_parquet(io.BytesIO(kept.ratings))
    tags = pl.read_parquet(io.BytesIO(kept.tags))
    if added > labels.height:  # as many new labels as kept ones: reading whole costs less
        return None
    new = read_frame(
        session,
        _new_labels_query(session, project, kept.last_annotation_id),
        _NEW_LABELS_SCHEMA,
    )
    if new.height != added:  # one committed after the kept read under a lower id
        return None
    if point.retractions != kept.retractions:
        retracted = read_frame(session, _retracted_query(project), {"id": pl.Int64})
        labels = labels.filter(~pl.col("id").is_in(retracted["id"].implode()))
    fresh = in_force(project, new.filter(pl.col("retracted_at").is_null()), tags)
    return pl.concat([labels, fresh]), tags


def _keep(
    session: Session, project: Project, point: LabelsPoint, labels: pl.DataFrame, tags: pl.DataFrame
) -> None:
    values: dict[str, Any] = {
        "project_id": project.id,
        "inputs": point.inputs(project),
        "annotations": point.annotations,
        "retractions": point.retractions,
        "last_annotation_id": point.last_annotation_id,
        "ratings": _parquet(labels.select(*labels_schema(project))),
        "tags": _parquet(tags.select(*TAGGED_ITEM_SCHEMA)),
        "kept_at": utcnow(),
    }

    def write(s: Session) -> None:
        statement = dialect_insert(s)(KeptTaggedLabels).values(**values)
        s.execute(
            statement.on_conflict_do_update(
                index_elements=[KeptTaggedLabels.project_id],
                set_={name: statement.excluded[name] for name in values if name != "project_id"},
            )
        )

    write_aside(session, write, f"the tagged labels of project {project.id}")


def _parquet(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out, compression="lz4", statistics=False)
    return out.getvalue()
