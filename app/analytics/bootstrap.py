"""Bootstrap confidence intervals for Krippendorff's alpha, resampling items with replacement.

Only pairable items (two or more ratings) are resampled: the others never change alpha. A resample
is a vector of weights (how often each item was drawn), and alpha depends on the data only through
weighted sums of per-item quantities: the item's disagreement ``sum o_u d`` and its value counts
(nominal, ratio), its coincidences and value counts (ordinal, whose distances follow the resampled
marginals) or its moments (interval). So all resamples together cost one weights matrix per chunk
and a matrix product, never a Python loop over items; and where many items are alike (labels,
a few ratings each) the draws are made over the distinct kinds of item, not the items.
Resamples whose alpha is undefined (no variation among the drawn values) are dropped; with fewer
than half defined there is no interval.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.analytics.coincidence import (
    DENSE_CELLS,
    LEVELS,
    FloatArray,
    IntArray,
    Level,
    Pairable,
    categories_of,
    category_distance,
    distinct_rows,
    expected_disagreement,
    interval_unit_disagreement,
    pairable,
    unit_counts,
    weighted_counts,
    within_unit_pairs,
)

CHUNK_CELLS = 1 << 22
"""Resample x item weights held at once (32 MB as floats)."""
KIND_GAIN = 4
"""Resample distinct items instead of items when there are at least this many items per kind."""

Finish = Callable[[FloatArray], tuple[FloatArray, FloatArray, FloatArray]]
"""Weighted sums (R x K) to (sum o d, sum n_c n_k d, n) per resample."""


@dataclass(frozen=True)
class _Design:
    """Per-item columns, sparse (item, column, value), whose weighted sums decide alpha."""

    unit: IntArray
    column: IntArray
    value: FloatArray
    n_units: int
    n_columns: int

    def dense(self) -> FloatArray | None:
        """The items x columns table, or None when it would be too large to hold."""
        if self.n_units * self.n_columns > DENSE_CELLS:
            return None
        keys = self.unit * self.n_columns + self.column
        table = weighted_counts(keys, self.value, self.n_units * self.n_columns)
        return table.reshape(self.n_units, self.n_columns)


class Resampler:
    """Alpha of weighted item resamples of one set of ratings, from precomputed per-item sums."""

    def __init__(self, p: Pairable, level: Level, distances: FloatArray | None = None) -> None:
        """Precompute the per-item design of ``p`` (which must have variation) for ``level``, or
        for categories at the given ``distances`` (a category x category matrix)."""
        self.n_units = p.n_units
        self._design, self._finish = _design(p, level, distances)
        self._mixed, self._first = _unit_spread(p)
        table = self._design.dense()
        # One product gives both the level's sums and how many drawn items hold mixed values.
        self._table = None if table is None else np.column_stack([self._mixed, table])

    def by_kind(self) -> tuple[Resampler, IntArray] | None:
        """This resampler over the distinct items, and which distinct item each item is.

        Items whose per-item sums (and first value) are equal weigh in identically, so drawing n
        items uniformly is drawing how many of each distinct kind from a multinomial with their
        frequencies: the same distribution of resampled alphas, at the cost of the distinct
        kinds instead of the items (a few dozen for labels and three ratings an item). None when
        the items barely repeat, or when there is no dense table to compress.
        """
        if self._table is None:
            return None
        rows = np.column_stack([self._table, self._first])
        grouped = distinct_rows(rows)
        if grouped is None or grouped[0].size * KIND_GAIN > self.n_units:
            return None
        first, kind = grouped
        distinct = rows[first]
        twin = copy.copy(self)
        twin.n_units = distinct.shape[0]
        twin._table = distinct[:, :-1]
        twin._mixed = distinct[:, 0]
        twin._first = distinct[:, -1]
        return twin, kind

    def alphas(self, weights: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Alpha per row of item weights (R x items), and whether each is defined."""
        if self._table is not None:
            sums = weights @ self._table
            mixed_drawn, sums = sums[:, 0], sums[:, 1:]
        else:
            sums, mixed_drawn = _sparse_sums(self._design, weights), weights @ self._mixed
        observed, expected, n = self._finish(sums)
        defined = _varies(weights, mixed_drawn, self._first) & (expected > 0)
        alphas = 1.0 - (n - 1.0) * observed / np.where(defined, expected, 1.0)
        return np.where(defined, alphas, 0.0), defined


