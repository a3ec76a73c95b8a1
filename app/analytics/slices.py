"""Agreement per slice: overall, per edge-case tag, per label (one vs rest) and per annotator.

Pure functions over a ratings frame with columns ``item`` (the unit), ``annotator`` and
``value`` (a label key, a number, or a list of label keys for multi-choice), and a tags frame
with columns ``item`` and ``tag``. Every slice comes with its bootstrap interval and a judgement:
a slice is *reliable* only with enough pairable values and a CI lower bound at or above the
threshold; otherwise ``why`` says what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from app.analytics.agreement import (
    AlphaResult,
    code_sets,
    encode_ratings,
    krippendorff_alpha,
    masi_alpha,
)
from app.analytics.bootstrap import bootstrap_alpha
from app.analytics.coincidence import FloatArray, IntArray, Level
from app.analytics.leave_one_out import annotator_alphas

Measure = Literal["nominal", "ordinal", "interval", "masi"]
"""How values are compared: a level of measurement, or MASI for label sets."""


@dataclass(frozen=True)
class Settings:
    """How slices are measured and judged."""

    measure: Measure
    value_order: tuple[str, ...] | None
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    min_pairable: int = 30
    threshold: float = 0.667


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval."""

    low: float
    high: float
    confidence: float
    resamples: int


@dataclass(frozen=True)
class Slice:
    """Alpha of one slice with its interval, counts and judgement."""

    key: str
    alpha: float | None
    ci: Interval | None
    n_items: int
    n_pairable: int
    n_annotations: int
    reliable: bool
    why: str | None
    extra: dict[str, float | int | str | None] = field(default_factory=dict)


def measure_slice(key: str, ratings: pl.DataFrame, settings: Settings) -> Slice:
    """Alpha, interval and judgement of one slice of ratings."""
    if ratings.height == 0:
        result = AlphaResult(None, 0, 0, 0, "no annotations")
        return _judged(key, result, None, settings)
    if settings.measure == "masi":
        # Label sets are categories at MASI distances from each other.
        coded = code_sets(ratings)
        codes = Coded(coded.items, coded.annotators, coded.categories, "nominal", coded.distances)
        return measure_coded(key, codes, settings, point=masi_alpha(ratings))
    return measure_coded(key, encode_slice(ratings, settings), settings)


@dataclass(frozen=True)
class Coded:
    """Ratings as code arrays, ready for alpha and its interval (``distances``: a category
    distance matrix replacing the level's, for label sets)."""

    items: IntArray
    annotators: IntArray
    values: IntArray | FloatArray
    level: Level
    distances: FloatArray | None = None

    def where(self, mask: npt.NDArray[np.bool_]) -> Coded:
        """The ratings where ``mask`` holds (codes keep their meaning)."""
        return Coded(
            self.items[mask], self.annotators[mask], self.values[mask], self.level, self.distances
        )


def encode_slice(ratings: pl.DataFrame, settings: Settings) -> Coded:
    """Code a (non-empty, single-valued) ratings frame for ``settings``' level."""
    if settings.measure == "masi":
        raise ValueError("label sets are coded by code_sets")
    level: Level = settings.measure
    order = settings.value_order if level in ("nominal", "ordinal") else None
    encoded = encode_ratings(ratings, level=level, value_order=order)
    return Coded(encoded.items, encoded.annotators, encoded.values, level)


def measure_coded(
    key: str, coded: Coded, settings: Settings, *, point: AlphaResult | None = None
) -> Slice:
    """Alpha (``point`` if already known), interval and judgement of coded ratings."""
    if coded.items.size == 0:
        return _judged(key, AlphaResult(None, 0, 0, 0, "no annotations"), None, settings)
    result = point or krippendorff_alpha(
        coded.items, coded.annotators, coded.values, level=coded.level
    )
    ci = None
    if result.alpha is not None and settings.resamples > 0:  # 0: a point estimate only
        bounds = bootstrap_alpha(
            coded.items,
            coded.annotators,
            coded.values,
            level=coded.level,
            resamples=settings.resamples,
            confidence=settings.confidence,
            seed=settings.seed,
            distances=coded.distances,
        )
        if bounds is not None:
            ci = Interval(bounds[0], bounds[1], settings.confidence, settings.resamples)
    return _judged(key, result, ci, settings)


def _judged(
    key: str,
    result: AlphaResult,
    ci: Interval | None,
    settings: Settings,
    *,
    no_ci: str = "too few defined resamples for an interval",
) -> Slice:
    why: str | None = None
    if result.n_pairable < settings.min_pairable:
        why = f"only {result.n_pairable} pairable values; {settings.min_pairable} needed"
    elif result.alpha is None:
        why = result.reason
    elif ci is None:
        why = no_ci
    elif ci.low < settings.threshold:
        why = f"CI lower bound {ci.low:.3f} is under the threshold {settings.threshold:.3f}"
    return Slice(
        key,
        result.alpha,
        ci,
        result.n_items,
        result.n_pairable,
        result.n_annotations,
        why is None,
        why,
    )


