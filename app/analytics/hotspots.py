"""Hotspots: where agreement is confidently low, and a verdict on why, with evidence to check it.

*Confidently low*: at least ``min_pairable`` pairable values, and both the point alpha and the
interval's upper bound under the threshold. Only slices whose point alpha is under the threshold
get an interval, so a scan costs a point alpha per tag and per annotator (computed together, as
weighted item subsets) plus intervals for the few suspects. The scan:

1. **Tags**: every edge-case tag whose ratings are confidently low is a tag hotspot.
2. **Annotators**, on the items outside every confidently low tag (nobody is blamed for splitting
   on an ambiguous or hard tag). An annotator's agreement is the alpha of the items they rated,
   everyone's ratings there (the dashboards' ``by_annotator`` figure). A noisy annotator drags
   down all who share items with them, so annotators are peeled off one at a time: the lowest
   confidently low one whom the others agree better without (leave-one-out) is *noisy*, their
   ratings are set aside and the rest measured again. Each noisy one is an annotator hotspot.
3. **Verdicts** of tag hotspots, the first rule that holds:

   - ``annotator_noise``: noisy annotators rated the tag and without them it is no longer
     confidently low (or too little is left to tell); or the tag's other annotators are
     confidently low outside it too (they disagree everywhere, not just here);
   - ``spec_ambiguity``: the tag's annotators (noisy ones aside) agree outside it (point alpha at
     or above the threshold) but inside it the label depends on who gives it: Cramér's V of the
     annotator x label table at least ``min_cramers_v`` (0.3: chance leaves about 0.1-0.15 in
     tables of a few hundred ratings) and a within-item permutation p-value under
     ``max_p_value`` (0.01: a scan tests many tags). Interval values have no categories to cross;
   - ``hard_items``: otherwise: disagreement spread over items and annotators with no pattern.

Score (rank, best first): ``(threshold - CI upper bound) * sqrt(n_pairable)``: how far the whole
interval sits under the threshold, scaled like a z-score by the evidence behind it.

Multi-choice ratings (``masi``) are not scanned: the verdicts rest on an annotator x label table
and label pairs, which label sets do not have; ``find_hotspots`` returns no hotspot for them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

from app.analytics.agreement import encode_ratings, krippendorff_alpha
from app.analytics.association import (
    Association,
    LabelPair,
    disagreement_drivers,
    permutations_for,
)
from app.analytics.bootstrap import Resampler, bootstrap_alpha
from app.analytics.coincidence import FloatArray, IntArray, Level, Pairable
from app.analytics.slices import Interval, Settings

Verdict = Literal["spec_ambiguity", "annotator_noise", "hard_items"]
"""Why agreement is low: the spec, the people, or the items."""

BoolArray = npt.NDArray[np.bool_]
Examples = tuple[int | str, ...]


@dataclass(frozen=True)
class HotspotSettings:
    """How verdicts are decided and how much work the evidence may take."""

    min_cramers_v: float = 0.3
    """Annotator x label association (Cramér's V) from which a split counts as systematic."""
    max_p_value: float = 0.01
    """The association's permutation p-value must be under this."""
    permutations: int = 999
    """Within-item shuffles for the p-value (the smallest reachable p is 1 / 1000)."""
    max_permutation_cells: int = 20_000_000
    """Cap on shuffles x ratings per tag; huge tags run fewer shuffles (never under 199)."""
    evidence_resample_cells: int = 20_000_000
    """Cap on resamples x items for the interval of the outside of a tag: it holds most of the
    project, so its interval is narrow anyway (``Interval.resamples`` says how many were drawn)."""
    min_evidence_resamples: int = 100
    """...but never fewer resamples than this."""
    examples: int = 5
    """Example items listed per tag hotspot."""


@dataclass(frozen=True)
class Agreement:
    """Alpha of one set of ratings (None: undefined), its interval when drawn, and counts."""

    alpha: float | None
    ci: Interval | None
    n_items: int
    """Pairable items: items with two or more ratings."""
    n_pairable: int


@dataclass(frozen=True)
class AnnotatorStanding:
    """One annotator of a tag: their agreement outside the confidently low tags, measured with
    the noisy annotators set aside (a noisy one: as measured when flagged)."""

    annotator: str
    n_ratings: int
    """Their ratings inside the tag."""
    agreement: Agreement
    noisy: bool


@dataclass(frozen=True)
class TagEvidence:
    """What a lead can check behind a tag hotspot's verdict."""

    inside: Agreement
    outside: Agreement
    """The tag's annotators (noisy ones set aside) on the items outside the tag."""
    without_noisy: Agreement | None
    """The tag without its noisy annotators' ratings (None: none of them rated it)."""
    label_pair: LabelPair | None
    association: Association | None
    annotators: tuple[AnnotatorStanding, ...]
    examples: Examples
    """Items of the tag that received both labels of the pair."""


@dataclass(frozen=True)
class AnnotatorEvidence:
    """What a lead can check behind an annotator hotspot."""

    agreement: Agreement
    """Alpha of the items they rated (everyone's ratings there), outside confidently low tags."""
    others: Agreement
    """The same scope without them (point alpha): leave-one-out."""


@dataclass(frozen=True)
class Hotspot:
    """A confidently low slice with its verdict, score and evidence; ``key`` is stable."""

    key: str
    scope: Literal["tag", "annotator"]
    tag: str | None
    annotator: str | None
    verdict: Verdict
    labels: tuple[str, ...]
    alpha: float
    ci: Interval
    n_items: int
    n_pairable: int
    score: float
    reason: str
    evidence: TagEvidence | AnnotatorEvidence

    def as_dict(self) -> dict[str, Any]:
        """The hotspot as plain JSON types (dicts, lists, str, numbers, None)."""
        # The round trip turns tuples into lists and refuses NaN or infinity.
        plain: dict[str, Any] = json.loads(json.dumps(asdict(self), allow_nan=False))
        return plain


def find_hotspots(
    ratings: pl.DataFrame,
    tags: pl.DataFrame,
    settings: Settings,
    hotspot_settings: HotspotSettings | None = None,
) -> list[Hotspot]:
    """Tag and annotator hotspots of a ratings frame, best first; the same seed, the same list.

    ``ratings`` has columns item, annotator, value and ``tags`` item, tag (see ``slices``).
    Invalid ratings (nulls, an annotator rating an item twice) raise ValueError.
    """
    if settings.measure == "masi" or ratings.height == 0:
        return []
    level: Level = settings.measure
    order = settings.value_order if level in ("nominal", "ordinal") else None
    encoded = encode_ratings(ratings, level=level, value_order=order)
    by_item = np.argsort(encoded.items, kind="stable")
    data = _Coded(encoded.items[by_item], encoded.annotators[by_item], encoded.values[by_item])
    n_items = len(encoded.item_labels)
    values = encoded.value_labels
    ctx = _Context(
        level,
        settings,
        hotspot_settings or HotspotSettings(),
        tuple(str(a) for a in encoded.annotator_labels),
        None if values is None else tuple(str(v) for v in values),
        encoded.item_labels,
        np.bincount(data.item, minlength=n_items) >= 2,
    )
    tagged = _tag_items(tags, ratings)
    low_tags, in_low_tag = [], np.zeros(n_items, dtype=np.bool_)
    points = _points(ctx, data, [*tagged.values()])
    for (tag, items), point in zip(tagged.items(), points, strict=True):
        if not _suspect(ctx, point):  # at or above the threshold: no interval needed
            continue
        inside = _agreement(ctx, data.on(items), settings.resamples)
        if _low(ctx, inside):
            low_tags.append((tag, items, inside))
            in_low_tag[items] = True
    standings, noisy = _peel(ctx, data.where(~in_low_tag[data.item]))
    hotspots = [_tag_hotspot(ctx, data, *low, standings, noisy) for low in low_tags]
    hotspots += [_annotator_hotspot(ctx, *flagged) for flagged in noisy.values()]
    return sorted(hotspots, key=lambda h: (-h.score, h.key))


class _Coded(NamedTuple):
    """Coded ratings, kept sorted by item (subsets keep the order)."""

    item: IntArray
    annotator: IntArray
    value: IntArray | FloatArray

    def where(self, mask: BoolArray) -> _Coded:
        return _Coded(self.item[mask], self.annotator[mask], self.value[mask])

    def items_by(self, annotators: IntArray) -> list[IntArray]:
        """The codes of the items each of ``annotators`` (ascending codes) rated."""
        # A stable sort of 16-bit keys is a radix sort: linear, several times faster.
        small = self.annotator.size == 0 or int(self.annotator.max()) < 1 << 15
        order = np.argsort(self.annotator.astype(np.int16 if small else np.int64), kind="stable")
        who, items = self.annotator[order], self.item[order]
        starts, ends = (np.searchsorted(who, annotators, side=x) for x in ("left", "right"))
        return [items[b:e] for b, e in zip(starts.tolist(), ends.tolist(), strict=True)]

    def on(self, items: IntArray) -> _Coded:
        """Every rating of the given items."""
        return self.where(np.isin(self.item, items))


@dataclass(frozen=True)
class _Context:
    level: Level
    settings: Settings
    options: HotspotSettings
    annotator_names: tuple[str, ...]
    value_names: tuple[str, ...] | None
    item_names: tuple[object, ...]
    pairable_item: BoolArray


_Flagged = tuple[int, Agreement, Agreement]  # code, their agreement, the others' without them


def _agreement(ctx: _Context, data: _Coded, resamples: int) -> Agreement:
    """Point alpha, and an interval from ``resamples`` item resamples (0: none)."""
    result = krippendorff_alpha(*data, level=ctx.level)
    ci, s = None, ctx.settings
    if result.alpha is not None and resamples > 0:
        bounds = bootstrap_alpha(
            *data, level=ctx.level, resamples=resamples, confidence=s.confidence, seed=s.seed
        )
        ci = None if bounds is None else Interval(*bounds, s.confidence, resamples)
    return Agreement(result.alpha, ci, result.n_items, result.n_pairable)


def _points(ctx: _Context, data: _Coded, subsets: list[IntArray]) -> list[Agreement]:
    """Point alpha of the ratings of each subset of items (distinct item codes), a chunk of
    subsets at a time: the chunk's items get one ``Resampler`` and each subset is a 0/1 weighting
    of them, so a subset costs a row of a matrix product, not a pass over the ratings."""
    sizes = np.bincount(data.item, minlength=len(ctx.pairable_item))
    starts = np.cumsum(sizes) - sizes  # each item's run of ratings (data is sorted by item)
    points: list[Agreement] = []
    begin = 0
    while begin < len(subsets):
        # Grow the chunk while rows x (an upper bound on its items) stays within the budget.
        end, cells = begin + 1, len(subsets[begin])
        while end < len(subsets) and (end + 1 - begin) * (cells + len(subsets[end])) <= 1 << 22:
            cells, end = cells + len(subsets[end]), end + 1
        # np.unique would sort; a mask over the item codes is linear.
        chosen = np.zeros(sizes.size, dtype=np.bool_)
        chosen[np.concatenate(subsets[begin:end])] = True
        union = np.flatnonzero(chosen & (sizes >= 2))
        counts, position = sizes[union], np.full(sizes.size, -1)
        position[union] = np.arange(union.size)
        offsets = np.cumsum(counts) - counts
        rows = np.repeat(starts[union] - offsets, counts) + np.arange(counts.sum())
        # encode_ratings checked the ratings (no nulls, one per item and annotator) and made
        # interval values floats: the pairable values go in as they are.
        units = np.repeat(np.arange(union.size), counts)
        p = Pairable(units, data.value[rows], counts.astype(np.float64), 0)
        weights = np.zeros((end - begin, union.size))
        for row, items in enumerate(subsets[begin:end]):
            weights[row, position[items[sizes[items] >= 2]]] = 1.0
        alphas, defined = np.zeros(len(weights)), np.zeros(len(weights), dtype=np.bool_)
        if p.varies():
            alphas, defined = Resampler(p, ctx.level).alphas(weights)
        counted = zip(alphas, defined, weights.sum(axis=1), weights @ p.sizes, strict=True)
        points += [
            Agreement(float(a) if ok else None, None, int(n), int(m)) for a, ok, n, m in counted
        ]
        begin = end
    return points


def _suspect(ctx: _Context, a: Agreement) -> bool:
    """Worth an interval: enough pairable values and a point alpha under the threshold."""
    s = ctx.settings
    return a.alpha is not None and a.n_pairable >= s.min_pairable and a.alpha < s.threshold


def _low(ctx: _Context, a: Agreement) -> bool:
    """Confidently low: enough pairable values and the whole interval under the threshold."""
    return _suspect(ctx, a) and a.ci is not None and a.ci.high < ctx.settings.threshold


def _ranked(ctx: _Context, a: Agreement) -> tuple[float, Interval, int, int, float]:
    """alpha, ci, n_items, n_pairable and score of a confidently low slice."""
    assert a.alpha is not None and a.ci is not None
    score = (ctx.settings.threshold - a.ci.high) * math.sqrt(a.n_pairable)
    return a.alpha, a.ci, a.n_items, a.n_pairable, score


def _tag_items(tags: pl.DataFrame, ratings: pl.DataFrame) -> dict[str, IntArray]:
    """Per tag (sorted by name), the codes (as ``encode_ratings`` gives them) of its items."""
    if tags.height == 0:
        return {}
    missing = [name for name in ("item", "tag") if name not in tags.columns]
    if missing:
        raise ValueError(f"tags frame lacks column(s) {', '.join(missing)}")
    index = ratings.select(pl.col("item").unique().sort()).with_row_index("code")
    codes = (
        tags.select(pl.col("item").cast(index["item"].dtype, strict=False), pl.col("tag"))
        .drop_nulls()
        .select("item", pl.col("tag").cast(pl.String))
        .join(index, on="item", how="inner")
        .group_by("tag")
        .agg(pl.col("code").unique().sort())
        .sort("tag")
    )
    return {tag: np.asarray(items, dtype=np.int64) for tag, items in codes.iter_rows()}


def _peel(ctx: _Context, data: _Coded) -> tuple[dict[int, Agreement], dict[int, _Flagged]]:
    """Each annotator's agreement, and the noisy ones found by peeling the worst off in turn."""
    standings: dict[int, Agreement] = {}
    noisy: dict[int, _Flagged] = {}
    active = np.flatnonzero(np.bincount(data.annotator))
    while active.size:
        rated = dict(zip(active.tolist(), data.items_by(active), strict=True))
        point = dict(zip(rated, _points(ctx, data, list(rated.values())), strict=True))
        found = None
        for alpha, a in sorted((p.alpha or 0.0, a) for a, p in point.items() if _suspect(ctx, p)):
            point[a] = _agreement(ctx, data.on(rated[a]), ctx.settings.resamples)
            if not _low(ctx, point[a]):
                continue
            rest = _agreement(ctx, data.where(data.annotator != a), 0)
            # Blame only someone the others agree better without (two annotators: nobody).
            if rest.alpha is not None and rest.alpha > alpha:
                found = (a, point[a], rest)
                break
        standings.update(point)
        if found is None:
            break
        noisy[found[0]] = found
        data, active = data.where(data.annotator != found[0]), active[active != found[0]]
    return standings, noisy


def _tag_hotspot(
    ctx: _Context,
    data: _Coded,
    tag: str,
    items: IntArray,
    inside: Agreement,
    standings: dict[int, Agreement],
    noisy: dict[int, _Flagged],
) -> Hotspot:
    rows = np.isin(data.item, items)
    tagged = data.where(rows)
    counts = np.bincount(tagged.annotator[ctx.pairable_item[tagged.item]])
    involved = np.flatnonzero(counts)
    noisy_here = [a for a in involved.tolist() if a in noisy]
    steady = np.zeros(len(ctx.annotator_names), dtype=np.bool_)
    steady[involved] = True
    steady[noisy_here] = False
    elsewhere = data.where(~rows & steady[data.annotator])
    outside, o = _agreement(ctx, elsewhere, 0), ctx.options
    if outside.alpha is not None:  # an interval within the evidence budget
        affordable = o.evidence_resample_cells // outside.n_items
        resamples = min(ctx.settings.resamples, max(o.min_evidence_resamples, affordable))
        outside = _agreement(ctx, elsewhere, resamples)
    without = None
    if noisy_here:
        without = _agreement(ctx, tagged.where(steady[tagged.annotator]), ctx.settings.resamples)
    pair, association, examples = _drivers(ctx, tagged)
    standing = tuple(
        AnnotatorStanding(
            ctx.annotator_names[a], n, standings.get(a, Agreement(None, None, 0, 0)), a in noisy
        )
        for a, n in zip(involved.tolist(), counts[involved].tolist(), strict=True)
    )
    evidence = TagEvidence(inside, outside, without, pair, association, standing, examples)
    verdict, reason = _tag_verdict(ctx, evidence, [ctx.annotator_names[a] for a in noisy_here])
    labels = pair.labels if pair is not None else ()
    ranked = _ranked(ctx, inside)
    return Hotspot(f"tag:{tag}", "tag", tag, None, verdict, labels, *ranked, reason, evidence)


def _tag_verdict(ctx: _Context, e: TagEvidence, noisy_names: list[str]) -> tuple[Verdict, str]:
    o, threshold = ctx.options, ctx.settings.threshold
    if e.without_noisy is not None and not _low(ctx, e.without_noisy):
        alpha = e.without_noisy.alpha
        after = "too little is left" if alpha is None else f"alpha here is {alpha:.2f}"
        return "annotator_noise", f"without {', '.join(noisy_names)} (noisy everywhere) {after}"
    if _low(ctx, e.outside):
        return "annotator_noise", f"these annotators are low outside it too ({e.outside.alpha:.2f})"
    a, elsewhere = e.association, e.outside.alpha
    agree_elsewhere = elsewhere is not None and elsewhere >= threshold
    if a and agree_elsewhere and a.cramers_v >= o.min_cramers_v and a.p_value < o.max_p_value:
        pair = f" on {' vs '.join(e.label_pair.labels)}" if e.label_pair else ""
        return "spec_ambiguity", (
            f"annotators who agree elsewhere (alpha {elsewhere:.2f}) split systematically"
            f"{pair}: Cramér's V {a.cramers_v:.2f}, p = {a.p_value:.3f}"
        )
    return "hard_items", "disagreement spread over items and annotators with no pattern"


def _drivers(
    ctx: _Context, tagged: _Coded
) -> tuple[LabelPair | None, Association | None, Examples]:
    """The tag's label pair, annotator x label association and example items (none: interval)."""
    if ctx.value_names is None:
        return None, None, ()
    o = ctx.options
    pair, association, both = disagreement_drivers(
        tagged.item,
        tagged.annotator,
        tagged.value.astype(np.int64),
        annotator_names=ctx.annotator_names,
        label_names=ctx.value_names,
        permutations=permutations_for(o.permutations, tagged.item.size, o.max_permutation_cells),
        seed=ctx.settings.seed,
    )
    names = (ctx.item_names[i] for i in both[: o.examples].tolist())
    return pair, association, tuple(n if isinstance(n, int | str) else str(n) for n in names)


def _annotator_hotspot(
    ctx: _Context, code: int, agreement: Agreement, others: Agreement
) -> Hotspot:
    name, ranked = ctx.annotator_names[code], _ranked(ctx, agreement)
    alpha, ci = ranked[0], ranked[1]
    without = "undefined" if others.alpha is None else f"{others.alpha:.2f}"
    reason = (
        f"{name} agrees little with others outside the low tags (alpha {alpha:.2f}, "
        f"CI {ci.low:.2f} to {ci.high:.2f}); everyone else: {without}"
    )
    evidence = AnnotatorEvidence(agreement, others)
    key = f"annotator:{name}"
    return Hotspot(key, "annotator", None, name, "annotator_noise", (), *ranked, reason, evidence)