def bootstrap_alpha(
    items: npt.ArrayLike,
    annotators: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    level: Level,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    distances: FloatArray | None = None,
) -> tuple[float, float] | None:
    """Percentile interval (low, high) of alpha over item resamples, or None; seeded, repeatable.

    ``distances`` (with ``level="nominal"`` and category codes as values) replaces the level's
    distance by a category x category matrix: MASI between label sets, for instance.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    if distances is not None and level != "nominal":
        raise ValueError("a distance matrix applies to category codes: use level='nominal'")
    p = pairable(items, annotators, values, numeric=level in ("interval", "ratio"))
    if level == "ratio" and p.n_values and float(p.values.min()) < 0:
        raise ValueError("ratio values must be non-negative")
    if p.n_values == 0 or not p.varies():
        return None
    resampler = Resampler(p, level, distances)
    rng = np.random.default_rng(seed)
    n_units = p.n_units
    by_kind = resampler.by_kind()
    kept: list[FloatArray] = []
    if by_kind is not None:
        distinct, kind = by_kind
        frequency = np.bincount(kind, minlength=distinct.n_units)
        step = max(1, CHUNK_CELLS // distinct.n_units)
        for start in range(0, resamples, step):
            rows = min(step, resamples - start)
            counts = rng.multinomial(n_units, frequency / n_units, size=rows)
            alphas, defined = distinct.alphas(counts.astype(np.float64))
            kept.append(alphas[defined])
    else:
        step = max(1, CHUNK_CELLS // n_units)
        draw_type = np.int32 if n_units < 1 << 31 else np.int64
        for start in range(0, resamples, step):
            rows = min(step, resamples - start)
            # 32-bit draws are several times faster than 64-bit ones.
            draws = rng.integers(0, n_units, size=(rows, n_units), dtype=draw_type)
            weights = np.empty((rows, n_units))
            for row in range(rows):
                weights[row] = np.bincount(draws[row], minlength=n_units)
            alphas, defined = resampler.alphas(weights)
            kept.append(alphas[defined])
    defined_alphas = np.concatenate(kept)
    if 2 * defined_alphas.size < resamples:
        return None
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(defined_alphas, [tail, 1.0 - tail])
    return float(low), float(high)


def _sparse_sums(design: _Design, weights: FloatArray) -> FloatArray:
    # Too many columns for a dense items x columns table: one bincount per resample instead.
    sums = np.empty((weights.shape[0], design.n_columns))
    for row in range(weights.shape[0]):
        scaled = design.value * weights[row, design.unit]
        sums[row] = weighted_counts(design.column, scaled, design.n_columns)
    return sums


def _unit_spread(p: Pairable) -> tuple[FloatArray, FloatArray]:
    """Whether each item's values differ (as 0/1 floats) and one value of each item."""
    values = p.values.astype(np.float64, copy=False)
    low = np.full(p.n_units, np.inf)
    high = np.full(p.n_units, -np.inf)
    np.minimum.at(low, p.unit, values)
    np.maximum.at(high, p.unit, values)
    return (high > low).astype(np.float64), low


def _varies(
    weights: FloatArray, mixed_drawn: FloatArray, first: FloatArray
) -> npt.NDArray[np.bool_]:
    """Per resample: do the drawn items hold at least two distinct values?"""
    varies = mixed_drawn > 0
    for row in np.flatnonzero(~varies):
        # Every drawn item is internally constant: compare the items' values with each other.
        drawn = first[weights[row] > 0]
        varies[row] = drawn.size > 0 and bool(drawn.min() < drawn.max())
    return varies


