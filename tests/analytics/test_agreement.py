"""Krippendorff's alpha from long-format ratings: against the krippendorff package, hand-computed
cases and the invariants a reliability coefficient must keep."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import krippendorff
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.analytics import bootstrap as bootstrap_module
from app.analytics import coincidence
from app.analytics.agreement import (
    NO_PAIRABLE_VALUES,
    NO_VARIATION,
    alpha_from_frame,
    coincidence_table,
    encode_ratings,
    krippendorff_alpha,
    masi_alpha,
    masi_distance,
    one_vs_rest,
)
from app.analytics.bootstrap import Resampler, bootstrap_alpha
from app.analytics.coincidence import LEVELS, Level, pairable
from app.analytics.slices import Settings, by_annotator, by_label, measure_slice

NAN = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders x 12 units.
PUBLISHED = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)
PUBLISHED_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


@dataclass(frozen=True)
class Ratings:
    """One random draw as both long-format arrays and the package's annotators x items matrix."""

    items: np.ndarray
    annotators: np.ndarray
    codes: np.ndarray
    """Value codes 0..V-1 (nominal, ordinal)."""
    points: np.ndarray
    """The number behind each code (interval, ratio)."""
    n_values: int
    dense_codes: np.ndarray
    dense_points: np.ndarray

    def values(self, level: Level) -> np.ndarray:
        return self.points[self.codes] if level in ("interval", "ratio") else self.codes

    def ours(self, level: Level) -> float | None:
        return krippendorff_alpha(
            self.items, self.annotators, self.values(level), level=level
        ).alpha

    def package(self, level: Level) -> float | None:
        """The package's alpha, or None where it raises or returns NaN (undefined)."""
        numeric = level in ("interval", "ratio")
        data = self.dense_points if numeric else self.dense_codes
        domain = None if numeric else np.arange(self.n_values)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                result = float(
                    krippendorff.alpha(
                        reliability_data=data, value_domain=domain, level_of_measurement=level
                    )
                )
        except ValueError:
            return None
        return None if np.isnan(result) else result


def long_format(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items, annotators, values) of an annotators x items matrix with NaN for missing."""
    annotators, items = np.nonzero(~np.isnan(dense))
    return items, annotators, dense[annotators, items]


@st.composite
def ratings(draw: st.DrawFn, *, negative: bool = True, max_annotators: int = 5) -> Ratings:
    n_annotators = draw(st.integers(2, max_annotators))
    n_items = draw(st.integers(1, 9))
    n_values = draw(st.integers(2, 6))
    cells = draw(
        st.lists(
            st.one_of(st.none(), st.integers(0, n_values - 1)),
            min_size=n_annotators * n_items,
            max_size=n_annotators * n_items,
        )
    )
    # Two decimals keep differences far above rounding, as real rating scales do.
    low = -500.0 if negative else 0.0
    points = draw(
        st.lists(
            st.floats(low, 500.0).map(lambda x: round(x, 2)),
            min_size=n_values,
            max_size=n_values,
            unique=True,
        )
    )
    points_array = np.array(sorted(points))
    dense_codes = np.array([NAN if c is None else c for c in cells]).reshape(n_annotators, -1)
    annotators, items = np.nonzero(~np.isnan(dense_codes))
    codes = dense_codes[annotators, items].astype(np.int64)
    dense_points = np.full(dense_codes.shape, NAN)
    dense_points[annotators, items] = points_array[codes]
    return Ratings(items, annotators, codes, points_array, n_values, dense_codes, dense_points)


@contextmanager
def sparse_paths() -> Iterator[None]:
    """Force the sorted/sparse code paths that large data takes, on small data."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(coincidence, "DENSE_CELLS", 0)
        patch.setattr(coincidence, "DENSE_PER_VALUE", 0)
        patch.setattr(coincidence, "DISTANCE_BLOCK", 1)
        patch.setattr(bootstrap_module, "DENSE_CELLS", 0)
        yield


