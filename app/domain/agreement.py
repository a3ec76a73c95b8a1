"""Agreement reports for a project: loading ratings into frames and measuring every slice.

The numbers always reflect every committed annotation: a report is cached per process (and, for
large projects, stored for every process: :mod:`app.domain.agreement_store`) under a
*watermark* (counts and latest ids/times of the project's annotations, item tags, rulings and
campaigns, and the current spec version) and recomputed as soon as the watermark moves. Per
annotator the report also gives accuracy against the ruling in force on adjudicated items.

What is measured (``spec_version``): ``current`` (the default) is the labels in force, those of
each item's current labeling round whatever version stamped them (a spec change that did not
touch an item leaves its labels counting); a number is the labels made under that version; ``all``
is every live label. A unit is an item, except under ``all``, where it is an (item, round) pair:
labels of an earlier round answered a question the spec has since changed.

Levels: single choice is nominal, ordinal is ordinal in the spec's label order, numeric is
interval, multi-choice uses the MASI set distance overall and yes/no per label.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import polars as pl
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session, aliased

from app.analytics.slices import Measure, Settings, Slice, by_annotator, by_label, by_tag
from app.analytics.slices import measure_slice as measure
from app.db.bulk_read import bulk_reads
from app.db.engine import decode_json, json_as_text, read_frame
from app.db.models import (
    Adjudication,
    Annotation,
    Item,
    ItemTag,
    Project,
    SpecVersion,
    Tag,
    User,
)
from app.domain.agreement_store import (
    store_reports,
    stored_reports,
    watermark,
    watermark_digest,
)
from app.domain.errors import InvalidInput
from app.domain.projects import current_spec, tag_names

GROUPINGS = ("tag", "label", "annotator")
MEASURES: dict[str, Measure] = {
    "single_choice": "nominal",
    "ordinal": "ordinal",
    "numeric": "interval",
    "multi_choice": "masi",
}
DEFAULT_RESAMPLES = 1000
MAX_RESAMPLES = 10_000
_CACHE_SIZE = 64


@dataclass(frozen=True)
class AgreementReport:
    """Overall agreement of a project (one spec version, or all) and, optionally, its groups."""

    measure: Measure
    spec_version: str
    overall: Slice
    by: str | None
    groups: list[Slice]
    names: dict[str, str]
    """Display names of group keys (label names for ``by=label``)."""


SpecSelection = int | Literal["current", "all"]
"""Which labels a report measures: see the module docstring."""


def parse_spec_version(session: Session, project: Project, raw: str | None) -> SpecSelection:
    """``current`` (default), ``all``, or a published version's number."""
    text = (raw or "current").strip()
    if text in ("current", "all"):
        return "current" if text == "current" else "all"
    if text.isdigit():
        number = int(text)
        exists = session.scalar(
            select(SpecVersion.id).where(
                SpecVersion.project_id == project.id,
                SpecVersion.number == number,
                SpecVersion.status == "published",
            )
        )
        if exists is not None:
            return number
    raise InvalidInput(
        f"spec_version must be a published version's number, current or all; not {text!r}",
        field_errors={"spec_version": "unknown spec version"},
    )


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


def load_ratings(session: Session, project: Project, selection: SpecSelection) -> pl.DataFrame:
    """The ratings ``selection`` picks: item (the unit), annotator (user id), value, item_id.

    Values come as their JSON text and are decoded by Polars in one pass: decoding a million
    JSON values row by row in Python would cost more than the whole analysis.
    """
    text = json_as_text(session, Annotation.value)
    columns: dict[str, Any] = {"item_id": pl.Int64, "annotator": pl.Int64, "json": pl.String}
    query = select(Annotation.item_id, Annotation.user_id, text).where(
        Annotation.project_id == project.id, Annotation.retracted_at.is_(None)
    )
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
        item=unit,
        annotator="annotator",
        value=decode_json(raw["json"], VALUE_TYPES.get(project.kind, pl.String)),
        item_id="item_id",
    )


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


