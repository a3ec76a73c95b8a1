"""Hotspots: confidently low tags and annotators, with the verdict a lead acts on.

Synthetic projects are generated with a seeded generator so the ground truth is known: which tag
is ambiguous, which annotator is noisy, which items are hard. The demo project (pure, no database)
must tell its own story: a sarcasm spec ambiguity between Ana and Ben, and Farid's noise.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from app.analytics.association import annotator_label_association, permutations_for
from app.analytics.hotspots import (
    AnnotatorEvidence,
    Hotspot,
    HotspotSettings,
    TagEvidence,
    find_hotspots,
)
from app.analytics.slices import Settings, by_annotator, measure_slice
from app.domain.demo import plan_demo

LABELS = ("a", "b", "c", "d")
PEOPLE = tuple(f"ann{i}" for i in range(6))
TAGS = ("sarcasm", "negation", "emoji", "slang")
FAST = Settings("nominal", LABELS, resamples=200)

# (annotator, tag or None, true label index, generator) -> label index
Behaviour = Callable[[str, str | None, int, np.random.Generator], int]


def careful(rng: np.random.Generator, truth: int, accuracy: float = 0.92) -> int:
    """The true label most of the time, else another label at random."""
    if rng.random() < accuracy:
        return truth
    return int((truth + rng.integers(1, len(LABELS))) % len(LABELS))


def everyone_careful(annotator: str, tag: str | None, truth: int, rng: np.random.Generator) -> int:
    return careful(rng, truth)


def simulate(
    behave: Behaviour,
    *,
    seed: int = 1,
    n_items: int = 600,
    per_tag: int = 90,
    forced: dict[str, tuple[str, ...]] | None = None,
    people: tuple[str, ...] = PEOPLE,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Ratings (3 distinct annotators per item, or all ``people`` if fewer) and tags: the first
    ``per_tag`` items carry TAGS[0], the next TAGS[1], ...; ``forced[tag]`` annotators rate
    every item of that tag."""
    rng = np.random.default_rng(seed)
    forced = forced or {}
    rows: list[tuple[int, str, str]] = []
    tag_rows: list[tuple[int, str]] = []
    for item in range(n_items):
        index = item // per_tag
        tag = TAGS[index] if index < len(TAGS) else None
        must = list(forced.get(tag or "", ()))
        rest = [p for p in people if p not in must]
        n = min(3, len(people)) - len(must)
        chosen = must + [str(p) for p in rng.choice(rest, n, replace=False)]
        truth = int(rng.integers(0, len(LABELS)))
        rows += [(item, person, LABELS[behave(person, tag, truth, rng)]) for person in chosen]
        if tag is not None:
            tag_rows.append((item, tag))
    ratings = pl.DataFrame(rows, schema=["item", "annotator", "value"], orient="row")
    tags = pl.DataFrame(tag_rows, schema=["item", "tag"], orient="row")
    return ratings, tags


def keys(hotspots: list[Hotspot]) -> dict[str, str]:
    return {h.key: h.verdict for h in hotspots}


def tag_evidence(h: Hotspot) -> TagEvidence:
    assert isinstance(h.evidence, TagEvidence)
    return h.evidence


def assert_json_safe(hotspots: list[Hotspot]) -> None:
    for h in hotspots:
        text = json.dumps(h.as_dict(), allow_nan=False)
        assert json.loads(text)["key"] == h.key


def test_clean_data_with_several_tags_has_no_hotspot() -> None:
    ratings, tags = simulate(everyone_careful)
    assert find_hotspots(ratings, tags, FAST) == []


def split_on_sarcasm(annotator: str, tag: str | None, truth: int, rng: np.random.Generator) -> int:
    if tag == "sarcasm" and annotator == "ann0":
        return 0  # always "a"
    if tag == "sarcasm" and annotator == "ann1":
        return 1  # always "b"
    return careful(rng, truth)