# --- The published example -----------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_published_example_reproduces_krippendorffs_values(level: Level) -> None:
    items, annotators, values = long_format(PUBLISHED)
    if level in ("nominal", "ordinal"):
        values = values.astype(np.int64) - 1  # ranks 0..4 for the scale 1..5

    result = krippendorff_alpha(items, annotators, values, level=level)

    assert result.alpha is not None
    assert round(result.alpha, 3) == PUBLISHED_ALPHA[level]
    expected = krippendorff.alpha(reliability_data=PUBLISHED, level_of_measurement=level)
    assert result.alpha == pytest.approx(expected, abs=1e-9)
    # Unit 12 has a single value: 41 values, 40 of them in the 11 pairable units.
    assert (result.n_items, result.n_pairable, result.n_annotations) == (11, 40, 41)
    assert result.reason is None


def test_coincidence_table_matches_the_published_matrix() -> None:
    items, annotators, values = long_format(PUBLISHED)

    table = coincidence_table(
        items, annotators, values.astype(np.int64) - 1, labels=["1", "2", "3", "4", "5"]
    )

    # Krippendorff (2011) section C: o_11 = 7, o_12 = 4/3, o_13 = o_14 = 1/3, o_55 = 3, ...
    assert table.labels == ("1", "2", "3", "4", "5")
    assert table.observed[0, :] == pytest.approx([7, 4 / 3, 1 / 3, 1 / 3, 0])
    assert table.observed[4, 4] == pytest.approx(3)
    assert table.observed.sum(axis=1) == pytest.approx([9, 13, 10, 5, 3])
    assert table.n_pairable == 40
    # e_ck = n_c n_k / (n - 1); e_cc = n_c (n_c - 1) / (n - 1).
    assert table.expected[0, 1] == pytest.approx(9 * 13 / 39)
    assert table.expected[1, 1] == pytest.approx(13 * 12 / 39)
    assert table.expected.sum() == pytest.approx(40)


# --- Against the krippendorff package, on random data with missing values -------------------


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=150, deadline=None)
@given(data=ratings(negative=False), sparse=st.booleans())
def test_alpha_matches_the_krippendorff_package(data: Ratings, sparse: bool, level: Level) -> None:
    if sparse:
        with sparse_paths():
            ours = data.ours(level)
    else:
        ours = data.ours(level)
    expected = data.package(level)

    if expected is None:
        assert ours is None
    else:
        assert ours == pytest.approx(expected, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(data=ratings(negative=True))
def test_interval_alpha_handles_negative_values(data: Ratings) -> None:
    expected = data.package("interval")
    ours = data.ours("interval")

    assert (ours is None) == (expected is None)
    if expected is not None:
        assert ours == pytest.approx(expected, abs=1e-9)


def test_many_annotators_and_categories_match_the_package() -> None:
    # Given 40 annotators, 300 items, 12 values and 70% missing ratings
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 12, 300)
    dense = np.where(rng.random((40, 300)) < 0.6, truth, rng.integers(0, 12, (40, 300))).astype(
        float
    )
    dense[rng.random(dense.shape) < 0.7] = NAN
    items, annotators, values = long_format(dense)
    for level in LEVELS:
        expected = krippendorff.alpha(
            reliability_data=dense, value_domain=np.arange(12), level_of_measurement=level
        )
        coded = values if level in ("interval", "ratio") else values.astype(np.int64)
        # When alpha is computed on either path, it is the package's alpha
        assert krippendorff_alpha(items, annotators, coded, level=level).alpha == pytest.approx(
            expected, abs=1e-9
        )
        with sparse_paths():
            sparse = krippendorff_alpha(items, annotators, coded, level=level).alpha
        assert sparse == pytest.approx(expected, abs=1e-9)


