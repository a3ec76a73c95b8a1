"""Krippendorff's alpha from long-format ratings, through coincidence matrices.

Input is one row per rating: (item, annotator, value), either as integer-coded NumPy arrays or as a
Polars frame with columns ``item``, ``annotator`` and ``value`` (``encode_ratings`` turns the frame
into codes). Missing ratings are simply absent rows. The level of measurement is always explicit:

- ``nominal``: values are category codes; d = 0 if equal else 1.
- ``ordinal``: values are ranks 0..V-1 in scale order; d_ck = (sum_{g=c..k} n_g - (n_c + n_k)/2)^2
  with the marginal frequencies n_g of the pairable values (Krippendorff 2011).
- ``interval``: values are numbers; d = (c - k)^2.
- ``ratio``: values are non-negative numbers; d = ((c - k) / (c + k))^2, and 0 when c = k = 0.

Contract, where this module differs from the ``krippendorff`` package:

- One rating per (item, annotator): a repeated pair raises ValueError naming it (we never guess
  which of two ratings counts).
- No pairable values (every item has fewer than two ratings): ``alpha`` is None with reason
  ``"no pairable values"`` and ``n_pairable`` 0; the package raises ValueError.
- All pairable values identical (D_e = 0): ``alpha`` is None with reason ``"no variation"``; the
  package returns NaN (or raises when the value domain has one value). NaN never leaves this module.
- Multi-choice (set-valued) ratings use the MASI distance (Passonneau 2006) in ``masi_alpha``, or
  one binary nominal variable per label through ``one_vs_rest``.

Values of items with a single rating are unpairable: they count in ``n_annotations`` only and never
change alpha. Costs are linear in the number of ratings and flat in the number of annotators.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from app.analytics.coincidence import (
    LEVELS,
    FloatArray,
    IntArray,
    Level,
    Pairable,
    as_codes,
    disagreements,
    expected_disagreement,
    find_duplicate,
    observed_coincidences,
    observed_disagreement,
    pairable,
    unit_counts,
)

NO_PAIRABLE_VALUES = "no pairable values"
NO_VARIATION = "no variation"
SET_SEPARATOR = "\x1f"
"""Joins a set's sorted labels into one key; labels may not contain it."""


@dataclass(frozen=True)
class AlphaResult:
    """Alpha (None when undefined, with the reason) and the counts behind it."""

    alpha: float | None
    n_items: int
    """Pairable items: items with at least two ratings."""
    n_pairable: int
    """Ratings on pairable items."""
    n_annotations: int
    """All ratings, including those on items with a single rating."""
    reason: str | None


@dataclass(frozen=True)
class CoincidenceTable:
    """Observed and expected coincidences per ordered value pair, labelled for display."""

    labels: tuple[str, ...]
    observed: FloatArray
    expected: FloatArray
    n_pairable: int


@dataclass(frozen=True)
class EncodedRatings:
    """Long-format ratings as codes, with the label behind each code."""

    items: IntArray
    annotators: IntArray
    values: IntArray | FloatArray
    item_labels: tuple[object, ...]
    annotator_labels: tuple[object, ...]
    value_labels: tuple[object, ...] | None
    """Labels of value codes (nominal, ordinal); None for interval and ratio numbers."""


def krippendorff_alpha(
    items: npt.ArrayLike, annotators: npt.ArrayLike, values: npt.ArrayLike, *, level: Level
) -> AlphaResult:
    """Krippendorff's alpha of long-format coded ratings at the given level of measurement."""
    _check_level(level)
    p = pairable(items, annotators, values, numeric=level in ("interval", "ratio"))
    if level == "ratio" and p.n_values and float(p.values.min()) < 0:
        raise ValueError("ratio values must be non-negative")
    undefined = _undefined(p)
    if undefined is not None:
        return undefined
    observed, expected = disagreements(p, level)
    return _result(p, observed, expected)


def alpha_from_frame(
    frame: pl.DataFrame, *, level: Level, value_order: Sequence[object] | None = None
) -> AlphaResult:
    """Krippendorff's alpha of a frame with columns item, annotator and value."""
    encoded = encode_ratings(frame, level=level, value_order=value_order)
    return krippendorff_alpha(encoded.items, encoded.annotators, encoded.values, level=level)