def test_two_reliable_annotators_splitting_on_a_tag_is_a_spec_ambiguity() -> None:
    # Given ann0 and ann1, careful everywhere, who read the sarcasm rule in opposite ways
    ratings, tags = simulate(split_on_sarcasm, forced={"sarcasm": ("ann0", "ann1")})

    # When the project is scanned
    hotspots = find_hotspots(ratings, tags, FAST)

    # Then sarcasm is the one hotspot, a spec ambiguity over the labels they split on
    assert keys(hotspots) == {"tag:sarcasm": "spec_ambiguity"}
    (h,) = hotspots
    e = tag_evidence(h)
    assert h.scope == "tag" and h.tag == "sarcasm" and h.annotator is None
    assert h.labels == ("a", "b")
    assert e.association is not None
    assert e.association.cramers_v > 0.5 and e.association.p_value < 0.01
    counts = dict(zip(e.association.annotators, e.association.counts, strict=True))
    assert counts["ann0"] == (90, 0, 0, 0) and counts["ann1"] == (0, 90, 0, 0)
    assert h.ci.high < 0.667 and h.alpha < 0.3
    assert e.outside.alpha is not None and e.outside.alpha > 0.75
    assert e.without_noisy is None
    assert {s.annotator for s in e.annotators} == set(PEOPLE)
    assert not any(s.noisy for s in e.annotators)
    assert len(e.examples) == 5 and all(0 <= item < 90 for item in e.examples)
    assert h.score == pytest.approx((0.667 - h.ci.high) * np.sqrt(h.n_pairable))
    # The slice figures are the dashboards' own: measure_slice on the tag's ratings.
    reference = measure_slice("sarcasm", ratings.filter(pl.col("item") < 90), FAST)
    assert (h.alpha, h.ci, h.n_pairable) == (reference.alpha, reference.ci, reference.n_pairable)
    assert_json_safe(hotspots)


def noisy_ann5(annotator: str, tag: str | None, truth: int, rng: np.random.Generator) -> int:
    if annotator == "ann5":
        return int(rng.integers(0, len(LABELS)))
    return careful(rng, truth)


def test_a_noisy_annotator_is_blamed_and_no_tag_is_called_ambiguous_because_of_them() -> None:
    # Given ann5 labelling at random everywhere, and rating every "negation" item
    ratings, tags = simulate(noisy_ann5, forced={"negation": ("ann5",)})

    hotspots = find_hotspots(ratings, tags, FAST)

    # Then ann5 is the only annotator hotspot, although everyone shares items with them
    found = keys(hotspots)
    assert [k for k in found if k.startswith("annotator:")] == ["annotator:ann5"]
    assert found["annotator:ann5"] == "annotator_noise"
    # ...negation, where ann5 is on every item, is low because of them
    assert found["tag:negation"] == "annotator_noise"
    assert set(found.values()) == {"annotator_noise"}
    negation = tag_evidence(next(h for h in hotspots if h.key == "tag:negation"))
    without = negation.without_noisy
    assert without is not None and without.alpha is not None and without.ci is not None
    assert without.alpha > 0.6 and without.ci.high >= 0.667  # no longer confidently low
    assert [s.annotator for s in negation.annotators if s.noisy] == ["ann5"]
    ann5 = next(h for h in hotspots if h.key == "annotator:ann5")
    assert ann5.scope == "annotator" and ann5.tag is None and ann5.labels == ()
    assert isinstance(ann5.evidence, AnnotatorEvidence)
    assert ann5.alpha < 0.4 and ann5.ci.high < 0.667
    others = ann5.evidence.others.alpha
    assert others is not None and others > 0.75
    assert_json_safe(hotspots)


def random_on_slang(annotator: str, tag: str | None, truth: int, rng: np.random.Generator) -> int:
    if tag == "slang":
        return int(rng.integers(0, len(LABELS)))
    return careful(rng, truth)


