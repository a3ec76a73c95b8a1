"""Benchmark of the hotspot scan (``find_hotspots``) on a large synthetic project; asserts nothing.

It generates long-format annotations (``--annotations``, default 1,000,000: 3 per item) from
``--annotators`` annotators (default 50, each item rated by 3 distinct ones) on 4 labels, with
``--tags`` edge-case tags (default 20) that together cover about 30% of the items. Careful
annotators give the item's true label 90% of the time (else another label at random), and the data
hides two stories the scan must find:

- one ambiguous tag (``tag-00``): the annotators fall in two camps of equal size, and the second
  camp reads the tag's rule as "label these ``mixed``" (a spec ambiguity: the first camp labels
  the sentiment, as everywhere else);
- one noisy annotator (``annotator-00``) who labels everything at random (annotator noise).

Then it times ``find_hotspots`` with 1,000 resamples (``--resamples``) on the Polars frame: the
median over ``--repeats`` runs after one untimed warm-up run, with the CPU time, and prints the
hotspots found, whether they match the planted stories, and the peak resident memory of the process
(``resource.getrusage``) before and after the scans (the data alone accounts for the first figure).
The database load in front of the scan is not part of it.

    .venv/bin/python scripts/bench_hotspots.py
    .venv/bin/python scripts/bench_hotspots.py --annotations 100000 --repeats 5
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agreement import machine

from app.analytics.hotspots import Hotspot, find_hotspots
from app.analytics.slices import Settings

LABELS = ("positive", "negative", "neutral", "mixed")
PER_ITEM = 3
ACCURACY = 0.9
TAGGED_SHARE = 0.3


def distinct_annotators(rng: np.random.Generator, n_items: int, n_annotators: int) -> np.ndarray:
    """``PER_ITEM`` distinct annotators per item: a random start plus distinct non-zero offsets."""
    start = rng.integers(0, n_annotators, n_items)
    offsets = np.zeros((n_items, PER_ITEM), dtype=np.int64)
    for column in range(1, PER_ITEM):
        draw = rng.integers(1, n_annotators - column + 1, n_items)
        for previous in np.sort(offsets[:, 1:column], axis=1).T:
            draw += draw >= previous
        offsets[:, column] = draw
    return (start[:, None] + offsets) % n_annotators


def make_project(
    n_annotations: int, n_annotators: int, n_tags: int, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ratings frame (item, annotator, value) and the tags frame (item, tag)."""
    rng = np.random.default_rng(seed)
    n_items = n_annotations // PER_ITEM
    chosen = distinct_annotators(rng, n_items, n_annotators)
    items = np.repeat(np.arange(n_items), PER_ITEM)
    annotators = chosen.ravel()
    truth = rng.integers(0, len(LABELS), n_items)
    tag = np.where(rng.random(n_items) < TAGGED_SHARE, rng.integers(0, n_tags, n_items), -1)
    meant = truth[items].copy()
    ambiguous = (tag[items] == 0) & (annotators % 2 == 1)
    meant[ambiguous] = LABELS.index("mixed")
    slip = rng.integers(1, len(LABELS), items.size)
    values = np.where(rng.random(items.size) < ACCURACY, meant, (meant + slip) % len(LABELS))
    noisy = annotators == 0
    values[noisy] = rng.integers(0, len(LABELS), int(noisy.sum()))
    order = rng.permutation(items.size)
    names = np.array([f"annotator-{a:02d}" for a in range(n_annotators)])
    ratings = pl.DataFrame(
        {
            "item": items[order],
            "annotator": names[annotators[order]],
            "value": np.array(LABELS)[values[order]],
        }
    )
    tagged = np.flatnonzero(tag >= 0)
    tags = pl.DataFrame({"item": tagged, "tag": [f"tag-{t:02d}" for t in tag[tagged]]})
    return ratings, tags


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss is KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def describe(h: Hotspot) -> str:
    labels = f" {'/'.join(h.labels)}" if h.labels else ""
    return (
        f"  {h.key:<24} {h.verdict:<16} alpha {h.alpha:6.3f} "
        f"CI [{h.ci.low:6.3f}, {h.ci.high:6.3f}] n_pairable {h.n_pairable:>7} "
        f"score {h.score:8.1f}{labels}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--tags", type=int, default=20)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"machine: {machine()}")
    start = time.perf_counter()
    ratings, tags = make_project(args.annotations, args.annotators, args.tags, args.seed)
    print(
        f"data: {ratings.height:,} annotations on {ratings['item'].n_unique():,} items, "
        f"{args.annotators} annotators, {args.tags} tags on {tags.height:,} items "
        f"(built in {time.perf_counter() - start:.1f} s); peak RSS {peak_rss_mb():.0f} MB"
    )
    settings = Settings("nominal", LABELS, resamples=args.resamples, seed=args.seed)

    hotspots = find_hotspots(ratings, tags, settings)  # warm-up
    wall, cpu = [], []
    for _ in range(args.repeats):
        gc.collect()
        begin, begin_cpu = time.perf_counter(), time.process_time()
        hotspots = find_hotspots(ratings, tags, settings)
        wall.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
    print(
        f"find_hotspots ({args.resamples} resamples): median {statistics.median(wall):.2f} s "
        f"(min {min(wall):.2f}, max {max(wall):.2f}) over {args.repeats} runs; "
        f"cpu {statistics.median(cpu):.2f} s; peak RSS {peak_rss_mb():.0f} MB"
    )
    for h in hotspots:
        print(describe(h))
    found = {(h.key, h.verdict) for h in hotspots}
    planted = {("tag:tag-00", "spec_ambiguity"), ("annotator:annotator-00", "annotator_noise")}
    print(f"planted stories found: {planted <= found}; other hotspots: {len(found - planted)}")


if __name__ == "__main__":
    main()
