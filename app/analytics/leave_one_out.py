"""Per annotator, from one pass over the ratings: alpha on the items they rated and alpha of
everyone else without them (the leave-one-out effect).

Alpha depends on the ratings only through the coincidence matrix ``o`` (V x V) and the
marginals ``n_c``, both sums over items of what each item's value counts ``n_u`` contribute:
``O(n_u) = (n_u n_u^T - diag(n_u)) / (m_u - 1)`` and ``n_u`` itself for pairable items (m_u >= 2),
nothing otherwise. Items with equal counts contribute equally, so with K kinds of item:

- the items an annotator rated contribute ``sum_kind (their items of that kind) O(kind)``;
- without the annotator, each item they rated loses one value ``v``: the total changes by
  ``O(n) - O(n - e_v)`` for that kind and value, summed per annotator.

Everything is then a few (annotators x kinds) count tables times per-kind matrices, instead of
two full alphas per annotator over all ratings. It applies while values have few categories
(labels, rating scales); the caller computes alphas directly otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.analytics.agreement import NO_PAIRABLE_VALUES, NO_VARIATION, AlphaResult
from app.analytics.coincidence import (
    DENSE_CELLS,
    FloatArray,
    IntArray,
    Level,
    category_distance,
    compact,
    distinct_rows,
    weighted_counts,
)

MAX_CATEGORIES = 64
MAX_KIND_CELLS = 1 << 22
"""Kinds x values x V x V cells of per-kind differences held at once (32 MB)."""


@dataclass(frozen=True)
class AnnotatorAlphas:
    """One annotator's alpha on the items they rated, and everyone else's without them."""

    shared: AlphaResult
    without: float | None


def _categories(
    values: npt.NDArray[np.int64] | FloatArray, level: Level
) -> tuple[IntArray, int, FloatArray | None] | None:
    """Category code per rating, the number of categories and their numeric values (interval,
    ratio), or None with too many categories."""
    if level in ("nominal", "ordinal"):
        codes = np.asarray(values, dtype=np.int64)
        size = int(codes.max()) + 1
        if size > MAX_CATEGORIES:  # unused codes change nothing (their n_c is 0)
            codes, size = compact(codes)
        points = None
    else:
        points, inverse = np.unique(np.asarray(values, dtype=np.float64), return_inverse=True)
        codes, size = inverse.reshape(-1).astype(np.int64), int(points.size)
    return None if size > MAX_CATEGORIES else (codes, size, points)


def _alpha(
    o: FloatArray, marginals: FloatArray, level: Level, points: FloatArray | None
) -> tuple[float | None, str | None]:
    """Alpha from a coincidence matrix and its marginals (the definitions of agreement.py)."""
    n = float(marginals.sum())
    if n <= 0:
        return None, NO_PAIRABLE_VALUES
    size = marginals.size
    c, k = np.divmod(np.arange(size * size), size)
    d = category_distance(level, marginals, points)(c, k).reshape(size, size)
    expected = float(marginals @ d @ marginals)
    if not expected > 0:
        return None, NO_VARIATION
    observed = float((o * d).sum())
    return 1.0 - (n - 1.0) * observed / expected, None


def annotator_alphas(
    items: IntArray,
    annotators: IntArray,
    values: npt.NDArray[np.int64] | FloatArray,
    *,
    level: Level,
) -> dict[int, AnnotatorAlphas] | None:
    """Per annotator code: alpha on their items and alpha without them; None when the values
    have too many categories or kinds of item for this shortcut (one rating per item and
    annotator is assumed: the caller's coding checks it)."""
    if items.size == 0:
        return {}
    categories = _categories(values, level)
    if categories is None:
        return None
    codes, size, points = categories
    item_codes, n_items = compact(items)
    if n_items * size > DENSE_CELLS:
        return None
    table = np.bincount(item_codes * size + codes, minlength=n_items * size).reshape(n_items, size)
    grouped = distinct_rows(table.astype(np.float64))
    if grouped is None:
        return None
    first, kind_of_item = grouped
    counts = table[first].astype(np.float64)  # K x V: the value counts of each kind of item
    n_kinds = counts.shape[0]
    if n_kinds * size * size * size > MAX_KIND_CELLS:
        return None
    sizes = counts.sum(axis=1)
    contribution, marginal = _contributions(counts, sizes)
    # Without one value v of a kind: the same kind's counts less e_v (where it has a v at all).
    less = counts[:, None, :] - np.eye(size)[None, :, :]  # K x V x V
    less_contribution, less_marginal = _contributions(
        np.clip(less, 0, None).reshape(-1, size),
        (sizes[:, None] - 1.0).repeat(size, axis=1).ravel(),
    )
    removal = contribution[:, None] - less_contribution.reshape(n_kinds, size, size, size)
    removal_marginal = marginal[:, None] - less_marginal.reshape(n_kinds, size, size)

    annotator_codes, n_annotators = compact(annotators)
    kind = kind_of_item[item_codes]
    per_kind = (
        np.bincount(annotator_codes * n_kinds + kind, minlength=n_annotators * n_kinds)
        .reshape(n_annotators, n_kinds)
        .astype(np.float64)
    )
    per_removal = (
        np.bincount(
            annotator_codes * (n_kinds * size) + kind * size + codes,
            minlength=n_annotators * n_kinds * size,
        )
        .reshape(n_annotators, n_kinds * size)
        .astype(np.float64)
    )

    frequency = weighted_counts(kind_of_item, np.ones(n_items), n_kinds)
    o_total = np.tensordot(frequency, contribution, axes=1)
    m_total = frequency @ marginal
    o_shared = np.tensordot(per_kind, contribution, axes=1)  # A x V x V
    m_shared = per_kind @ marginal
    o_without = o_total - np.tensordot(per_removal, removal.reshape(-1, size, size), axes=1)
    m_without = m_total - per_removal @ removal_marginal.reshape(-1, size)
    pairable = (sizes >= 2).astype(np.float64)
    n_pairable_items = per_kind @ pairable
    n_pairable_values = per_kind @ (sizes * pairable)
    n_values = per_kind @ sizes

    labels = np.unique(annotators)  # compact keeps order: code i is the i-th smallest
    result = {}
    for a in range(n_annotators):
        alpha, reason = _alpha(o_shared[a], m_shared[a], level, points)
        without, _ = _alpha(o_without[a], m_without[a], level, points)
        pairable_values = round(float(n_pairable_values[a]))
        shared = AlphaResult(
            alpha,
            round(float(n_pairable_items[a])) if pairable_values else 0,
            pairable_values,
            round(float(n_values[a])),
            reason,
        )
        result[int(labels[a])] = AnnotatorAlphas(shared, without)
    return result


def _contributions(counts: FloatArray, sizes: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per row of value counts: its coincidences ``O`` (rows x V x V) and marginal counts, both
    zero for rows with fewer than two values."""
    pairable = sizes >= 2
    scale = np.where(pairable, 1.0 / np.where(pairable, sizes - 1.0, 1.0), 0.0)
    outer = counts[:, :, None] * counts[:, None, :]
    outer[:, np.arange(counts.shape[1]), np.arange(counts.shape[1])] -= counts
    return outer * scale[:, None, None], counts * pairable[:, None]