def _design(
    p: Pairable, level: Level, distances: FloatArray | None = None
) -> tuple[_Design, Finish]:
    units = np.arange(p.n_units, dtype=np.int64)
    if level == "interval":
        # Centre on the pooled mean so n * sum x^2 - (sum x)^2 does not cancel catastrophically.
        x = p.values.astype(np.float64, copy=False)
        x = x - x.mean()
        columns = (
            interval_unit_disagreement(p),
            p.sizes,
            weighted_counts(p.unit, x, p.n_units),
            weighted_counts(p.unit, x * x, p.n_units),
        )
        design = _Design(
            np.tile(units, 4),
            np.repeat(np.arange(4, dtype=np.int64), p.n_units),
            np.concatenate(columns),
            p.n_units,
            4,
        )

        def finish_interval(sums: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
            n = sums[:, 1]
            return sums[:, 0], 2.0 * (n * sums[:, 3] - sums[:, 2] ** 2), n

        return design, finish_interval

    if distances is not None:
        codes, size, points = p.values.astype(np.int64, copy=False), len(distances), None
    else:
        codes, size, points = categories_of(p, level)
    uc = unit_counts(p, codes, size)
    pair_unit, c, k, weight = within_unit_pairs(uc)
    if level == "ordinal":
        pairs = (pair_unit, c, k, weight)
        return _ordinal_design(p.n_units, uc.unit, uc.category, uc.count, pairs, size)
    # Nominal, ratio and matrix distances do not depend on the marginals: one disagreement per
    # item.
    distance = (
        category_distance(level, uc.marginals, points)
        if distances is None
        else _matrix_distance(distances)
    )
    per_unit = 2.0 * weighted_counts(pair_unit, weight * distance(c, k), p.n_units)
    design = _Design(
        np.concatenate([units, uc.unit]),
        np.concatenate([np.zeros(p.n_units, dtype=np.int64), 1 + uc.category]),
        np.concatenate([per_unit, uc.count]),
        p.n_units,
        1 + size,
    )

    def finish_fixed(sums: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        marginals = sums[:, 1:]
        return sums[:, 0], expected_disagreement(marginals, distance), marginals.sum(axis=1)

    return design, finish_fixed


def _matrix_distance(matrix: FloatArray) -> Callable[[IntArray, IntArray], FloatArray]:
    def distance(c: IntArray, k: IntArray) -> FloatArray:
        return np.asarray(matrix[c, k], dtype=np.float64)

    return distance


def _ordinal_design(
    n_units: int,
    unit: IntArray,
    category: IntArray,
    count: FloatArray,
    pairs: tuple[IntArray, IntArray, IntArray, FloatArray],
    size: int,
) -> tuple[_Design, Finish]:
    # Ordinal distances follow each resample's marginals, so keep the coincidences themselves:
    # one column per co-occurring category pair c < k (o is symmetric), plus the value counts.
    pair_unit, c, k, weight = pairs
    cells, cell_column = np.unique(c * size + k, return_inverse=True)
    design = _Design(
        np.concatenate([unit, pair_unit]),
        np.concatenate([category, size + cell_column.astype(np.int64)]),
        np.concatenate([count, weight]),
        n_units,
        size + cells.size,
    )
    cell_c, cell_k = np.divmod(cells, size)
    low, high = np.triu_indices(size, 1)

    def between(marginals: FloatArray, a: IntArray, b: IntArray) -> FloatArray:
        cumulative = np.cumsum(marginals, axis=1)
        spread = cumulative[:, b] - cumulative[:, a] + (marginals[:, a] - marginals[:, b]) / 2
        return np.asarray(spread**2, dtype=np.float64)

    def finish_ordinal(sums: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        marginals = sums[:, :size]
        observed = 2.0 * (sums[:, size:] * between(marginals, cell_c, cell_k)).sum(axis=1)
        pairs = marginals[:, low] * marginals[:, high]
        expected = 2.0 * (pairs * between(marginals, low, high)).sum(axis=1)
        return observed, expected, marginals.sum(axis=1)

    return design, finish_ordinal