def test_a_tag_everyone_finds_hard_is_hard_items() -> None:
    ratings, tags = simulate(random_on_slang)

    hotspots = find_hotspots(ratings, tags, FAST)

    assert keys(hotspots) == {"tag:slang": "hard_items"}
    e = tag_evidence(hotspots[0])
    assert e.association is not None and e.association.cramers_v < 0.3
    assert e.outside.alpha is not None and e.outside.alpha > 0.75
    assert e.without_noisy is None


def test_with_two_annotators_low_everywhere_nobody_is_singled_out() -> None:
    # Given only two annotators, who agree little on every item
    def mediocre(annotator: str, tag: str | None, truth: int, rng: np.random.Generator) -> int:
        return careful(rng, truth, accuracy=0.7)

    ratings, tags = simulate(mediocre, people=("ann0", "ann1"))

    hotspots = find_hotspots(ratings, tags, FAST)

    # Then the low tags are blamed on the pair being low everywhere, and neither is blamed alone:
    # without one of them the other has nobody to agree with.
    assert keys(hotspots) and set(keys(hotspots).values()) == {"annotator_noise"}
    assert all(h.scope == "tag" and "outside" in h.reason for h in hotspots)
    for h in hotspots:
        outside = tag_evidence(h).outside
        assert outside.ci is not None and outside.ci.high < 0.667


def demo_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    plan = plan_demo(7)
    ratings = pl.DataFrame(
        {
            "item": [a.item_index for a in plan.annotations],
            "annotator": [a.annotator for a in plan.annotations],
            "value": [a.value for a in plan.annotations],
        }
    )
    tagged = [(i, item.review.tag) for i, item in enumerate(plan.items) if item.review.tag]
    return ratings, pl.DataFrame(tagged, schema=["item", "tag"], orient="row")


DEMO = Settings("nominal", ("positive", "negative", "neutral", "mixed"))


def test_the_demo_shows_a_sarcasm_spec_ambiguity_and_farids_noise() -> None:
    ratings, tags = demo_frames()

    hotspots = find_hotspots(ratings, tags, DEMO)

    assert keys(hotspots) == {"tag:sarcasm": "spec_ambiguity", "annotator:farid": "annotator_noise"}
    sarcasm = next(h for h in hotspots if h.key == "tag:sarcasm")
    assert sarcasm.alpha == pytest.approx(-0.21, abs=0.005)
    assert -0.34 < sarcasm.ci.low < -0.30 and -0.12 < sarcasm.ci.high < -0.09
    assert sarcasm.labels == ("positive", "negative")
    e = tag_evidence(sarcasm)
    assert e.association is not None and e.association.cramers_v > 0.5
    assert e.association.p_value < 0.01
    # Ana reads the literal words, Ben the intent.
    counts = dict(zip(e.association.annotators, e.association.counts, strict=True))
    assert max(range(4), key=lambda j: counts["ana"][j]) == 0  # positive
    assert max(range(4), key=lambda j: counts["ben"][j]) == 1  # negative
    standing = {s.annotator: s for s in e.annotators}
    assert standing["farid"].noisy and not standing["ana"].noisy and not standing["ben"].noisy
    # Standings are by_annotator figures outside sarcasm, with Farid's ratings set aside.
    outside_sarcasm = ratings.join(tags.filter(pl.col("tag") == "sarcasm"), on="item", how="anti")
    steady = by_annotator(outside_sarcasm.filter(pl.col("annotator") != "farid"), DEMO)
    for reference in steady:
        assert standing[reference.key].agreement.alpha == pytest.approx(reference.alpha, abs=1e-9)
    assert standing["ana"].agreement.alpha is not None and standing["ana"].agreement.alpha > 0.8
    assert e.outside.alpha is not None and e.outside.alpha > 0.8  # Farid set aside
    # The tag is still low without Farid: the split is Ana's and Ben's.
    assert e.without_noisy is not None and e.without_noisy.ci is not None
    assert e.without_noisy.ci.high < 0

    farid = next(h for h in hotspots if h.key == "annotator:farid")
    reference = {s.key: s for s in by_annotator(outside_sarcasm, DEMO)}["farid"]
    assert farid.alpha == pytest.approx(reference.alpha, abs=1e-12)
    assert farid.ci == reference.ci
    assert farid.alpha == pytest.approx(0.46, abs=0.01) and farid.ci.high < 0.6