# --- Invariants --------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=100, deadline=None)
@given(
    truth=st.lists(st.integers(0, 4), min_size=1, max_size=10),
    present=st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=10, max_size=10),
)
def test_perfect_agreement_is_one(
    truth: list[int], present: list[list[bool]], level: Level
) -> None:
    # Given every annotator who rates an item gives it the same value
    rows = np.array(
        [(i, a, v) for i, v in enumerate(truth) for a in range(4) if present[i][a]],
        dtype=np.int64,
    ).reshape(-1, 3)
    items, annotators, values = rows.T
    pairable_values = {v for i, v in enumerate(truth) if sum(present[i]) >= 2}

    result = krippendorff_alpha(items, annotators, values, level=level)

    if len(pairable_values) >= 2:
        assert result.alpha == pytest.approx(1.0, abs=1e-12)
    else:
        assert result.alpha is None


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=100, deadline=None)
@given(data=ratings(negative=False), seed=st.integers(0, 2**32 - 1))
def test_permuting_annotators_items_and_rows_changes_nothing(
    data: Ratings, seed: int, level: Level
) -> None:
    rng = np.random.default_rng(seed)
    values = data.values(level)
    item_codes = rng.permutation(data.items.max(initial=-1) + 1)
    annotator_codes = rng.permutation(data.annotators.max(initial=-1) + 1)
    rows = rng.permutation(data.items.size)

    before = krippendorff_alpha(data.items, data.annotators, values, level=level)
    after = krippendorff_alpha(
        item_codes[data.items][rows],
        annotator_codes[data.annotators][rows],
        values[rows],
        level=level,
    )

    assert (after.alpha is None) == (before.alpha is None)
    if before.alpha is not None:
        assert after.alpha == pytest.approx(before.alpha, abs=1e-12)
    assert (after.n_items, after.n_pairable) == (before.n_items, before.n_pairable)


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=100, deadline=None)
@given(data=ratings(negative=False), extra=st.integers(0, 9))
def test_an_item_with_a_single_rating_changes_nothing(
    data: Ratings, extra: int, level: Level
) -> None:
    values = data.values(level)
    before = krippendorff_alpha(data.items, data.annotators, values, level=level)
    lone_value = np.array([extra if level in ("nominal", "ordinal") else 3.5 * extra])

    after = krippendorff_alpha(
        np.r_[data.items, data.items.max(initial=-1) + 1],
        np.r_[data.annotators, 0],
        np.r_[values, lone_value].astype(values.dtype),
        level=level,
    )

    assert after.alpha == before.alpha
    assert (after.n_items, after.n_pairable) == (before.n_items, before.n_pairable)
    assert after.n_annotations == before.n_annotations + 1


# --- Edge cases --------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_no_pairable_values_gives_none_not_nan(level: Level) -> None:
    # Given three items, each rated once
    result = krippendorff_alpha([0, 1, 2], [0, 1, 0], [1, 2, 3], level=level)

    assert result.alpha is None
    assert result.reason == NO_PAIRABLE_VALUES
    assert (result.n_items, result.n_pairable, result.n_annotations) == (0, 0, 3)
    # The package cannot compute it either.
    with pytest.raises(ValueError, match="at least one unit"):
        krippendorff.alpha(
            reliability_data=[[1, NAN, 3], [NAN, 2, NAN]],
            value_domain=[1, 2, 3],
            level_of_measurement=level,
        )


@pytest.mark.parametrize("level", LEVELS)
def test_empty_ratings_give_none(level: Level) -> None:
    result = krippendorff_alpha(
        np.array([], dtype=np.int64), np.array([], dtype=np.int64), [], level=level
    )

    assert (result.alpha, result.reason, result.n_annotations) == (None, NO_PAIRABLE_VALUES, 0)


@pytest.mark.parametrize("level", LEVELS)
def test_identical_pairable_values_give_none_with_no_variation(level: Level) -> None:
    # Given two items where everyone said 2, and a lone 5 on an unpairable item
    result = krippendorff_alpha(
        [0, 0, 1, 1, 1, 2], [0, 1, 0, 1, 2, 0], [2, 2, 2, 2, 2, 5], level=level
    )

    assert result.alpha is None
    assert result.reason == NO_VARIATION
    assert (result.n_items, result.n_pairable, result.n_annotations) == (2, 5, 6)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        package = krippendorff.alpha(
            reliability_data=[[2, 2, 5], [2, 2, NAN], [NAN, 2, NAN]], level_of_measurement=level
        )
    assert np.isnan(package)  # the package leaks NaN where we return None with a reason


def test_float_values_that_are_all_equal_have_no_variation() -> None:
    # 0.1 + 0.1 + 0.1 is not 0.3: the check must not depend on rounding of sums.
    result = krippendorff_alpha([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [0.1] * 5, level="interval")

    assert (result.alpha, result.reason) == (None, NO_VARIATION)


def test_a_repeated_item_annotator_pair_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="annotator 1 rated item 7 more than once"):
        krippendorff_alpha([7, 7, 7, 3], [0, 1, 1, 0], [1, 2, 2, 1], level="nominal")


