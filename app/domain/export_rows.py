"""Building an export's rows with Polars, a range of items at a time.

Every figure of a row depends on its own item only, except what is project-wide and small (the
rule version per tag, tag alphas, the normalized texts of eval and holdout items), which is read
once. So items are processed in id ranges of ``CHUNK_ITEMS``: each range reads its items, tags,
labels and rulings, and yields its rows; memory stays flat whatever the project's size, and
JSONL and CSV stream range by range. The tag alphas judge the rows once they are built
(:mod:`app.domain.export_reliability`), so a whole-frame export can measure them from its own
ranges. See :mod:`app.domain.export` for what the rows mean.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.db.bulk_read import bulk_reads, prefetch
from app.db.engine import decode_json, read_frame
from app.db.models import Item, Project
from app.domain.agreement import agreement_report, remembered_tag_slices, tag_slices
from app.domain.export import ExportRequest, pseudonym, rule_versions
from app.domain.export_reads import (
    SpecVersions,
    exported_labels,
    iso_utc,
    item_tags_query,
    items_query,
    labels_query,
    read_item_tags,
    read_items,
    read_labels,
    read_rulings,
    rulings_query,
)
from app.domain.export_reliability import Reliability, TaggedLabels, judged
from app.domain.projects import tag_names
from app.domain.ratings import VALUE_TYPES
from app.domain.tagged_labels import prefetch_catching_up

CHUNK_ITEMS = 50_000
ITEM_COLUMNS = (
    "external_id",
    "text",
    "tags",
    "split",
    "rule_versions",
    "leak_risk",
)
"""The item's columns of a row as a range builds it (:func:`judged` adds ``tags_reliable``)."""
_TAGS = pl.List(pl.String)


@dataclass(frozen=True)
class _ProjectFigures:
    """What every range needs: project-wide and small."""

    rule_versions: dict[str, int]
    versions: SpecVersions
    tag_names: dict[int, str]
    held_out: pl.Series


def export_rows(session: Session, project: Project, request: ExportRequest) -> pl.DataFrame:
    """The whole export as one frame (Parquet, snapshots).

    When the tags' slices are not remembered, they are measured from the labels the ranges read
    (:class:`~app.domain.export_reliability.TaggedLabels`) and the rows judged at the end,
    instead of reading the tagged items' labels first as a streamed export must.
    """
    if remembered_tag_slices(session, project) is not None:
        frames = list(export_frames(session, project, request))
    else:
        gathered = TaggedLabels()
        built = list(_in_background(_frames(session, project, request, gathered)))
        assert gathered.reliability is not None  # measured after the last range
        frames = [judged(frame, request, gathered.reliability) for frame in built]
    # Every range's frame has the columns, so an export without rows keeps its schema.
    return pl.concat(
        [frame for frame in frames if frame.height] or frames[:1], how="diagonal_relaxed"
    )


def export_frames(
    session: Session, project: Project, request: ExportRequest
) -> Iterator[pl.DataFrame]:
    """The export's rows, one frame per range of ``CHUNK_ITEMS`` item ids, all read in one
    transaction (in bulk when the project is large: see :mod:`app.db.bulk_read`)."""
    return _in_background(_frames(session, project, request, None))


