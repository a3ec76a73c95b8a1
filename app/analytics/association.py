"""What drives the disagreement inside a slice: the label pair and the annotator x label split.

``label_pair`` names the pair of different labels confused most above chance in the slice's
coincidence matrix. ``annotator_label_association`` asks whether who labelled decides the label.
The statistic is Pearson's chi-square of the annotator x label contingency table, reported as
Cramér's V (0: labels do not depend on the annotator; 1: each annotator always gives their own
label). Its p-value comes from a permutation test whose null hypothesis keeps every item's multiset
of labels and shuffles which of the item's annotators gave which: a shuffle moves no label to
another item, so hard or ambiguous *items* alone never look like an annotator effect, and both
margins of the table (ratings per annotator, labels overall) stay fixed. The table sees how often
each annotator uses each label, not which label they give where: a split that only swaps labels
between items while every annotator keeps the same label frequencies goes unseen.

Cost: each permutation is a random permutation of every item's ratings, drawn for a whole block of
permutations at once (a lookup into all ``m!`` orders for items with ``m <= 5`` ratings, an
argsort of random keys beyond) and counted with one ``bincount``; blocks hold at most
``max_cells`` (permutation, rating) cells. The caller caps ``permutations x ratings`` (see
``permutations_for``) so a huge slice costs a bounded amount of work.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from app.analytics.agreement import coincidence_table
from app.analytics.coincidence import FloatArray, IntArray, compact

SMALL_ITEM = 5
"""Items with up to this many ratings draw their shuffles from a table of all orders (120 rows)."""

BLOCK_CELLS = 1 << 22
"""(permutation, rating) cells counted at once: about 32 MB of int64 keys."""


@dataclass(frozen=True)
class Association:
    """The annotator x label table of a slice, Cramér's V and its permutation p-value.

    ``counts[i][j]`` is how many ratings annotator ``annotators[i]`` gave with label
    ``labels[j]`` on items with two or more ratings (the only ones a shuffle can move).
    ``p_value`` is ``(1 + shuffles at least as associated) / (1 + permutations)``; it is 1.0 with
    ``permutations`` 0 when there is nothing to test (one annotator, or one label).
    """

    annotators: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    cramers_v: float
    p_value: float
    permutations: int


@dataclass(frozen=True)
class LabelPair:
    """The pair of different labels behind the disagreement, with its observed coincidences ``o``
    and those expected by chance ``e``: the pair with the largest ``o - e``, or, when no pair
    exceeds chance (possible while alpha is above 0), the pair with the largest ``o``."""

    labels: tuple[str, str]
    observed: float
    expected: float


def label_pair(
    items: IntArray, annotators: IntArray, values: IntArray, label_names: tuple[str, ...]
) -> LabelPair | None:
    """The label pair behind a slice's disagreement (value codes name ``label_names``), or None
    when no two different labels ever meet on an item."""
    table = coincidence_table(items, annotators, values, labels=label_names)
    upper = np.triu(np.ones_like(table.observed, dtype=np.bool_), k=1)
    if not bool((table.observed[upper] > 0).any()):
        return None
    excess = np.where(upper, table.observed - table.expected, -np.inf)
    if float(excess.max()) <= 0:
        # With alpha above 0 every cell can fall short of chance while disagreement stays high
        # (one label swallowing the others): then the pair seen most often is the one to show.
        excess = np.where(upper, table.observed, -np.inf)
    c, k = np.unravel_index(int(excess.argmax()), excess.shape)
    observed, expected = float(table.observed[c, k]), float(table.expected[c, k])
    return LabelPair((table.labels[c], table.labels[k]), observed, expected)


def disagreement_drivers(
    items: IntArray,
    annotators: IntArray,
    labels: IntArray,
    *,
    annotator_names: tuple[str, ...],
    label_names: tuple[str, ...],
    permutations: int,
    seed: int,
) -> tuple[LabelPair | None, Association, IntArray]:
    """A slice's label pair, the items (codes, ascending) that received both of its labels, and
    its annotator x label association."""
    pair = label_pair(items, annotators, labels, label_names)
    association = annotator_label_association(
        items,
        annotators,
        labels,
        annotator_names=annotator_names,
        label_names=label_names,
        permutations=permutations,
        seed=seed,
    )
    if pair is None:
        return None, association, np.zeros(0, dtype=np.int64)
    codes = (label_names.index(pair.labels[0]), label_names.index(pair.labels[1]))
    return pair, association, items_with_both(items, labels, codes)


def items_with_both(items: IntArray, values: IntArray, pair: tuple[int, int]) -> IntArray:
    """The item codes (ascending) on which both value codes of ``pair`` were given."""
    size = int(items.max()) + 1 if items.size else 0
    first = np.zeros(size, dtype=np.bool_)
    second = np.zeros(size, dtype=np.bool_)
    first[items[values == pair[0]]] = True
    second[items[values == pair[1]]] = True
    return np.flatnonzero(first & second)


def permutations_for(wanted: int, n_ratings: int, max_cells: int, floor: int = 199) -> int:
    """How many shuffles to run: ``wanted``, lowered so ``shuffles x n_ratings <= max_cells`` but
    never under ``floor`` (199 keeps the smallest reachable p-value, 1/200, under 0.01)."""
    if wanted <= 0:
        return 0
    budget = max_cells // max(1, n_ratings)
    return max(min(wanted, budget), min(wanted, floor))


def annotator_label_association(
    items: IntArray,
    annotators: IntArray,
    labels: IntArray,
    *,
    annotator_names: tuple[str, ...],
    label_names: tuple[str, ...],
    permutations: int,
    seed: int,
    max_cells: int = BLOCK_CELLS,
) -> Association:
    """Cramér's V of annotator x label and its within-item permutation p-value; seeded.

    ``items``, ``annotators`` and ``labels`` are aligned code arrays; ``annotator_names[a]`` and
    ``label_names[c]`` name codes ``a`` and ``c``. Ratings on items with a single rating are left
    out: no shuffle can move them.
    """
    sizes = np.bincount(items) if items.size else np.zeros(0, dtype=np.int64)
    keep = sizes[items] >= 2 if items.size else np.zeros(0, dtype=np.bool_)
    items, annotators, labels = items[keep], annotators[keep], labels[keep]
    n_labels = len(label_names)
    full = np.bincount(annotators * n_labels + labels, minlength=len(annotator_names) * n_labels)
    shown = np.flatnonzero(full.reshape(len(annotator_names), n_labels).sum(axis=1))
    counts = full.reshape(len(annotator_names), n_labels)[shown]
    table_names = tuple(annotator_names[a] for a in shown)
    table_counts = tuple(tuple(int(x) for x in row) for row in counts)
    ann, n_ann = compact(annotators)
    lab, n_lab = compact(labels)
    if n_ann < 2 or n_lab < 2:
        return Association(table_names, label_names, table_counts, 0.0, 1.0, 0)
    observed_table = np.bincount(ann * n_lab + lab, minlength=n_ann * n_lab).astype(np.float64)
    weights = _cell_weights(observed_table.reshape(n_ann, n_lab))
    observed = float(observed_table**2 @ weights)
    n = float(ann.size)
    # chi-square = n (sum_ij O_ij^2 / (r_i c_j) - 1); margins are fixed, so the sum is the test.
    chi_square = max(0.0, n * (observed - 1.0))
    v = math.sqrt(chi_square / (n * (min(n_ann, n_lab) - 1)))
    if permutations <= 0:
        return Association(table_names, label_names, table_counts, min(v, 1.0), 1.0, 0)
    shuffled = _shuffled_statistics(
        items, ann, lab, n_ann * n_lab, n_lab, weights, permutations, seed, max_cells
    )
    # A shuffle "as associated" within rounding of the observed sum counts as reaching it.
    reached = int(np.count_nonzero(shuffled >= observed * (1.0 - 1e-12)))
    p_value = (1 + reached) / (1 + permutations)
    return Association(table_names, label_names, table_counts, min(v, 1.0), p_value, permutations)


def _cell_weights(table: FloatArray) -> FloatArray:
    """``1 / (r_i c_j)`` per cell (row-major), 0 where a margin is empty."""
    rows, columns = table.sum(axis=1), table.sum(axis=0)
    outer = np.outer(rows, columns).ravel()
    return np.divide(1.0, outer, out=np.zeros_like(outer), where=outer > 0)


def _shuffled_statistics(
    items: IntArray,
    annotators: IntArray,
    labels: IntArray,
    n_cells: int,
    n_labels: int,
    weights: FloatArray,
    permutations: int,
    seed: int,
    max_cells: int,
) -> FloatArray:
    """``sum O^2 / (r c)`` of each shuffle of labels among every item's annotators."""
    # Sorted by item, then annotator: the same ratings in any row order get the same shuffles.
    order = np.lexsort((annotators, items))
    items, annotators, labels = items[order], annotators[order], labels[order]
    starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]])
    sizes = np.diff(np.r_[starts, items.size])
    # Items grouped by their number of ratings m: an (items x m) matrix of positions each.
    groups = [starts[sizes == m][:, None] + np.arange(m) for m in np.unique(sizes).tolist()]
    rng = np.random.default_rng(seed)
    step = max(1, max_cells // max(1, items.size))
    statistics = np.empty(permutations)
    for begin in range(0, permutations, step):
        rows = min(step, permutations - begin)
        table = np.zeros(rows * n_cells, dtype=np.int64)
        offsets = (np.arange(rows, dtype=np.int64) * n_cells)[:, None, None]
        for positions in groups:
            moved = np.take_along_axis(
                labels[positions][None], _row_orders(rng, rows, *positions.shape), axis=2
            )
            keys = offsets + annotators[positions][None] * n_labels + moved
            table += np.bincount(keys.ravel(), minlength=rows * n_cells)
        squares = table.reshape(rows, n_cells).astype(np.float64) ** 2
        statistics[begin : begin + rows] = squares @ weights
    return statistics


def _row_orders(rng: np.random.Generator, rows: int, n_items: int, m: int) -> IntArray:
    """A random order of ``0..m-1`` per (permutation, item): shape (rows, n_items, m)."""
    if m <= SMALL_ITEM:
        every = np.array(list(itertools.permutations(range(m))), dtype=np.int64)
        return every[rng.integers(0, len(every), size=(rows, n_items))]
    return np.argsort(rng.random((rows, n_items, m)), axis=2).astype(np.int64)