def test_a_repeated_pair_is_found_among_sparse_codes() -> None:
    # Codes far larger than the number of rows take the sorting path.
    with pytest.raises(ValueError, match="annotator 900000 rated item 10000000000 more than once"):
        krippendorff_alpha([10**10, 5, 10**10], [900_000, 1, 900_000], [0, 1, 1], level="nominal")
    result = krippendorff_alpha(
        [10**10, 5, 10**10, 5], [9**9, 1, 1, 9**9], [0, 1, 0, 1], level="nominal"
    )
    assert result.alpha == 1.0


def test_a_repeated_pair_is_found_among_many_sparse_codes() -> None:
    # Given 30,000 distinct (item, annotator) pairs over a huge key space, then one repeat
    rng = np.random.default_rng(11)
    keys = rng.choice(10**12, size=30_000, replace=False)
    items, annotators = keys // 10**6, keys % 10**6

    assert coincidence.find_duplicate(items, annotators) is None
    repeated = coincidence.find_duplicate(
        np.r_[items, items[1234]], np.r_[annotators, annotators[1234]]
    )
    assert repeated == (items[1234], annotators[1234])


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 6)), max_size=60),
    sparse=st.booleans(),
)
def test_repeated_pairs_are_always_found(pairs: list[tuple[int, int]], sparse: bool) -> None:
    items = np.array([i for i, _ in pairs], dtype=np.int64)
    annotators = np.array([a for _, a in pairs], dtype=np.int64)
    if sparse:
        with sparse_paths():
            found = coincidence.find_duplicate(items, annotators)
    else:
        found = coincidence.find_duplicate(items, annotators)

    if len(set(pairs)) == len(pairs):
        assert found is None
    else:
        assert found is not None
        assert pairs.count(found) >= 2


@pytest.mark.parametrize(
    ("values", "level", "message"),
    [
        ([0.5, 1.0], "nominal", "integer codes"),
        ([-1, 1], "ordinal", "non-negative"),
        ([NAN, 1.0], "interval", "finite"),
        ([-1.0, 1.0], "ratio", "non-negative"),
        ([1, 2], "nominal ", "level must be one of"),
    ],
)
def test_bad_values_are_rejected(values: list[float], level: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        krippendorff_alpha([0, 0], [0, 1], values, level=level)  # type: ignore[arg-type]


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        krippendorff_alpha([0, 0, 1], [0, 1], [1, 2], level="nominal")


# --- Frames ------------------------------------------------------------------------------------


def test_frame_ratings_with_string_labels() -> None:
    # Given the published example with the ordinal labels of its 1..5 scale
    scale = ["very low", "low", "mid", "high", "very high"]
    items, annotators, values = long_format(PUBLISHED)
    frame = pl.DataFrame(
        {
            "item": [f"item-{i}" for i in items],
            "annotator": [f"coder-{a}" for a in annotators],
            "value": [scale[int(v) - 1] for v in values],
        }
    )

    ordinal = alpha_from_frame(frame, level="ordinal", value_order=scale)
    nominal = alpha_from_frame(frame, level="nominal")

    assert ordinal.alpha == pytest.approx(
        krippendorff.alpha(reliability_data=PUBLISHED, level_of_measurement="ordinal"), abs=1e-9
    )
    assert nominal.alpha == pytest.approx(
        krippendorff.alpha(reliability_data=PUBLISHED, level_of_measurement="nominal"), abs=1e-9
    )
    encoded = encode_ratings(frame, level="ordinal", value_order=scale)
    assert encoded.value_labels == tuple(scale)
    assert encoded.annotator_labels == ("coder-0", "coder-1", "coder-2", "coder-3")
    with pytest.raises(ValueError, match="need value_order"):
        encode_ratings(frame, level="ordinal")


def test_numeric_frame_for_interval_and_ratio() -> None:
    items, annotators, values = long_format(PUBLISHED)
    frame = pl.DataFrame({"item": items, "annotator": annotators, "value": values})

    for level in ("interval", "ratio", "ordinal"):
        expected = krippendorff.alpha(reliability_data=PUBLISHED, level_of_measurement=level)
        assert alpha_from_frame(frame, level=level).alpha == pytest.approx(expected, abs=1e-9)


def test_frame_errors_name_the_offending_row() -> None:
    frame = pl.DataFrame(
        {"item": ["a", "a", "b"], "annotator": ["ann", "bob", "ann"], "value": ["x", "y", "z"]}
    )

    with pytest.raises(ValueError, match="value 'z' is not in value_order"):
        alpha_from_frame(frame, level="nominal", value_order=["x", "y"])
    with pytest.raises(ValueError, match="annotator 'ann' rated item 'a' more than once"):
        alpha_from_frame(frame.with_columns(item=pl.lit("a")), level="nominal")
    with pytest.raises(ValueError, match="value is null in row 1"):
        alpha_from_frame(frame.with_columns(value=pl.Series(["x", None, "z"])), level="nominal")
    with pytest.raises(ValueError, match="lacks column"):
        alpha_from_frame(frame.drop("value"), level="nominal")
    with pytest.raises(ValueError, match="must be numbers"):
        alpha_from_frame(frame, level="interval")


# --- Multi-choice: MASI and one-vs-rest ---------------------------------------------------------


def multi_choice() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item": [1, 1, 2, 2, 3, 3, 4],
            "annotator": ["ann", "bob", "ann", "bob", "ann", "bob", "ann"],
            "value": [["x"], ["x"], ["x", "y"], ["x"], ["y"], ["z"], ["x", "z"]],
        }
    )


