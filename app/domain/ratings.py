"""A project's labels as ratings frames (unit, annotator, value), which agreement measures.

Values come as their JSON text and are decoded by Polars in one pass: decoding a million JSON
values row by row in Python would cost more than the whole analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import polars as pl
from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.orm import Session, aliased

from app.db.engine import decode_json, json_as_text, read_frame, unindexed
from app.db.models import Annotation, Item, ItemTag, Project, SpecVersion, Tag

SpecSelection = int | Literal["current", "all"]
"""Which labels a report measures: see :mod:`app.domain.agreement`."""


def selected(selection: SpecSelection) -> ColumnElement[bool]:
    """The condition on live annotations (``Annotation``) that ``selection`` measures."""
    if selection == "all":
        return true()
    if selection == "current":
        # Its own alias: the caller's query may join items already.
        own = aliased(Item)
        return Annotation.label_round == (
            select(own.label_round).where(own.id == Annotation.item_id).scalar_subquery()
        )
    return Annotation.spec_version_id == (
        select(SpecVersion.id)
        .where(SpecVersion.project_id == Annotation.project_id, SpecVersion.number == selection)
        .scalar_subquery()
    )


VALUE_TYPES: dict[str, Any] = {"numeric": pl.Float64, "multi_choice": pl.List(pl.String)}
"""The Polars type of each project kind's values (labels are strings)."""


def ratings_frame(rows: list[tuple[Any, Any, Any]], kind: str) -> pl.DataFrame:
    """(unit, annotator id, value) rows as a ratings frame typed for the project kind."""
    return pl.DataFrame(
        {
            "item": pl.Series([str(unit) for unit, _, _ in rows], dtype=pl.String),
            "annotator": pl.Series([who for _, who, _ in rows], dtype=pl.Int64),
            "value": pl.Series(
                [value for _, _, value in rows], dtype=VALUE_TYPES.get(kind, pl.String)
            ),
        }
    )


def load_ratings(session: Session, project: Project, selection: SpecSelection) -> pl.DataFrame:
    """The ratings ``selection`` picks: item (the unit), annotator (user id), value, item_id."""
    query, columns = _ratings_query(session, project)
    # The unit is the item (an integer: cheaper to code than text); with every version's
    # labels, each of an item's labeling rounds is a unit of its own.
    unit = pl.col("item_id")
    if selection == "current":
        query = query.join(
            Item, (Item.id == Annotation.item_id) & (Item.label_round == Annotation.label_round)
        )
    elif selection == "all":
        query = query.add_columns(Annotation.label_round)
        columns["round"] = pl.Int64
        unit = pl.concat_str([unit.cast(pl.String), pl.lit("@"), pl.col("round").cast(pl.String)])
    else:
        query = query.where(selected(selection))
    raw = read_frame(session, query, columns)
    return raw.select(
        item=unit, annotator="annotator", value=decoded_values(project, raw), item_id="item_id"
    )


def read_tagged_labels(
    session: Session, project: Project, tag_ids: list[int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The live labels in force on items carrying any of the tags ``tag_ids`` (id, item,
    annotator, value) and those items' tags (item, tag_id, round: the item's labeling round):
    the inputs of every tag's slice, without reading the untagged items."""
    tags = pl.DataFrame(schema=TAGGED_ITEM_SCHEMA)
    labels = pl.DataFrame(schema=labels_schema(project))
    if not tag_ids:
        return labels, tags
    # The tagged items in item order (not by tag: their labels would be looked up all over the
    # table), their labels by the labels' item index, and the items' rounds apart: joining
    # items to the labels makes SQLite look up the item once per label.
    of_tags = unindexed(ItemTag.tag_id).in_(tag_ids)
    tags = read_frame(
        session,
        select(ItemTag.item_id, ItemTag.tag_id, Item.label_round)
        .join(Item, Item.id == ItemTag.item_id)
        .where(of_tags),
        TAGGED_ITEM_SCHEMA,
    )
    query, columns = _ratings_query(session, project, project_index=False)
    tagged_items = select(ItemTag.item_id).where(of_tags)
    raw = read_frame(
        session,
        query.add_columns(Annotation.label_round, Annotation.id).where(
            Annotation.item_id.in_(tagged_items)
        ),
        columns | {"round": pl.Int64, "id": pl.Int64},
    )
    return in_force(project, raw, tags), tags


TAGGED_ITEM_SCHEMA = {"item": pl.Int64, "tag_id": pl.Int64, "round": pl.Int64}
"""The columns of tagged items as :func:`read_tagged_labels` gives them."""


def labels_schema(project: Project) -> dict[str, Any]:
    """The columns of labels as :func:`read_tagged_labels` gives them."""
    return {
        "id": pl.Int64,
        "item": pl.Int64,
        "annotator": pl.Int64,
        "value": VALUE_TYPES.get(project.kind, pl.String),
    }


def named_tags(pairs: pl.DataFrame, names: Mapping[int, str]) -> pl.DataFrame:
    """``pairs`` (an item column and ``tag_id``) of the tags ``names`` holds (by id), with the
    tag's name (``tag``) in place of its id."""
    return (
        pairs.filter(pl.col("tag_id").is_in(list(names)))
        .with_columns(pl.col("tag_id").replace_strict(dict(names), return_dtype=pl.String))
        .rename({"tag_id": "tag"})
    )


def in_force(project: Project, raw: pl.DataFrame, tags: pl.DataFrame) -> pl.DataFrame:
    """Of ``raw`` live labels (id, item_id, annotator, json, round), those of ``tags``' items
    (item, round) in the items' current round, decoded (id, item, annotator, value)."""
    rounds = tags.select(item_id="item", round="round").unique()
    kept = raw.join(rounds, on=["item_id", "round"])
    return kept.select(
        "id", item="item_id", annotator="annotator", value=decoded_values(project, kept)
    )


def _ratings_query(
    session: Session, project: Project, *, project_index: bool = True
) -> tuple[Select[*tuple[Any, ...]], dict[str, Any]]:
    """The project's live labels (item id, annotator, value as JSON text), and their types
    (``project_index=False``: a caller narrowing the items another way keeps SQLite's planner
    off the project's index)."""
    text = json_as_text(session, Annotation.value)
    project_id = Annotation.project_id if project_index else unindexed(Annotation.project_id)
    query = select(Annotation.item_id, Annotation.user_id, text).where(
        project_id == project.id, Annotation.retracted_at.is_(None)
    )
    return query, {"item_id": pl.Int64, "annotator": pl.Int64, "json": pl.String}


def decoded_values(project: Project, raw: pl.DataFrame) -> pl.Series:
    """The label values in the ``json`` column of ``raw`` (JSON text), as the project's kind
    types them."""
    return decode_json(raw["json"], VALUE_TYPES.get(project.kind, pl.String))


def load_tags(session: Session, project: Project, ratings: pl.DataFrame) -> pl.DataFrame:
    """(unit, tag) for the rated units: a unit carries its item's tags."""
    item_tags = read_frame(
        session,
        select(ItemTag.item_id, Tag.name)
        .join(Tag, Tag.id == ItemTag.tag_id)
        .where(Tag.project_id == project.id),
        {"item_id": pl.Int64, "tag": pl.String},
    )
    # Tagged items are few next to ratings: joining them to the ratings first keeps the
    # work (and memory) to the tagged ratings rather than every distinct unit.
    tagged = item_tags.join(ratings.select("item", "item_id"), on="item_id")
    return tagged.select("item", "tag").unique()