def encode_ratings(
    frame: pl.DataFrame, *, level: Level, value_order: Sequence[object] | None = None
) -> EncodedRatings:
    """Code a ratings frame: items, annotators and (nominal, ordinal) values become 0-based codes.

    ``value_order`` lists the scale (ordinal: lowest first); without it nominal values are coded
    in sorted order and ordinal values must be numbers, ranked by size. Interval and ratio values
    stay numbers. Nulls and repeated (item, annotator) pairs raise ValueError naming the row.
    """
    _check_level(level)
    checked = _checked_frame(frame, repeats=False)
    if checked["value"].dtype.is_nested():
        raise ValueError("value holds lists: use masi_alpha or one_vs_rest for multi-choice")
    items, item_labels = _factorize(checked["item"])
    annotators, annotator_labels = _factorize(checked["annotator"])
    repeated = find_duplicate(items, annotators)
    if repeated is not None:
        raise ValueError(_repeated(annotator_labels[repeated[1]], item_labels[repeated[0]]))
    column = checked["value"]
    value_labels: tuple[object, ...] | None
    if level in ("interval", "ratio"):
        if value_order is not None:
            raise ValueError(f"value_order is for nominal and ordinal values, not {level}")
        if not column.dtype.is_numeric():
            raise ValueError(f"{level} values must be numbers, got {column.dtype}")
        values: IntArray | FloatArray = column.cast(pl.Float64).to_numpy()
        value_labels = None
    elif value_order is not None:
        values, value_labels = _code_by_order(column, value_order)
    elif level == "ordinal" and not column.dtype.is_numeric():
        raise ValueError("ordinal values that are not numbers need value_order (lowest first)")
    else:
        values, value_labels = _factorize(column)
    return EncodedRatings(items, annotators, values, item_labels, annotator_labels, value_labels)


def coincidence_table(
    items: npt.ArrayLike,
    annotators: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    labels: Sequence[object] | None = None,
) -> CoincidenceTable:
    """Observed ``o_ck`` and expected ``e_ck`` coincidences of value codes 0..V-1, per pair.

    Rows and columns follow the codes; ``labels[c]`` names code ``c`` (default: the code). Cells
    where ``o_ck`` exceeds ``e_ck`` off the diagonal are the label pairs that drive disagreement.
    """
    p = pairable(items, annotators, values, numeric=False)
    codes = p.values.astype(np.int64, copy=False)
    top = int(codes.max()) + 1 if codes.size else 0
    size = top if labels is None else len(labels)
    if top > size:
        raise ValueError(f"value code {top - 1} has no label ({size} labels given)")
    names = tuple(str(x) for x in labels) if labels is not None else tuple(map(str, range(size)))
    if p.n_values == 0:
        empty = np.zeros((size, size))
        return CoincidenceTable(names, empty, empty.copy(), 0)
    uc = unit_counts(p, codes, size)
    observed = observed_coincidences(uc)
    return CoincidenceTable(names, observed, _expected_coincidences(uc.marginals), p.n_values)


def masi_distance(a: Set[str], b: Set[str]) -> float:
    """MASI distance (Passonneau 2006): 1 - Jaccard * monotonicity (1, 0.67, 0.33 or 0)."""
    if a == b:
        return 0.0
    shared = len(a & b)
    # The 0.67 / 0.33 weights are Passonneau's 2/3 and 1/3 as NLTK's masi_distance rounds them.
    monotonicity = 0.67 if a <= b or b <= a else 0.33 if shared else 0.0
    return 1.0 - shared / len(a | b) * monotonicity


@dataclass(frozen=True)
class CodedSets:
    """Multi-choice ratings coded for the general coincidence route: each distinct label set is
    a category, and ``distances`` holds MASI between every two categories."""

    items: IntArray
    annotators: IntArray
    categories: IntArray
    distances: FloatArray


def code_sets(frame: pl.DataFrame) -> CodedSets:
    """Code a multi-choice ratings frame (value: list of label keys) for MASI alpha."""
    checked = _set_frame(frame)
    items, _ = _factorize(checked["item"])
    annotators, _ = _factorize(checked["annotator"])
    keys = checked["value"].list.unique().list.sort().list.join(SET_SEPARATOR)
    codes, set_keys = _factorize(keys)
    sets = [frozenset(str(key).split(SET_SEPARATOR)) if key else frozenset() for key in set_keys]
    matrix = np.zeros((len(sets), len(sets)))
    for c, first in enumerate(sets):
        for k in range(c + 1, len(sets)):
            matrix[c, k] = matrix[k, c] = masi_distance(first, sets[k])
    return CodedSets(items, annotators, codes, matrix)


def masi_alpha(frame: pl.DataFrame) -> AlphaResult:
    """Alpha of multi-choice ratings (value: list of label keys) with the MASI set distance.

    The general coincidence route over the distinct label sets: D_o averages MASI over pairs
    within items (weight 1/(m_u - 1)) and D_e over all pairs of pairable values. An empty set
    equals another empty set and is at distance 1 from any non-empty set.
    """
    coded = code_sets(frame)
    p = pairable(coded.items, coded.annotators, coded.categories, numeric=False)
    undefined = _undefined(p)
    if undefined is not None:
        return undefined
    uc = unit_counts(p, p.values.astype(np.int64, copy=False), len(coded.distances))
    matrix = coded.distances

    def distance(c: IntArray, k: IntArray) -> FloatArray:
        return np.asarray(matrix[c, k], dtype=np.float64)

    observed = observed_disagreement(uc, distance)
    return _result(p, observed, float(expected_disagreement(uc.marginals, distance)[0]))