def test_masi_distance_follows_passonneau() -> None:
    assert masi_distance({"x"}, {"x"}) == 0.0
    assert masi_distance({"x", "y"}, {"x"}) == pytest.approx(1 - 0.5 * 0.67)  # subset
    assert masi_distance({"x", "y"}, {"y", "z"}) == pytest.approx(1 - (1 / 3) * 0.33)  # overlap
    assert masi_distance({"x"}, {"z"}) == 1.0  # disjoint
    assert masi_distance(set(), set()) == 0.0
    assert masi_distance(set(), {"x"}) == 1.0


def test_masi_alpha_by_hand() -> None:
    # Pairable values (item 4 has one rating): {x} x3, {x,y}, {y}, {z}; n = 6.
    # Each item has m = 2, so each ordered pair weighs 1/(m-1) = 1:
    #   item 1 {x}/{x}: 0; item 2 {x,y}/{x}: subset, 1 - 1/2 * 0.67 = 0.665; item 3 {y}/{z}: 1.
    #   sum o*d = 2 * (0 + 0.665 + 1) = 3.33.
    # Expected, over unordered pairs of the six values, n_c n_k d_ck:
    #   {x}-{x,y} 3 * 0.665 + {x}-{y} 3 + {x}-{z} 3 + {x,y}-{y} 0.665 + {x,y}-{z} 1 + {y}-{z} 1
    #   = 10.66, so over ordered pairs 21.32.
    # alpha = 1 - (n - 1) * 3.33 / 21.32 = 1 - 16.65 / 21.32 = 0.21904...
    result = masi_alpha(multi_choice())

    assert result.alpha == pytest.approx(1 - 5 * 3.33 / 21.32, abs=1e-12)
    assert (result.n_items, result.n_pairable, result.n_annotations) == (3, 6, 7)


def test_masi_alpha_edge_cases() -> None:
    same = multi_choice().with_columns(value=pl.lit(["x", "y"]))
    assert masi_alpha(same).reason == NO_VARIATION
    assert masi_alpha(multi_choice().filter(pl.col("annotator") == "ann")).reason == (
        NO_PAIRABLE_VALUES
    )
    with pytest.raises(ValueError, match="lists of labels"):
        masi_alpha(multi_choice().with_columns(value=pl.lit("x")))
    with pytest.raises(ValueError, match="non-empty"):
        masi_alpha(multi_choice().with_columns(value=pl.lit([""])))