def test_the_tag_figures_are_measure_slice_figures() -> None:
    ratings, tags = demo_frames()
    (sarcasm,) = [h for h in find_hotspots(ratings, tags, DEMO) if h.tag == "sarcasm"]
    items = tags.filter(pl.col("tag") == "sarcasm")["item"]
    reference = measure_slice(
        "sarcasm", ratings.filter(pl.col("item").is_in(items.to_list())), DEMO
    )
    assert sarcasm.alpha == reference.alpha and sarcasm.ci == reference.ci
    assert (sarcasm.n_items, sarcasm.n_pairable) == (reference.n_items, reference.n_pairable)


def test_the_same_seed_gives_the_same_hotspots() -> None:
    ratings, tags = simulate(noisy_ann5, forced={"negation": ("ann5",)})
    first = [h.as_dict() for h in find_hotspots(ratings, tags, FAST)]
    shuffled = ratings.sample(fraction=1.0, shuffle=True, seed=3)
    assert [h.as_dict() for h in find_hotspots(shuffled, tags, FAST)] == first
    assert first and [h["score"] for h in first] == sorted(
        (h["score"] for h in first), reverse=True
    )


def test_stricter_association_settings_turn_the_ambiguity_into_hard_items() -> None:
    ratings, tags = simulate(split_on_sarcasm, forced={"sarcasm": ("ann0", "ann1")})
    strict = HotspotSettings(min_cramers_v=0.99)
    assert keys(find_hotspots(ratings, tags, FAST, strict)) == {"tag:sarcasm": "hard_items"}


def test_ordinal_ratings_are_judged_on_their_ranks() -> None:
    ratings, tags = simulate(split_on_sarcasm, forced={"sarcasm": ("ann0", "ann1")})
    ordinal = Settings("ordinal", LABELS, resamples=200)
    hotspots = find_hotspots(ratings, tags, ordinal)
    assert keys(hotspots) == {"tag:sarcasm": "spec_ambiguity"}
    assert hotspots[0].labels == ("a", "b")


def test_interval_ratings_are_never_called_ambiguous() -> None:
    # Given numbers: careful annotators are within 0.3 of the truth, ann0/ann1 split on sarcasm
    ratings, tags = simulate(split_on_sarcasm, forced={"sarcasm": ("ann0", "ann1")})
    rng = np.random.default_rng(5)
    numbers = ratings.with_columns(
        value=pl.col("value").replace_strict(dict(zip(LABELS, [0.0, 3.0, 6.0, 9.0], strict=True)))
        + pl.Series(rng.normal(0, 0.3, ratings.height))
    )

    hotspots = find_hotspots(numbers, tags, Settings("interval", None, resamples=200))

    assert keys(hotspots) == {"tag:sarcasm": "hard_items"}
    e = tag_evidence(hotspots[0])
    assert e.association is None and e.label_pair is None and hotspots[0].labels == ()
    assert_json_safe(hotspots)


EMPTY = pl.DataFrame(schema={"item": pl.Int64, "annotator": pl.String, "value": pl.String})
NO_TAGS = pl.DataFrame(schema={"item": pl.Int64, "tag": pl.String})


def test_empty_frames_one_annotator_and_no_variation_give_no_hotspot() -> None:
    assert find_hotspots(EMPTY, NO_TAGS, FAST) == []
    ratings, tags = simulate(noisy_ann5)
    assert find_hotspots(ratings.filter(pl.col("annotator") == "ann5"), tags, FAST) == []
    same = ratings.with_columns(value=pl.lit("a"))
    assert find_hotspots(same, tags, FAST) == []
    assert find_hotspots(same, pl.DataFrame(), FAST) == []