def one_vs_rest(
    frame: pl.DataFrame, *, labels: Sequence[str] | None = None
) -> dict[str, pl.DataFrame]:
    """Split multi-choice ratings into one nominal frame per label (value 1 = label chosen).

    ``labels`` defaults to every label chosen at least once; pass the spec's labels to get a frame
    (and an undefined alpha) for labels nobody chose.
    """
    checked = _set_frame(frame)
    if labels is None:
        chosen = checked["value"].explode().drop_nulls().unique().sort()
        labels = [str(label) for label in chosen.to_list()]
    return {
        label: checked.select(
            "item",
            "annotator",
            pl.col("value").list.contains(label).cast(pl.Int64).alias("value"),
        )
        for label in labels
    }


def _expected_coincidences(marginals: FloatArray) -> FloatArray:
    """``e_ck = n_c n_k / (n - 1)`` off the diagonal and ``n_c (n_c - 1) / (n - 1)`` on it."""
    n = float(marginals.sum())
    if n < 2:
        return np.zeros((marginals.size, marginals.size))
    e = np.outer(marginals, marginals)
    e[np.diag_indices(marginals.size)] -= marginals
    return e / (n - 1.0)


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")


def _undefined(p: Pairable) -> AlphaResult | None:
    if p.n_values == 0:
        return AlphaResult(None, 0, 0, p.n_annotations, NO_PAIRABLE_VALUES)
    if not p.varies():
        return AlphaResult(None, p.n_units, p.n_values, p.n_annotations, NO_VARIATION)
    return None


def _result(p: Pairable, observed: float, expected: float) -> AlphaResult:
    if not expected > 0:
        # Only reachable when rounding erases a variation far below the values' precision.
        return AlphaResult(None, p.n_units, p.n_values, p.n_annotations, NO_VARIATION)
    alpha = 1.0 - (p.n_values - 1) * observed / expected
    return AlphaResult(alpha, p.n_units, p.n_values, p.n_annotations, None)


def _repeated(annotator: object, item: object) -> str:
    return (
        f"annotator {annotator!r} rated item {item!r} more than once; "
        "keep one rating per (item, annotator)"
    )


def _checked_frame(frame: pl.DataFrame, *, repeats: bool = True) -> pl.DataFrame:
    """The three columns, refusing nulls and (with ``repeats``) repeated (item, annotator)."""
    missing = [name for name in ("item", "annotator", "value") if name not in frame.columns]
    if missing:
        raise ValueError(f"ratings frame lacks column(s) {', '.join(missing)}")
    checked = frame.select("item", "annotator", "value")
    for name in checked.columns:
        nulls = checked[name].null_count()
        if nulls:
            first = int(checked[name].is_null().arg_true()[0])
            raise ValueError(f"{name} is null in row {first} ({nulls} null(s)); drop or fill them")
    if not repeats:
        return checked
    repeated = checked.select(pl.struct("item", "annotator").is_duplicated()).to_series()
    if repeated.any():
        row = checked.filter(repeated).row(0, named=True)
        raise ValueError(_repeated(row["annotator"], row["item"]))
    return checked


def _set_frame(frame: pl.DataFrame) -> pl.DataFrame:
    checked = _checked_frame(frame)
    if not isinstance(checked["value"].dtype, pl.List):
        dtype = checked["value"].dtype
        raise ValueError(f"multi-choice values must be lists of labels, got {dtype}")
    checked = checked.with_columns(pl.col("value").list.eval(pl.element().cast(pl.String)))
    labels = checked["value"].explode().drop_nulls()
    if (labels == "").any() or labels.str.contains(SET_SEPARATOR, literal=True).any():
        raise ValueError("labels must be non-empty and must not contain U+001F")
    return checked.with_columns(pl.col("value").list.drop_nulls())


def _factorize(column: pl.Series) -> tuple[IntArray, tuple[object, ...]]:
    """Codes 0..K-1 in sorted order of the distinct values, and those values."""
    if column.dtype.is_integer() and column.len():
        # Ids (items, people): a lookup table over the id range, no sort.
        raw = column.to_numpy().astype(np.int64, copy=False)
        low = int(raw.min())
        if int(raw.max()) - low < 4 * raw.size + 1024:
            present = np.bincount(raw - low) > 0
            lookup = np.cumsum(present) - 1
            return lookup[raw - low], tuple((np.flatnonzero(present) + low).tolist())
    distinct = column.unique().sort()
    if 8 * distinct.len() < column.len():
        # Few distinct values (labels): one hash lookup per value instead of a sort.
        codes = column.replace_strict(distinct, pl.int_range(distinct.len(), eager=True))
    else:
        codes = column.rank("dense") - 1
    return codes.cast(pl.Int64).to_numpy(), tuple(distinct.to_list())


def _code_by_order(
    column: pl.Series, value_order: Sequence[object]
) -> tuple[IntArray, tuple[object, ...]]:
    order = list(value_order)
    if len(set(order)) != len(order):
        raise ValueError("value_order lists a value twice")
    unknown = column.filter(~column.is_in(order))
    if unknown.len():
        raise ValueError(f"value {unknown[0]!r} is not in value_order")
    codes = column.replace_strict(order, list(range(len(order))), return_dtype=pl.Int64)
    return as_codes("values", codes.to_numpy()), tuple(order)