def test_masi_alpha_counts_an_empty_choice_as_its_own_set() -> None:
    # Given ann chose nothing on item 1 and bob chose x; both chose nothing on item 2
    frame = pl.DataFrame(
        {
            "item": [1, 1, 2, 2, 3, 3],
            "annotator": ["ann", "bob"] * 3,
            "value": [[], ["x"], [], [], ["x"], ["x"]],
        },
        schema={"item": pl.Int64, "annotator": pl.String, "value": pl.List(pl.String)},
    )

    # {} vs {x} is at distance 1, like two nominal categories: alpha equals nominal alpha.
    nominal = krippendorff.alpha(
        reliability_data=[[0, 0, 1], [1, 0, 1]], level_of_measurement="nominal"
    )
    assert masi_alpha(frame).alpha == pytest.approx(nominal, abs=1e-12)


def test_one_vs_rest_gives_a_binary_nominal_frame_per_label() -> None:
    frames = one_vs_rest(multi_choice(), labels=["x", "y", "z", "never"])

    assert list(frames) == ["x", "y", "z", "never"]
    assert frames["y"]["value"].to_list() == [0, 0, 1, 0, 1, 0, 0]
    # x: items 1, 2 agree on "x chosen", item 3 agrees on "not chosen": perfect.
    assert alpha_from_frame(frames["x"], level="nominal").alpha == 1.0
    # y: items 2 and 3 disagree, item 1 agrees; the package on ann/bob x items 1..3 agrees.
    y = alpha_from_frame(frames["y"], level="nominal").alpha
    package = krippendorff.alpha(
        reliability_data=[[0, 1, 1], [0, 0, 0]], level_of_measurement="nominal"
    )
    assert y == pytest.approx(package, abs=1e-12)
    assert alpha_from_frame(frames["never"], level="nominal").reason == NO_VARIATION
    assert list(one_vs_rest(multi_choice())) == ["x", "y", "z"]


# --- Bootstrap ---------------------------------------------------------------------------------


def agreeing(n_items: int, n_annotators: int, seed: int) -> tuple[np.ndarray, ...]:
    """Ratings that agree about 70% of the time, each item rated by every annotator."""
    rng = np.random.default_rng(seed)
    items = np.repeat(np.arange(n_items), n_annotators)
    annotators = np.tile(np.arange(n_annotators), n_items)
    truth = rng.integers(0, 5, n_items)
    values = np.where(rng.random(items.size) < 0.7, truth[items], rng.integers(0, 5, items.size))
    return items, annotators, values


@pytest.mark.parametrize("level", LEVELS)
def test_bootstrap_is_seeded_and_brackets_the_estimate(level: Level) -> None:
    items, annotators, values = agreeing(400, 3, seed=1)
    point = krippendorff_alpha(items, annotators, values, level=level).alpha
    assert point is not None

    first = bootstrap_alpha(items, annotators, values, level=level, resamples=300, seed=5)
    again = bootstrap_alpha(items, annotators, values, level=level, resamples=300, seed=5)
    other = bootstrap_alpha(items, annotators, values, level=level, resamples=300, seed=6)
    narrow = bootstrap_alpha(
        items, annotators, values, level=level, resamples=300, seed=5, confidence=0.5
    )

    assert first == again
    assert first != other
    assert first is not None and narrow is not None
    low, high = first
    assert low < point < high
    assert high - low < 0.2
    assert low < narrow[0] < narrow[1] < high


@pytest.mark.parametrize("level", LEVELS)
def test_bootstrap_is_the_same_on_sparse_paths(level: Level) -> None:
    items, annotators, values = agreeing(60, 4, seed=2)

    dense = bootstrap_alpha(items, annotators, values, level=level, resamples=50, seed=3)
    with sparse_paths():
        sparse = bootstrap_alpha(items, annotators, values, level=level, resamples=50, seed=3)

    assert dense is not None and sparse is not None
    assert sparse == pytest.approx(dense, abs=1e-12)


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=100, deadline=None)
@given(data=ratings(negative=False), seed=st.integers(0, 2**32 - 1))
def test_a_weighted_resample_is_alpha_of_the_repeated_items(
    data: Ratings, seed: int, level: Level
) -> None:
    # Given weights w_u (how often a resample drew each pairable item)
    values = data.values(level)
    p = pairable(data.items, data.annotators, values, numeric=level in ("interval", "ratio"))
    if p.n_values == 0 or not p.varies():
        return
    weights = np.random.default_rng(seed).integers(0, 3, p.n_units).astype(float)
    pairable_items = np.flatnonzero(np.bincount(data.items) >= 2)

    alphas, defined = Resampler(p, level).alphas(weights[None, :])

    # Then alpha equals alpha of the data with item u copied w_u times
    rows = [np.flatnonzero(data.items == item) for item in pairable_items]
    copies = [(u, r, n) for u, r in enumerate(rows) for n in range(int(weights[u]))]
    repeated = krippendorff_alpha(
        np.concatenate([np.full(r.size, i) for i, (_, r, _) in enumerate(copies)] or [[]]).astype(
            np.int64
        ),
        np.concatenate([data.annotators[r] for _, r, _ in copies] or [[]]).astype(np.int64),
        np.concatenate([values[r] for _, r, _ in copies] or [[]]).astype(values.dtype),
        level=level,
    )
    assert bool(defined[0]) == (repeated.alpha is not None)
    if repeated.alpha is not None:
        assert alphas[0] == pytest.approx(repeated.alpha, abs=_tolerance(level, values, copies))


