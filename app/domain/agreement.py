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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analytics.slices import Measure, Settings, Slice, by_annotator, by_label, by_tag
from app.analytics.slices import measure_slice as measure
from app.db.models import (
    Adjudication,
    Annotation,
    Project,
    SpecVersion,
    User,
)
from app.domain.agreement_store import keep, recalled, remembered
from app.domain.errors import InvalidInput
from app.domain.projects import current_spec, tag_names
from app.domain.ratings import (
    SpecSelection,
    load_ratings,
    load_tags,
    selected,
)
from app.domain.tagged_labels import labels_point, tagged_ratings

GROUPINGS = ("tag", "label", "annotator")
MEASURES: dict[str, Measure] = {
    "single_choice": "nominal",
    "ordinal": "ordinal",
    "numeric": "interval",
    "multi_choice": "masi",
}
DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
MAX_RESAMPLES = 10_000


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


def agreement_report(
    session: Session,
    project: Project,
    *,
    spec_version: str | None = "current",
    by: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
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
    confidence: float = DEFAULT_CONFIDENCE,
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

    def compute(missing: list[str | None]) -> dict[str | None, AgreementReport]:
        inputs = _Inputs.load(session, project, selection, resamples, confidence)
        return {by: inputs.report(session, project, by) for by in missing}

    return remembered(
        session,
        project,
        {by: f"{selection}|{by}|{resamples}|{confidence}" for by in dict.fromkeys(groupings)},
        compute,
        lambda fields: AgreementReport(**fields),
    )


@dataclass(frozen=True)
class TagSlices:
    """Each edge-case tag's slice of the labels in force (as in ``agreement_report(by="tag")``),
    measured from the tagged items' labels alone: all an export needs, at a fraction of the
    cost of a report, whose overall figure reads every label."""

    measure: Measure
    groups: list[Slice]


_TAG_SLICES = f"current|tag-slices|{DEFAULT_RESAMPLES}|{DEFAULT_CONFIDENCE}"
"""What the stored tag slices are computed with (their key among the project's reports)."""


def tag_slices(
    session: Session, project: Project, *, meanwhile: Callable[[], None] | None = None
) -> TagSlices:
    """The current labels' slice of every edge-case tag, with its interval and judgement.

    Remembered like the reports, but under the tagged labels' point instead of the watermark
    (:func:`_tag_slices_mark`): inside a bulk read it is read in the reads' own snapshot, ahead
    of them (:func:`~app.domain.tagged_labels.prefetch_catching_up`), and a ruling does not
    make the slices stale.

    ``meanwhile`` queues the caller's next bulk reads (:func:`~app.db.bulk_read.prefetch`), so
    that the reader works on them while the slices are measured: once the slices' own labels
    are read when they must be computed, at once when they are remembered.
    """
    queued = False
    names = tag_names(session, project)

    def compute(_: list[str]) -> dict[str, TagSlices]:
        nonlocal queued
        ratings, tags = tagged_ratings(session, project, names)
        if meanwhile is not None:
            meanwhile()
            queued = True
        return {"tag": measure_tag_slices(session, project, ratings, tags, names)}

    found = remembered(
        session,
        project,
        {"tag": _TAG_SLICES},
        compute,
        _decoded_tag_slices,
        mark=_tag_slices_mark(session, project, names),
    )
    if meanwhile is not None and not queued:
        meanwhile()
    return found["tag"]


def _tag_slices_mark(
    session: Session, project: Project, names: Mapping[int, str]
) -> tuple[Any, ...]:
    """What the tag slices are computed from: the tagged labels' point
    (:func:`~app.domain.tagged_labels.labels_point`; rulings do not count) and how they are
    measured and judged. Inside a bulk read it is read there, in the reads' own snapshot."""
    point = labels_point(session, project, list(names))
    return (
        point.annotations,
        point.retractions,
        point.item_tags,
        point.campaign,
        current_spec(session, project).id,  # an ordinal scale's order
        project.min_pairable,
        project.alpha_threshold,
    )


def remembered_tag_slices(session: Session, project: Project) -> TagSlices | None:
    """The tag slices of the project's current labels if this process or the store holds
    them, else None (nothing is read or measured)."""
    mark = _tag_slices_mark(session, project, tag_names(session, project))
    found = recalled(session, project, {"tag": _TAG_SLICES}, _decoded_tag_slices, mark=mark)
    return found.get("tag")


def measure_tag_slices(
    session: Session,
    project: Project,
    ratings: pl.DataFrame,
    tags: pl.DataFrame,
    names: Mapping[int, str],
) -> TagSlices:
    """Measure the tag slices of ``ratings`` (item, annotator, value: the tagged items' labels
    in force) and ``tags`` (item, tag), as :func:`~app.domain.tagged_labels.tagged_ratings`
    reads them; ``names``: the project's tags (:func:`~app.domain.projects.tag_names`)."""
    settings = slice_settings(session, project, ratings)
    return TagSlices(
        settings.measure, by_tag(ratings, tags, settings, names=sorted(names.values()))
    )


def keep_tag_slices(
    session: Session, project: Project, slices: TagSlices, names: Mapping[int, str]
) -> None:
    """Remember ``slices``, measured from the project's current labels (``names``: its tags),
    as :func:`tag_slices` would have."""
    mark = _tag_slices_mark(session, project, names)
    keep(session, project, {_TAG_SLICES: slices}, mark=mark)


def _decoded_tag_slices(fields: dict[str, Any]) -> TagSlices:
    return TagSlices(**fields)


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
    confidence: float = DEFAULT_CONFIDENCE,
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
