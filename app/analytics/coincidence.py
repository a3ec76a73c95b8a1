"""Coincidence counting for Krippendorff's alpha over long-format code arrays.

The rows are (unit, annotator, value) triples; a unit is an item. Nothing here builds an
annotators x units matrix: cost is linear in the number of values plus a units x categories count
table (dense when small, sparse otherwise), so it does not grow with the number of annotators.

Terms (Krippendorff 2011): a unit with ``m_u >= 2`` values is *pairable*; each of its ordered
pairs of values from different annotators adds ``1 / (m_u - 1)`` to the coincidence matrix ``o``.
``n_c`` is the number of pairable values equal to ``c`` and ``n`` their total.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")

Distance = Callable[[IntArray, IntArray], FloatArray]
"""Distance between category indices, element-wise; must be 0 on the diagonal."""

DENSE_CELLS = 1 << 23
"""A units x categories table up to this many cells (64 MB) is counted densely with bincount."""

DENSE_PER_VALUE = 8
"""...or up to this many cells per value, since counting them densely then beats sorting."""

SHORT_SCALE = 8
"""Up to this many categories, observed disagreement comes from a categories x units table."""

DISTANCE_BLOCK = 1 << 21
"""Category pairs evaluated at once when summing expected disagreement (bounds peak memory)."""


def weighted_counts(index: IntArray, weights: FloatArray, size: int) -> FloatArray:
    """``np.bincount`` with weights, typed as the float array it returns."""
    return np.asarray(np.bincount(index, weights=weights, minlength=size), dtype=np.float64)


def as_codes(name: str, codes: npt.ArrayLike) -> IntArray:
    """Check that ``codes`` is a 1-D array of non-negative integers and return it as int64."""
    array = np.asarray(codes)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer codes, got dtype {array.dtype}")
    result = array.astype(np.int64, copy=False)
    if result.size and int(result.min()) < 0:
        raise ValueError(f"{name} must be non-negative codes")
    return result


def compact(codes: IntArray) -> tuple[IntArray, int]:
    """Renumber codes to 0..K-1 keeping their order; returns the new codes and K."""
    if codes.size == 0:
        return codes, 0
    top = int(codes.max()) + 1
    if top <= 4 * codes.size + 1024:
        # A lookup table is O(N + K) and avoids np.unique's sort.
        present = np.bincount(codes, minlength=top) > 0
        lookup = np.cumsum(present) - 1
        return lookup[codes], int(present.sum())
    uniques, inverse = np.unique(codes, return_inverse=True)
    return inverse.astype(np.int64, copy=False), int(uniques.size)


def find_duplicate(items: IntArray, annotators: IntArray) -> tuple[int, int] | None:
    """Return one (item, annotator) pair that occurs more than once, or None."""
    if items.size < 2:
        return None
    n_items, n_annotators = int(items.max()) + 1, int(annotators.max()) + 1
    if n_items * n_annotators >= 1 << 62:
        annotators, n_annotators = compact(annotators)
        items, n_items = compact(items)
    keys = items * n_annotators
    keys += annotators
    if n_items * n_annotators <= max(DENSE_CELLS, DENSE_PER_VALUE * keys.size):
        # A byte per cell, not bincount's eight: the scatter stays in cache far longer.
        seen = np.zeros(n_items * n_annotators, dtype=np.bool_)
        seen[keys] = True
        if int(np.count_nonzero(seen)) == keys.size:
            return None
        key = int(np.bincount(keys).argmax())
    else:
        repeated = _repeated_key(keys)
        if repeated is None:
            return None
        key = repeated
    hit = int(np.flatnonzero(keys == key)[0])
    return int(items[hit]), int(annotators[hit])


HASH_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)
"""Odd 64-bit constants for multiplicative hashing, one per round of `_repeated_key`."""


def _repeated_key(keys: IntArray) -> int | None:
    """A key that occurs more than once, or None, without sorting every key.

    Too many (item, annotator) cells to count directly: each key is hashed into a table of at
    least 4 slots per key and scattered there with its position, so one key per slot wins. A
    losing key equal to its slot's winner is a repeat; losers that merely collided are checked
    again among themselves with a fresh hash (a repeat of a loser is always a loser too), a
    shrinking remainder that is finally sorted.
    """
    for multiplier in HASH_MULTIPLIERS:
        if keys.size < 1024:
            break
        bits = (4 * keys.size).bit_length()
        hashed = keys.view(np.uint64) * np.uint64(multiplier)
        hashed >>= np.uint64(64 - bits)
        slots = hashed.view(np.int64)
        positions = np.arange(keys.size, dtype=np.int32)
        table = np.empty(1 << bits, dtype=np.int32)
        table[slots] = positions
        winners = table[slots]
        losers = np.flatnonzero(winners != positions)
        if losers.size == 0:
            return None
        lost = keys[losers]
        equal = np.flatnonzero(keys[winners[losers]] == lost)
        if equal.size:
            return int(lost[equal[0]])
        keys = lost
    ordered = np.sort(keys)
    repeats = np.flatnonzero(ordered[1:] == ordered[:-1])
    return int(ordered[repeats[0]]) if repeats.size else None


def distinct_rows(rows: FloatArray) -> tuple[IntArray, IntArray] | None:
    """Group equal rows: the index of each group's first row and each row's group, or None if
    two different rows hashed alike (rare; the caller then works row by row).

    Hashes every row's bits (sorting the rows themselves is about ten times slower) and checks
    each row against its group's first row.
    """
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    key = np.zeros(len(rows), dtype=np.uint64)
    for column in rows.view(np.uint64).T:
        key = key * np.uint64(31) + _mix(column)
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    group = group.reshape(-1).astype(np.int64)
    if not np.array_equal(rows[first][group], rows):
        return None
    return first.astype(np.int64), group


def _mix(bits: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finalizer: every input bit moves every output bit."""
    z = (bits ^ (bits >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(z ^ (z >> np.uint64(31)), dtype=np.uint64)


@dataclass(frozen=True)
class Pairable:
    """The values of pairable units, one entry per value, with unit indices 0..P-1."""

    unit: IntArray
    values: npt.NDArray[np.int64] | FloatArray
    sizes: FloatArray
    """``m_u`` per pairable unit, as floats because every use divides by it."""
    n_annotations: int

    @property
    def n_units(self) -> int:
        """Number of pairable units."""
        return int(self.sizes.size)

    @property
    def n_values(self) -> int:
        """Number of pairable values."""
        return int(self.unit.size)

    def varies(self) -> bool:
        """Whether the pairable values hold at least two distinct values (else D_e is 0)."""
        return self.n_values > 0 and bool(self.values.min() < self.values.max())


def pairable(
    items: npt.ArrayLike, annotators: npt.ArrayLike, values: npt.ArrayLike, *, numeric: bool
) -> Pairable:
    """Validate long-format ratings and keep the values of units with at least two of them."""
    item_codes = as_codes("items", items)
    annotator_codes = as_codes("annotators", annotators)
    value_array = _as_values(values, numeric=numeric)
    if not item_codes.size == annotator_codes.size == value_array.size:
        raise ValueError(
            "items, annotators and values must have the same length, got "
            f"{item_codes.size}, {annotator_codes.size} and {value_array.size}"
        )
    duplicate = find_duplicate(item_codes, annotator_codes)
    if duplicate is not None:
        raise ValueError(
            f"annotator {duplicate[1]} rated item {duplicate[0]} more than once; "
            "keep one rating per (item, annotator)"
        )
    if item_codes.size == 0:
        return Pairable(item_codes, value_array, np.zeros(0), 0)
    if int(item_codes.max()) >= 4 * item_codes.size + 1024:
        item_codes, _ = compact(item_codes)
    sizes = np.bincount(item_codes)
    is_pairable = sizes >= 2
    if bool(is_pairable.all()):
        unit, kept = item_codes, value_array
    else:
        keep = is_pairable[item_codes]
        renumber = np.cumsum(is_pairable) - 1
        unit, kept = renumber[item_codes[keep]], value_array[keep]
        sizes = sizes[is_pairable]
    return Pairable(unit, kept, sizes.astype(np.float64), int(item_codes.size))


def _as_values(values: npt.ArrayLike, *, numeric: bool) -> npt.NDArray[np.int64] | FloatArray:
    if not numeric:
        return as_codes("values", values)
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iuf":
        raise ValueError(f"values must be numbers, got dtype {array.dtype}")
    floats = array.astype(np.float64, copy=False)
    if not bool(np.isfinite(floats).all()):
        raise ValueError("values must be finite numbers (no NaN or infinity)")
    return floats


@dataclass(frozen=True)
class UnitCounts:
    """Counts ``n_uc`` of the present (pairable unit, category) cells, sorted by unit, category."""

    unit: IntArray
    category: IntArray
    count: FloatArray
    sizes: FloatArray
    n_categories: int

    @cached_property
    def marginals(self) -> FloatArray:
        """``n_c``: pairable values per category."""
        return weighted_counts(self.category, self.count, self.n_categories)


def unit_counts(p: Pairable, categories: IntArray, n_categories: int) -> UnitCounts:
    """Count each category per pairable unit (``categories`` aligned with ``p.unit``)."""
    keys = p.unit * n_categories
    keys += categories
    if p.n_units * n_categories <= max(DENSE_CELLS, DENSE_PER_VALUE * keys.size):
        # Counting into a units x categories table and scanning it is O(N + U V), no sort.
        table = np.bincount(keys, minlength=p.n_units * n_categories)
        present = np.flatnonzero(table)
        counts = table[present]
    else:
        ordered = np.sort(keys)
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        present = ordered[starts]
        counts = np.diff(np.r_[starts, ordered.size])
    unit, category = np.divmod(present, n_categories)
    return UnitCounts(unit, category, counts.astype(np.float64), p.sizes, n_categories)


def within_unit_pairs(uc: UnitCounts) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """Each unit's pairs of different categories, c < k: (unit, c, k, n_uc n_uk / (m_u - 1))."""
    size = uc.unit.size
    groups = np.bincount(uc.unit, minlength=uc.sizes.size)
    starts = np.cumsum(groups) - groups
    # Cells after each cell in its own unit; a unit's cells are contiguous and sorted.
    later = groups[uc.unit] - 1 - (np.arange(size) - starts[uc.unit])
    active = np.flatnonzero(later > 0)
    lefts, rights = [], []
    offset = 1
    # Pair every cell with the one `offset` places later; loops max(cells per unit) - 1 times
    # over shrinking index sets, so the total work is the number of pairs.
    while active.size:
        lefts.append(active)
        rights.append(active + offset)
        active = active[later[active] > offset]
        offset += 1
    left = np.concatenate(lefts) if lefts else np.zeros(0, dtype=np.int64)
    right = np.concatenate(rights) if rights else np.zeros(0, dtype=np.int64)
    unit = uc.unit[left]
    weight = uc.count[left] * uc.count[right] / (uc.sizes[unit] - 1.0)
    return unit, uc.category[left], uc.category[right], weight


def observed_coincidences(uc: UnitCounts) -> FloatArray:
    """The V x V coincidence matrix ``o_ck`` including its diagonal."""
    v = uc.n_categories
    _, c, k, weight = within_unit_pairs(uc)
    upper = weighted_counts(c * v + k, weight, v * v).reshape(v, v)
    o = upper + upper.T
    # A value never pairs with itself: n_uc (n_uc - 1) ordered pairs of equal values per unit.
    same = uc.count * (uc.count - 1.0) / (uc.sizes[uc.unit] - 1.0)
    o[np.diag_indices(v)] = weighted_counts(uc.category, same, v)
    return o


def observed_disagreement(uc: UnitCounts, distance: Distance) -> float:
    """``sum_ck o_ck d_ck``: D_o times n (distances are symmetric, so pairs count twice)."""
    _, c, k, weight = within_unit_pairs(uc)
    return 2.0 * float((weight * distance(c, k)).sum())


def expected_disagreement(marginals: FloatArray, distance: Distance) -> FloatArray:
    """``sum_ck n_c n_k d_ck`` for each row of marginals (R x V): D_e times n (n - 1)."""
    rows = np.atleast_2d(marginals)
    used = np.flatnonzero(rows.any(axis=0))
    total = np.zeros(rows.shape[0])
    # Only categories that occur can contribute; visit their pairs a block of rows at a time.
    step = max(1, DISTANCE_BLOCK // max(1, used.size))
    for begin in range(0, used.size, step):
        block = used[begin : begin + step]
        c = np.repeat(block, used.size)
        k = np.tile(used, block.size)
        d = distance(c, k).reshape(block.size, used.size)
        total += np.einsum("rc,ck,rk->r", rows[:, block], d, rows[:, used])
    return total


def category_distance(level: Level, marginals: FloatArray, points: FloatArray | None) -> Distance:
    """The distance of ``level`` between category indices (``points`` = numeric value of each)."""
    if level == "nominal":
        return lambda c, k: (c != k).astype(np.float64)
    if level == "ordinal":
        # d_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 with marginal frequencies n_g.
        cumulative = np.cumsum(marginals)

        def ordinal(c: IntArray, k: IntArray) -> FloatArray:
            low, high = np.minimum(c, k), np.maximum(c, k)
            between = cumulative[high] - cumulative[low] + (marginals[low] - marginals[high]) / 2
            return np.asarray(between**2, dtype=np.float64)

        return ordinal
    if points is None:
        raise ValueError(f"{level} distances need the numeric value of each category")
    if level == "interval":
        return lambda c, k: np.asarray((points[c] - points[k]) ** 2, dtype=np.float64)

    def ratio(c: IntArray, k: IntArray) -> FloatArray:
        total = points[c] + points[k]
        safe = np.where(total == 0, 1.0, total)
        return np.asarray(((points[c] - points[k]) / safe) ** 2, dtype=np.float64)

    return ratio


def categories_of(p: Pairable, level: Level) -> tuple[IntArray, int, FloatArray | None]:
    """Category index per pairable value, the number of categories and, if numeric, their values."""
    if level in ("nominal", "ordinal"):
        codes = p.values.astype(np.int64, copy=False)
        size = int(codes.max()) + 1 if codes.size else 0
        if size * size > DENSE_CELLS:
            # Unused codes never change alpha (their n_c is 0), so drop them to keep V x V small.
            codes, size = compact(codes)
        return codes, size, None
    low = float(p.values.min()) if p.n_values else 0.0
    span = float(p.values.max()) - low if p.n_values else 0.0
    if span <= DENSE_PER_VALUE * p.n_values + 1024 and abs(low) < 2.0**52:
        whole = p.values.astype(np.int64)
        if bool((whole == p.values).all()):
            # Whole numbers on a short scale (rating scales) are their own codes: no sort.
            offset, size = int(low), int(span) + 1
            return whole - offset, size, np.arange(size, dtype=np.float64) + offset
    points, inverse = np.unique(p.values, return_inverse=True)
    return inverse.astype(np.int64, copy=False), int(points.size), points.astype(np.float64)


def interval_unit_disagreement(p: Pairable) -> FloatArray:
    """Per pairable unit: the squared differences of its ordered value pairs over ``m_u - 1``."""
    values = p.values.astype(np.float64, copy=False)
    means = weighted_counts(p.unit, values, p.n_units) / p.sizes
    # Deviations from the unit mean, not sum(x^2) - (sum x)^2 / m, which cancels catastrophically.
    squares = weighted_counts(p.unit, (values - means[p.unit]) ** 2, p.n_units)
    return 2.0 * p.sizes * squares / (p.sizes - 1.0)


def disagreements(p: Pairable, level: Level) -> tuple[float, float]:
    """``(sum_ck o_ck d_ck, sum_ck n_c n_k d_ck)``; alpha is ``1 - (n - 1) * first / second``."""
    if level == "interval":
        values = p.values.astype(np.float64, copy=False)
        spread = float(((values - values.mean()) ** 2).sum())
        return float(interval_unit_disagreement(p).sum()), 2.0 * p.n_values * spread
    categories, size, points = categories_of(p, level)
    if level == "nominal":
        return _nominal_disagreements(p, categories, size)
    marginals = np.bincount(categories, minlength=size).astype(np.float64)
    distance = category_distance(level, marginals, points)
    expected = float(expected_disagreement(marginals, distance)[0])
    if size <= SHORT_SCALE and p.n_units * size <= max(DENSE_CELLS, DENSE_PER_VALUE * p.n_values):
        return _short_scale_observed(p, categories, size, distance), expected
    return observed_disagreement(unit_counts(p, categories, size), distance), expected


def _short_scale_observed(
    p: Pairable, categories: IntArray, size: int, distance: Distance
) -> float:
    # A categories x units table, one contiguous row per category: o_ck for k > c is a row
    # product summed, V^2/2 passes over the units, cheaper than listing pairs when V is small.
    # einsum and one reused row buffer keep temporaries (and their page faults) to a minimum.
    keys = categories * p.n_units
    keys += p.unit
    table = np.bincount(keys, minlength=size * p.n_units).reshape(size, p.n_units)
    inverse = 1.0 / (p.sizes - 1.0)
    row = np.empty(p.n_units)
    total = 0.0
    for c in range(size - 1):
        later = np.arange(c + 1, size)
        np.multiply(table[c], inverse, out=row)
        o = np.einsum("ku,u->k", table[c + 1 :], row)
        total += float((o * distance(np.full(later.size, c), later)).sum())
    return 2.0 * total


def _nominal_disagreements(p: Pairable, categories: IntArray, size: int) -> tuple[float, float]:
    # With d = [c != k] only sums of squared counts matter: a unit's mismatched ordered pairs
    # are m_u^2 - sum_c n_uc^2, all pairs' are n^2 - sum_c n_c^2. No pair is enumerated.
    keys = p.unit * size
    keys += categories
    if p.n_units * size <= max(DENSE_CELLS, DENSE_PER_VALUE * keys.size):
        table = np.bincount(keys, minlength=p.n_units * size).reshape(p.n_units, size)
        # einsum, not (table * table).sum(axis=1): a 3x faster reduction over short rows.
        squares = np.einsum("uc,uc->u", table, table).astype(np.float64)
    else:
        uc = unit_counts(p, categories, size)
        squares = weighted_counts(uc.unit, uc.count * uc.count, p.n_units)
    marginals = np.bincount(categories, minlength=size).astype(np.float64)
    observed = float(((p.sizes * p.sizes - squares) / (p.sizes - 1.0)).sum())
    return observed, float(p.n_values) ** 2 - float((marginals * marginals).sum())