def _tolerance(
    level: Level, values: np.ndarray, copies: list[tuple[int, np.ndarray, int]]
) -> float:
    # Interval resamples sum moments centred on the whole data's mean (one pass for all
    # resamples); a resample whose values span a tiny range far from that mean loses digits
    # in proportion to (whole range / resample range)^2, so 1e-9 holds for well-spread data.
    if level != "interval":
        return 1e-9
    drawn = np.concatenate([values[r] for _, r, _ in copies])
    span = float(np.ptp(drawn))
    ratio = float(np.ptp(values)) / span if span else 1.0
    return 1e-9 + 1e-12 * ratio * ratio


def test_bootstrap_without_variation_or_pairs_is_none() -> None:
    assert bootstrap_alpha([0, 0, 1, 1], [0, 1, 0, 1], [2, 2, 2, 2], level="nominal") is None
    assert bootstrap_alpha([0, 1], [0, 0], [1, 2], level="nominal") is None


def test_bootstrap_drops_undefined_resamples_and_needs_half_of_them() -> None:
    # Given two items that are each internally unanimous but differ from each other: a resample
    # is defined (and then alpha = 1) only when it draws both items, which happens half the time.
    outcomes = {
        bootstrap_alpha(
            [0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 1, 1], level="nominal", resamples=3, seed=s
        )
        for s in range(40)
    }

    assert outcomes == {None, (1.0, 1.0)}