def test_without_tags_only_annotators_are_judged() -> None:
    ratings, _ = simulate(noisy_ann5)
    assert keys(find_hotspots(ratings, NO_TAGS, FAST)) == {"annotator:ann5": "annotator_noise"}


def test_tags_of_unrated_items_and_other_item_types_are_tolerated() -> None:
    ratings, tags = simulate(random_on_slang)
    extra = pl.DataFrame({"item": [10_000, 10_001], "tag": ["slang", "ghost"]})
    narrow = pl.concat([tags, extra]).with_columns(pl.col("item").cast(pl.Int32))
    assert keys(find_hotspots(ratings, narrow, FAST)) == {"tag:slang": "hard_items"}


def test_multi_choice_ratings_have_no_interval_so_no_hotspot() -> None:
    ratings, tags = simulate(random_on_slang)
    sets = ratings.with_columns(value=pl.concat_list(pl.col("value")))
    assert find_hotspots(sets, tags, Settings("masi", None, resamples=200)) == []


def test_invalid_ratings_are_refused() -> None:
    ratings, tags = simulate(everyone_careful)
    with pytest.raises(ValueError, match="more than once"):
        find_hotspots(pl.concat([ratings, ratings.head(1)]), tags, FAST)
    with pytest.raises(ValueError, match="lacks column"):
        find_hotspots(ratings, tags.rename({"tag": "name"}), FAST)


def association(
    items: list[int], annotators: list[int], labels: list[int], permutations: int = 999
) -> tuple[float, float]:
    result = annotator_label_association(
        np.array(items),
        np.array(annotators),
        np.array(labels),
        annotator_names=("p", "q", "r"),
        label_names=("x", "y", "z"),
        permutations=permutations,
        seed=0,
    )
    return result.cramers_v, result.p_value


def test_cramers_v_matches_a_hand_computed_table() -> None:
    # 40 items rated by p and q: p says x 30 times, q says x 10 times. Table [[30, 10], [10, 30]]:
    # chi-square = 80 * (2000 / 1600 - 1) = 20, V = sqrt(20 / 80) = 0.5.
    p_labels = [0] * 30 + [1] * 10
    q_labels = [0] * 10 + [1] * 30
    items = list(range(40)) * 2
    v, p_value = association(items, [0] * 40 + [1] * 40, p_labels + q_labels)
    assert v == pytest.approx(0.5)
    assert p_value < 0.01


def test_items_that_differ_are_not_an_annotator_effect() -> None:
    # p only rates x-items and q only y-items, and r agrees with both: a strong annotator x label
    # table, but shuffling labels within items changes nothing, so the p-value is 1.
    items = [*range(20), *range(20, 40), *range(40)]
    annotators = [0] * 20 + [1] * 20 + [2] * 40
    labels = [0] * 20 + [1] * 20 + [0] * 20 + [1] * 20
    v, p_value = association(items, annotators, labels)
    assert v > 0.5
    assert p_value == 1.0


def test_independent_labels_show_no_association() -> None:
    rng = np.random.default_rng(2)
    items = np.repeat(np.arange(300), 3).tolist()
    annotators = np.tile([0, 1, 2], 300).tolist()
    v, p_value = association(items, annotators, rng.integers(0, 3, 900).tolist())
    assert v < 0.1 and p_value > 0.05


def test_huge_slices_run_fewer_shuffles_but_never_under_199() -> None:
    assert permutations_for(999, 1_000, 20_000_000) == 999
    assert permutations_for(999, 50_000, 20_000_000) == 400
    assert permutations_for(999, 10_000_000, 20_000_000) == 199
    assert permutations_for(0, 10, 20_000_000) == 0