_cache: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], AgreementReport]] = OrderedDict()
_cache_lock = threading.Lock()


def agreement_report(
    session: Session,
    project: Project,
    *,
    spec_version: str | None = "current",
    by: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
) -> AgreementReport:
    """Alpha with its bootstrap CI overall and per group (``tag``, ``label`` or ``annotator``)."""
    reports = agreement_reports(
        session,
        project,
        spec_version=spec_version,
        groupings=(by,),
        resamples=resamples,
        confidence=confidence,
    )
    return reports[by]


def agreement_reports(
    session: Session,
    project: Project,
    *,
    spec_version: str | None = "current",
    groupings: Sequence[str | None],
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
) -> dict[str | None, AgreementReport]:
    """One report per grouping (``None``: overall only), reading the ratings once for all those
    not cached: a dashboard asks for several at a time."""
    errors: dict[str, str] = {}
    unknown = [by for by in groupings if by is not None and by not in GROUPINGS]
    if unknown:
        errors["by"] = f"one of {', '.join(GROUPINGS)}"
    if not 0 <= resamples <= MAX_RESAMPLES:
        errors["resamples"] = f"between 0 and {MAX_RESAMPLES}"
    if not 0.5 <= confidence < 1:
        errors["confidence"] = "at least 0.5 and below 1"
    if errors:
        raise InvalidInput("the agreement request is not valid", field_errors=errors)
    selection = parse_spec_version(session, project, spec_version)
    bind = str(session.get_bind().engine.url)
    mark = watermark(session, project)
    reports: dict[str | None, AgreementReport] = {}
    missing = []
    with _cache_lock:
        for by in dict.fromkeys(groupings):
            cached = _cache.get((bind, project.id, selection, by, resamples, confidence))
            if cached is not None and cached[0] == mark:
                reports[by] = cached[1]
            else:
                missing.append(by)
    if not missing:
        return reports
    parameters = {by: f"{selection}|{by}|{resamples}|{confidence}" for by in missing}
    digest = watermark_digest(mark)
    stored = stored_reports(session, project.id, list(parameters.values()), digest)
    known = {by: AgreementReport(**stored[key]) for by, key in parameters.items() if key in stored}
    computed = {by: key for by, key in parameters.items() if by not in known}
    if computed:
        with bulk_reads(session, rows=mark[0]):
            inputs = _Inputs.load(session, project, selection, resamples, confidence)
            fresh = {by: inputs.report(session, project, by) for by in computed}
        store_reports(
            session, project.id, {computed[by]: r for by, r in fresh.items()}, digest, mark[0]
        )
        known |= fresh
    reports |= known
    with _cache_lock:
        for by, report in known.items():
            _cache[(bind, project.id, selection, by, resamples, confidence)] = (mark, report)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return reports


@dataclass(frozen=True)
class _Inputs:
    """What every grouping of one report needs: the ratings, how to measure, overall alpha."""

    selection: SpecSelection
    ratings: pl.DataFrame
    settings: Settings
    overall: Slice

    @classmethod
    def load(
        cls,
        session: Session,
        project: Project,
        selection: SpecSelection,
        resamples: int,
        confidence: float,
    ) -> _Inputs:
        """Read the selected ratings and measure them overall."""
        ratings = load_ratings(session, project, selection)
        frame = ratings.select("item", "annotator", "value")
        settings = slice_settings(
            session, project, frame, resamples=resamples, confidence=confidence
        )
        return cls(selection, ratings, settings, measure("overall", frame, settings))

    def report(self, session: Session, project: Project, by: str | None) -> AgreementReport:
        """The report grouped ``by`` (None: overall only)."""
        spec = current_spec(session, project)
        frame = self.ratings.select("item", "annotator", "value")
        settings = self.settings
        groups: list[Slice] = []
        names: dict[str, str] = {}
        if by == "tag":
            all_tags = sorted(tag_names(session, project).values())
            tags = load_tags(session, project, self.ratings)
            groups = by_tag(frame, tags, settings, names=all_tags)
        elif by == "label" and project.kind != "numeric":
            groups = by_label(frame, [label.key for label in spec.labels], settings)
            names = {label.key: label.name for label in spec.labels}
        elif by == "annotator":
            groups = self._by_annotator(session, project, frame)
        selection = self.selection
        version = f"v{selection}" if isinstance(selection, int) else selection
        return AgreementReport(settings.measure, version, self.overall, by, groups, names)

    def _by_annotator(self, session: Session, project: Project, frame: pl.DataFrame) -> list[Slice]:
        groups = by_annotator(frame, self.settings)
        accuracy = _accuracy_against_rulings(session, project, self.selection)
        ids = [int(g.key) for g in groups]
        handles = dict(session.execute(select(User.id, User.handle).where(User.id.in_(ids))).all())
        for g in groups:
            right, judged = accuracy.get(int(g.key), (0, 0))
            g.extra.update(accuracy=right / judged if judged else None, n_adjudicated=judged)
        return [replace(g, key=handles.get(int(g.key), g.key)) for g in groups]