def test_bootstrap_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_alpha([0, 0], [0, 1], [0, 1], level="nominal", resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_alpha([0, 0], [0, 1], [0, 1], level="nominal", confidence=1.0)


def test_a_distance_matrix_bootstrap_equals_the_levels_own_when_it_is_the_same_distance() -> None:
    rng = np.random.default_rng(3)
    items = np.repeat(np.arange(300), 3)
    annotators = np.tile(np.arange(3), 300)
    values = np.where(rng.random(900) < 0.7, items % 4, rng.integers(0, 4, 900))
    nominal = bootstrap_alpha(items, annotators, values, level="nominal", resamples=300, seed=5)
    matrix = 1.0 - np.eye(4)
    same = bootstrap_alpha(
        items, annotators, values, level="nominal", resamples=300, seed=5, distances=matrix
    )
    assert nominal is not None and same == pytest.approx(nominal, abs=1e-12)
    with pytest.raises(ValueError, match="level='nominal'"):
        bootstrap_alpha(items, annotators, values, level="ordinal", distances=matrix)


def test_multi_choice_slices_get_a_masi_interval_around_their_alpha() -> None:
    rng = np.random.default_rng(4)
    rows = []
    for item in range(200):
        truth = sorted(rng.choice(["x", "y", "z"], size=rng.integers(1, 3), replace=False))
        for annotator in ("ann", "bob", "cy"):
            value = truth if rng.random() < 0.8 else [str(rng.choice(["x", "y", "z"]))]
            rows.append((item, annotator, [str(v) for v in value]))
    frame = pl.DataFrame(
        {
            "item": [r[0] for r in rows],
            "annotator": [r[1] for r in rows],
            "value": [r[2] for r in rows],
        },
        schema={"item": pl.Int64, "annotator": pl.String, "value": pl.List(pl.String)},
    )
    sliced = measure_slice("all", frame, Settings("masi", None, resamples=400))
    point = masi_alpha(frame).alpha
    assert sliced.alpha == point and sliced.ci is not None and point is not None
    assert sliced.ci.low < point < sliced.ci.high
    assert sliced.ci.high - sliced.ci.low < 0.3
    assert sliced.reliable is (sliced.ci.low >= 0.667)
    # The same seed gives the same interval
    again = measure_slice("all", frame, Settings("masi", None, resamples=400))
    assert again.ci == sliced.ci


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_per_annotator_and_per_label_slices_equal_measuring_each_subset_alone(
    level: Level,
) -> None:
    rng = np.random.default_rng(11)
    n = 400
    items = np.repeat(np.arange(n // 2), 2)
    people = rng.integers(0, 6, n)
    keep = np.ones(n, dtype=bool)
    keep[1::2] = people[1::2] != people[::2]  # nobody rates an item twice
    truth = items % 3
    value = np.where(rng.random(n) < 0.75, truth, rng.integers(0, 3, n))
    frame = pl.DataFrame(
        {
            "item": items[keep],
            "annotator": [f"p{a}" for a in people[keep]],
            "value": value[keep] if level != "nominal" else [f"v{v}" for v in value[keep]],
        }
    )
    settings = Settings(level, None, resamples=50)
    for fast in by_annotator(frame, settings):
        theirs = frame.filter(pl.col("annotator") == fast.key)["item"]
        slow = measure_slice(
            fast.key, frame.filter(pl.col("item").is_in(theirs.to_list())), settings
        )
        others = measure_slice(
            "others",
            frame.filter(pl.col("annotator") != fast.key),
            Settings(level, None, resamples=0),
        )
        # Point alphas come from coincidence sums (leave_one_out.py): equal to rounding.
        assert fast.alpha == pytest.approx(slow.alpha, abs=1e-12)
        assert (fast.ci, fast.n_pairable) == (slow.ci, slow.n_pairable)
        assert fast.extra["alpha_without"] == pytest.approx(others.alpha, abs=1e-12)
    if level == "nominal":
        for fast in by_label(frame, ["v0", "v1", "v9"], settings):
            chose = pl.when(pl.col("value") == fast.key).then(pl.lit("yes")).otherwise(pl.lit("no"))
            slow = measure_slice(
                fast.key,
                frame.with_columns(value=chose),
                Settings("nominal", ("no", "yes"), resamples=50),
            )
            assert (fast.alpha, fast.ci, fast.why) == (slow.alpha, slow.ci, slow.why)


@pytest.mark.parametrize("level", LEVELS)
def test_resampling_kinds_of_item_is_resampling_items(level: Level) -> None:
    # Given many items that are alike (5 values, 3 ratings an item)
    items, annotators, values = agreeing(2000, 3, seed=4)
    p = pairable(items, annotators, values, numeric=level in ("interval", "ratio"))
    resampler = Resampler(p, level)
    by_kind = resampler.by_kind()
    assert by_kind is not None
    distinct, kind = by_kind
    assert distinct.n_units * 4 <= p.n_units and kind.size == p.n_units
    # Then any item weights give the same alphas as their totals per kind of item
    weights = np.random.default_rng(9).integers(0, 3, (6, p.n_units)).astype(float)
    per_kind = np.stack([np.bincount(kind, row, minlength=distinct.n_units) for row in weights])
    expected, expected_defined = resampler.alphas(weights)
    got, defined = distinct.alphas(per_kind)
    assert (defined == expected_defined).all()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("level", LEVELS)
def test_the_interval_is_the_same_drawn_over_kinds_or_over_items(
    level: Level, monkeypatch: pytest.MonkeyPatch
) -> None:
    items, annotators, values = agreeing(2000, 3, seed=4)
    by_kind = bootstrap_alpha(items, annotators, values, level=level, resamples=1000, seed=1)
    monkeypatch.setattr("app.analytics.bootstrap.KIND_GAIN", 10**9)
    by_item = bootstrap_alpha(items, annotators, values, level=level, resamples=1000, seed=1)
    assert by_kind is not None and by_item is not None and by_kind != by_item
    assert by_kind == pytest.approx(by_item, abs=0.02)
