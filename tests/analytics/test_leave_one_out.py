"""Per-annotator alphas from kinds of item agree with computing each alpha directly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from app.analytics.agreement import krippendorff_alpha
from app.analytics.coincidence import LEVELS, Level
from app.analytics.leave_one_out import annotator_alphas
from tests.analytics.test_agreement import Ratings, agreeing, ratings


def _direct(items: np.ndarray, annotators: np.ndarray, values: np.ndarray, level: Level) -> dict:
    """Both alphas per annotator the slow way: mask, then compute."""
    result = {}
    for a in np.unique(annotators):
        mine = annotators == a
        theirs = np.isin(items, items[mine])
        shared = krippendorff_alpha(items[theirs], annotators[theirs], values[theirs], level=level)
        without = krippendorff_alpha(items[~mine], annotators[~mine], values[~mine], level=level)
        result[int(a)] = (shared, without.alpha)
    return result


def _same(fast: dict, slow: dict) -> None:
    assert fast.keys() == slow.keys()
    for a, (shared, without) in slow.items():
        got = fast[a]
        assert (got.shared.n_items, got.shared.n_pairable, got.shared.n_annotations) == (
            shared.n_items,
            shared.n_pairable,
            shared.n_annotations,
        )
        assert got.shared.reason == shared.reason
        for ours, theirs in ((got.shared.alpha, shared.alpha), (got.without, without)):
            assert (ours is None) == (theirs is None)
            if ours is not None:
                assert ours == pytest.approx(theirs, abs=1e-9)


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=150, deadline=None)
@given(data=ratings(negative=False, max_annotators=6))
def test_random_ratings_at_every_level(data: Ratings, level: Level) -> None:
    values = data.values(level)
    fast = annotator_alphas(data.items, data.annotators, values, level=level)
    assert fast is not None
    _same(fast, _direct(data.items, data.annotators, values, level))


@pytest.mark.parametrize("level", LEVELS)
def test_many_items_of_few_kinds(level: Level) -> None:
    items, annotators, values = agreeing(3000, 3, seed=8)
    # Spread the ratings over 12 annotators, three on each item, one of them noisy.
    annotators = (annotators + 3 * (items % 4)).astype(np.int64)
    noisy = annotators == 5
    values = np.where(noisy, np.random.default_rng(2).integers(0, 5, values.size), values)
    fast = annotator_alphas(items, annotators, values, level=level)
    assert fast is not None
    _same(fast, _direct(items, annotators, values, level))


def test_too_many_categories_leave_it_to_the_caller() -> None:
    items = np.repeat(np.arange(100), 2)
    annotators = np.tile(np.arange(2), 100)
    values = np.arange(200, dtype=np.float64)  # 200 distinct numbers
    assert annotator_alphas(items, annotators, values, level="interval") is None


def test_an_annotator_whose_items_are_unpairable_without_them() -> None:
    # Annotator 0 is the second rating of every item: without them nothing is pairable.
    items = np.array([0, 0, 1, 1, 2])
    annotators = np.array([0, 1, 0, 2, 1])
    values = np.array([1, 1, 0, 1, 0])
    fast = annotator_alphas(items, annotators, values, level="nominal")
    assert fast is not None
    assert fast[0].without is None
    _same(fast, _direct(items, annotators, values, "nominal"))