def _in_background(frames: Generator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """``frames``, each built on a thread of its own while the caller writes out the one
    before: Polars lets go of the GIL, so building and writing share the cores."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export") as builder:
        try:
            upcoming = builder.submit(next, frames, None)
            while (frame := upcoming.result()) is not None:
                upcoming = builder.submit(next, frames, None)
                yield frame
        finally:
            wait([upcoming])  # never two threads in the generator: it uses the session
            frames.close()


def _frames(
    session: Session, project: Project, request: ExportRequest, gathered: TaggedLabels | None
) -> Generator[pl.DataFrame]:
    """The ranges' frames: judged, or with ``gathered`` unjudged while the tagged items' labels
    are gathered, measured after the last range (``gathered.reliability``)."""
    # A project without items still gets one (empty) range: its frame carries the columns.
    bounds = _item_ids(session, project) or (0, 0)
    first, last = bounds
    split = request.split if gathered is None else "all"  # gathering reads every split's items
    with bulk_reads(session, rows=_rows_read(project, bounds)):
        # The reader starts on the first range while the project-wide figures are worked out,
        # on the second while the tags' reliability is measured (unless it is gathered), and
        # then stays a range ahead of the one being built.
        prefetch(session, [_held_out_query(project)])
        if gathered is None:  # the tags' slices may have to be measured before the first range
            prefetch_catching_up(session, project)

        def queue(low: int) -> None:
            if low <= last:
                _prefetch(session, project, request, split, low)

        queue(first)
        figures = _project_figures(session, project)
        slices = None
        if gathered is None:
            slices = tag_slices(session, project, meanwhile=lambda: queue(first + CHUNK_ITEMS))
        else:
            queue(first + CHUNK_ITEMS)
        # The overall figure reads every label: only a min_alpha gate (on untagged items) needs it.
        overall = None
        if request.min_alpha is not None:
            overall = agreement_report(session, project).overall.alpha
        reliability = Reliability.of(slices, overall) if slices is not None else None
        for low in range(first, last + 1, CHUNK_ITEMS):
            if low > first:  # the second range was queued with the project figures
                queue(low + CHUNK_ITEMS)
            high = low + CHUNK_ITEMS - 1
            frame = _range(session, project, request, figures, low, high, split, gathered)
            if reliability is not None:
                frame = judged(frame, request, reliability)
            yield frame
        if gathered is not None:
            gathered.measure(session, project, figures.tag_names, overall)


def _prefetch(
    session: Session, project: Project, request: ExportRequest, split: str, low: int
) -> None:
    """Queue the reads of the range from ``low``, in the order :func:`_range` makes them."""
    high = low + CHUNK_ITEMS - 1
    queries = [
        items_query(project, split, low, high),
        item_tags_query(low, high),
        labels_query(session, project, low, high),
    ]
    if request.consensus != "all_annotations":
        queries.append(rulings_query(session, project, low, high))
    prefetch(session, queries)


def _project_figures(session: Session, project: Project) -> _ProjectFigures:
    texts = read_frame(session, _held_out_query(project), {"text": pl.String})
    return _ProjectFigures(
        rule_versions(session, project),
        SpecVersions.of(session, project),
        tag_names(session, project),
        texts.select(_normalized(pl.col("text")))["text"],
    )


def _item_ids(session: Session, project: Project) -> tuple[int, int] | None:
    low, high = session.execute(
        select(func.min(Item.id), func.max(Item.id)).where(Item.project_id == project.id)
    ).one()
    return None if low is None else (int(low), int(high))


def expected_rows(session: Session, project: Project) -> int:
    """About how many rows an export of the project reads (items and their labels)."""
    bounds = _item_ids(session, project)
    return 0 if bounds is None else _rows_read(project, bounds)


def _rows_read(project: Project, bounds: tuple[int, int]) -> int:
    return (bounds[1] - bounds[0] + 1) * (1 + project.overlap)


def _held_out_query(project: Project) -> Select[*tuple[Any, ...]]:
    return select(Item.text).where(
        Item.project_id == project.id, Item.split.in_(("eval", "holdout"))
    )


def _normalized(text: pl.Expr) -> pl.Expr:
    return text.str.replace_all(r"\s+", " ").str.strip_chars().str.to_lowercase()


def _range(
    session: Session,
    project: Project,
    request: ExportRequest,
    figures: _ProjectFigures,
    low: int,
    high: int,
    split: str,
    gathered: TaggedLabels | None,
) -> pl.DataFrame:
    """The rows of the items ``low`` to ``high`` (not judged: :func:`judged` does that), read
    from the items of ``split`` (every split's while ``gathered`` takes the tagged labels)."""
    items = read_items(session, project, split, low, high)
    tags = read_item_tags(session, figures.tag_names, low, high)
    labels = read_labels(session, project, low, high)
    if gathered is not None:
        gathered.add(items, tags, labels)
    if split != request.split:
        items = items.filter(pl.col("split") == request.split)
    items = _items(request, figures, items, tags)
    labels = exported_labels(labels, items, figures.versions, request)
    people = {
        user_id: pseudonym(project, user_id) for user_id in labels["user_id"].unique().to_list()
    }
    # Pseudonyms in sorted order as small integers: sorting those is cheap, sorting text is not.
    order = {name: rank for rank, name in enumerate(sorted(people.values()))}
    labels = labels.with_columns(
        annotator=pl.col("user_id").replace_strict(people, return_dtype=pl.String),
        annotator_rank=pl.col("user_id").replace_strict(
            {user_id: order[name] for user_id, name in people.items()}, return_dtype=pl.UInt32
        ),
    )
    dtype = VALUE_TYPES.get(project.kind, pl.String)
    if request.consensus == "all_annotations":
        labels = labels.sort("item_id", "created_at", "user_id").with_columns(  # in the order given
            created_at=iso_utc(pl.col("created_at"))
        )
        if request.since is not None:
            labels = labels.filter(pl.col("created_at") > request.since)
        rows = items.join(labels, left_on="id", right_on="item_id", maintain_order="left")
        return rows.select(
            *ITEM_COLUMNS,
            label=decode_json(rows["key"], dtype),
            annotator="annotator",
            spec_version="number",
            stale="stale",
            labeled_at="created_at",
        )
    rulings = read_rulings(session, project, figures.versions, low, high)
    # Rows follow the items' order (by id): the same data always exports the same bytes.
    rows = items.join(_votes(labels), left_on="id", right_on="item_id", maintain_order="left").join(
        rulings, left_on="id", right_on="item_id", how="left", maintain_order="left"
    )
    if request.since is not None:
        changed = pl.max_horizontal("last_labeled_at", pl.col("ruled_at").fill_null(""))
        rows = rows.filter(changed > request.since)
    rows = _decided(rows, request.consensus)
    if request.min_item_agreement is not None:
        rows = rows.filter(pl.col("item_agreement") >= request.min_item_agreement)
    return rows.select(
        *ITEM_COLUMNS,
        label=decode_json(rows["label_json"], dtype),
        decided_by="decided_by",
        vote_share="vote_share",
        n_annotators="n_annotators",
        item_agreement="item_agreement",
        spec_version="spec_version",
        stale="stale",
        annotators="annotators",
        first_labeled_at="first_labeled_at",
        last_labeled_at="last_labeled_at",
    )


def _items(
    request: ExportRequest, figures: _ProjectFigures, items: pl.DataFrame, tags: pl.DataFrame
) -> pl.DataFrame:
    """The ``items`` that pass the tag and leak filters, with their tags (``tags``: item_id,
    tag), leak risk and rule versions."""
    lists = tags.sort("item_id", "tag").group_by("item_id", maintain_order=True).agg("tag")
    items = items.join(
        lists, left_on="id", right_on="item_id", how="left", maintain_order="left"
    ).with_columns(tags=pl.col("tag").fill_null(pl.lit([], dtype=_TAGS)))
    if request.tags:
        items = items.filter(
            pl.col("tags").list.eval(pl.element().is_in(list(request.tags))).list.any()
        )
    leak = pl.lit(False)
    if figures.held_out.len():  # normalizing every text costs; without held-out texts, no leak
        duplicate = _normalized(pl.col("text")).is_in(figures.held_out.implode())
        leak = (pl.col("split") == "train") & duplicate
    items = items.with_columns(leak_risk=leak)
    if not request.include_leak_risk:
        items = items.filter(~pl.col("leak_risk"))
    return items.with_columns(
        rule_versions=pl.col("tags").list.eval(
            pl.struct(
                tag=pl.element(),
                spec_version=pl.element().replace_strict(
                    figures.rule_versions, default=None, return_dtype=pl.Int64
                ),
            )
        ),
    )


def _votes(labels: pl.DataFrame) -> pl.DataFrame:
    """Per item: the most given value (ties broken by value), its count, the total, item
    agreement (share of agreeing pairs) and the provenance columns."""
    counts = labels.group_by("item_id", "key").agg(n=pl.len())
    ranked = counts.sort(["item_id", "n", "key"], descending=[False, True, False])
    # Groups keep their rows' order, so first() is the top value (the groups' own order does
    # not matter: rows are joined to the items afterwards).
    tops = ranked.group_by("item_id").agg(
        top_key=pl.col("key").first(),
        top_n=pl.col("n").first(),
        pairs=(pl.col("n") * (pl.col("n") - 1)).sum(),
    )
    meta = labels.group_by("item_id").agg(
        n_annotators=pl.len(),
        spec_version=pl.col("number").max(),
        stale=pl.col("stale").any(),
        first_labeled_at=iso_utc(pl.col("created_at").min()),
        last_labeled_at=iso_utc(pl.col("created_at").max()),
    )
    annotators = (
        labels.select("item_id", "annotator", "annotator_rank")
        .sort("annotator_rank")
        .group_by("item_id")
        .agg(annotators="annotator")
    )
    n = pl.col("n_annotators")
    return (
        tops.join(meta, on="item_id")
        .join(annotators, on="item_id")
        .with_columns(item_agreement=pl.when(n >= 2).then(pl.col("pairs") / (n * (n - 1))))
    )


def _decided(rows: pl.DataFrame, policy: str) -> pl.DataFrame:
    """Apply the consensus policy: the label (as JSON text), how it was decided, its share."""
    n, top = pl.col("n_annotators"), pl.col("top_n")
    unanimous = (n >= 2) & (top == n)
    majority = top * 2 > n
    voted = pl.when(unanimous).then(pl.lit("unanimous")).otherwise(pl.lit("majority"))
    share = top / n
    if policy == "unanimous":
        rows = rows.filter(unanimous)
        return rows.with_columns(
            label_json=pl.col("top_key"), decided_by=pl.lit("unanimous"), vote_share=share
        )
    if policy == "adjudicated_then_majority":
        ruled = pl.col("ruling").is_not_null()
        rows = rows.filter(ruled | majority)
        return rows.with_columns(
            label_json=pl.when(ruled).then(pl.col("ruling")).otherwise(pl.col("top_key")),
            decided_by=pl.when(ruled).then(pl.lit("adjudicated")).otherwise(voted),
            vote_share=pl.when(ruled).then(None).otherwise(share),
        )
    rows = rows.filter(majority)  # ties have no majority to report
    return rows.with_columns(label_json=pl.col("top_key"), decided_by=voted, vote_share=share)