def by_tag(
    ratings: pl.DataFrame, tags: pl.DataFrame, settings: Settings, *, names: Sequence[str] = ()
) -> list[Slice]:
    """One slice per edge-case tag: the ratings of the items carrying it (``names``: also the
    tags no rated item carries, so they show as empty)."""
    by_name = tags.partition_by("tag", as_dict=True)
    slices = []
    for tag in sorted({key for (key,) in by_name} | set(names)):
        items = by_name[(tag,)]["item"] if (tag,) in by_name else tags["item"].clear()
        slices.append(
            measure_slice(tag, ratings.filter(pl.col("item").is_in(items.implode())), settings)
        )
    return slices


def by_label(ratings: pl.DataFrame, labels: Sequence[str], settings: Settings) -> list[Slice]:
    """One nominal yes/no slice per label: did the annotator give this label?"""
    binary = replace(settings, measure="nominal", value_order=("no", "yes"))
    if settings.measure == "masi" or ratings.height == 0:
        slices = []
        for label in labels:
            if settings.measure == "masi":
                chose = pl.col("value").list.contains(label)
            else:
                chose = pl.col("value").cast(pl.String) == label
            frame = ratings.select(
                "item",
                "annotator",
                value=pl.when(chose).then(pl.lit("yes")).otherwise(pl.lit("no")),
            )
            slices.append(measure_slice(label, frame, binary))
        return slices
    # Code once; each label is then a yes/no view of the value codes.
    encoded = encode_ratings(ratings.with_columns(pl.col("value").cast(pl.String)), level="nominal")
    codes = {str(value): code for code, value in enumerate(encoded.value_labels or ())}
    return [
        measure_coded(
            label,
            Coded(
                encoded.items,
                encoded.annotators,
                (encoded.values == codes.get(label, -1)).astype(np.int64),
                "nominal",
            ),
            binary,
        )
        for label in labels
    ]


def by_annotator(ratings: pl.DataFrame, settings: Settings) -> list[Slice]:
    """Per annotator: alpha on the items they rated (with everyone's ratings there), and in
    ``extra`` the alpha of everyone else without them (the leave-one-out effect).

    The ratings are coded once and each annotator's slices are masks over the codes.
    """
    if ratings.height == 0:
        return []
    if settings.measure == "masi":
        return _by_annotator_sets(ratings, settings)
    order = settings.value_order if settings.measure in ("nominal", "ordinal") else None
    encoded = encode_ratings(ratings, level=settings.measure, value_order=order)
    coded = Coded(encoded.items, encoded.annotators, encoded.values, settings.measure)
    overall = krippendorff_alpha(coded.items, coded.annotators, coded.values, level=coded.level)
    fast = annotator_alphas(coded.items, coded.annotators, coded.values, level=coded.level)
    n_own = np.bincount(coded.annotators, minlength=len(encoded.annotator_labels))
    slices = []
    names = {code: str(name) for code, name in enumerate(encoded.annotator_labels)}
    for code in sorted(names, key=names.__getitem__):
        mine = coded.annotators == code
        if fast is not None and settings.resamples == 0:  # point estimates: no masks at all
            shared = _judged(names[code], fast[code].shared, None, settings)
            without = fast[code].without
        else:
            theirs = np.zeros(len(encoded.item_labels), dtype=np.bool_)
            theirs[coded.items[mine]] = True
            point = fast[code].shared if fast is not None else None
            shared = measure_coded(
                names[code], coded.where(theirs[coded.items]), settings, point=point
            )
            if fast is not None:
                without = fast[code].without
            else:
                rest = coded.where(~mine)
                without = krippendorff_alpha(
                    rest.items, rest.annotators, rest.values, level=rest.level
                ).alpha
        _add_effect(shared, int(n_own[code]), overall, without)
        slices.append(shared)
    return slices


def _by_annotator_sets(ratings: pl.DataFrame, settings: Settings) -> list[Slice]:
    overall = masi_alpha(ratings)
    slices = []
    for annotator in sorted(ratings["annotator"].unique().to_list(), key=str):
        theirs = ratings.filter(pl.col("annotator") == annotator)["item"]
        shared = measure_slice(
            str(annotator), ratings.filter(pl.col("item").is_in(theirs.to_list())), settings
        )
        others = masi_alpha(ratings.filter(pl.col("annotator") != annotator))
        _add_effect(shared, int(theirs.len()), overall, others.alpha)
        slices.append(shared)
    return slices


def _add_effect(shared: Slice, n_own: int, overall: AlphaResult, without: float | None) -> None:
    effect = overall.alpha - without if overall.alpha is not None and without is not None else None
    shared.extra.update(n_own=n_own, alpha_without=without, loo_effect=effect)