def slice_settings(
    session: Session,
    project: Project,
    ratings: pl.DataFrame | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
) -> Settings:
    """How the project's slices are measured and judged (``ratings``: the values to order)."""
    order = None
    if project.kind == "ordinal":
        label_keys = [label.key for label in current_spec(session, project).labels]
        # Labels a later version dropped still need a rank: after the current scale.
        seen = set(ratings["value"].to_list()) if ratings is not None else set()
        order = tuple(label_keys + sorted(seen - set(label_keys)))
    return Settings(
        measure=MEASURES[project.kind],
        value_order=order,
        resamples=resamples,
        confidence=confidence,
        min_pairable=project.min_pairable,
        threshold=project.alpha_threshold,
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


def _accuracy_against_rulings(
    session: Session, project: Project, selection: SpecSelection
) -> dict[int, tuple[int, int]]:
    """Per annotator: (labels matching the ruling in force, labels on ruled items)."""
    latest = (
        select(
            Adjudication.item_id,
            Adjudication.spec_version_id,
            func.max(Adjudication.revision).label("revision"),
        )
        .where(Adjudication.project_id == project.id)
        .group_by(Adjudication.item_id, Adjudication.spec_version_id)
        .subquery()
    )
    query = (
        select(Annotation.user_id, Annotation.value, Adjudication.value)
        .join(
            latest,
            (latest.c.item_id == Annotation.item_id)
            & (latest.c.spec_version_id == Annotation.spec_version_id),
        )
        .join(
            Adjudication,
            (Adjudication.item_id == latest.c.item_id)
            & (Adjudication.spec_version_id == latest.c.spec_version_id)
            & (Adjudication.revision == latest.c.revision),
        )
        .where(
            Annotation.project_id == project.id,
            Annotation.retracted_at.is_(None),
            selected(selection),
        )
    )
    tally: dict[int, tuple[int, int]] = {}
    for user_id, given, ruled in session.execute(query):
        right, judged = tally.get(user_id, (0, 0))
        tally[user_id] = (right + (given == ruled), judged + 1)
    return tally


def slice_json(item: Slice, name: str | None = None) -> dict[str, Any]:
    """A slice as the API serves it."""
    ci = item.ci
    return {
        "key": item.key,
        **({"name": name} if name else {}),
        "alpha": item.alpha,
        "ci": (
            {"low": ci.low, "high": ci.high, "confidence": ci.confidence, "resamples": ci.resamples}
            if ci
            else None
        ),
        "n_items": item.n_items,
        "n_pairable": item.n_pairable,
        "n_annotations": item.n_annotations,
        "reliable": item.reliable,
        "why": item.why,
        **item.extra,
    }


def report_json(report: AgreementReport) -> dict[str, Any]:
    """PRODUCT.md's agreement document."""
    overall = slice_json(report.overall)
    overall.pop("key")
    return {
        "level": report.measure,
        "spec_version": report.spec_version,
        **overall,
        "by": report.by,
        "groups": [slice_json(g, report.names.get(g.key)) for g in report.groups],
    }
