"""Benchmark of the agreement engine against ``krippendorff.alpha`` (it asserts nothing).

For each workload it generates long-format ratings (item, annotator, value; rows shuffled, about
70% of ratings equal to the item's true value, the rest uniform), then times, side by side:

- ``ours``: ``krippendorff_alpha`` on the long-format code arrays, everything included
  (validation, duplicate check, coincidences);
- ``dense matrix``: building the annotators x items matrix with NaN for missing ratings, which is
  what ``krippendorff.alpha`` needs and what a caller holding long-format rows pays first;
- ``package``: ``krippendorff.alpha(reliability_data=..., value_domain=...,
  level_of_measurement=...)`` on that matrix.

Every timing follows one untimed warm-up call (glibc then serves large arrays from its heap instead
of fresh mmapped pages, as it does in a long-running process). It prints the median (with min-max)
over the repeats, the ratios package/ours and (dense + package)/ours, the ratio of CPU time
(steadier than wall time on a shared machine) and |alpha_ours - alpha_package|. Then it times
``bootstrap_alpha`` with 1,000 resamples next to a naive bootstrap (resample items, call the
package), timed on a few resamples and extrapolated. Workloads: 3 annotators x 100k items (5
values, all four levels), 5 annotators x 1M items with 3 ratings per item, 1,000 annotators x 100k
items with 3 ratings per item (as many ratings as 3 x 100k: our time should not move) and 50
distinct values on 3 x 100k. ``--quick`` runs everything ten times smaller.

    .venv/bin/python scripts/bench_agreement.py
    .venv/bin/python scripts/bench_agreement.py --quick
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.analytics.agreement import krippendorff_alpha
from app.analytics.bootstrap import bootstrap_alpha
from app.analytics.coincidence import Level


@dataclass(frozen=True)
class Workload:
    """Long-format ratings and how they were made."""

    name: str
    items: np.ndarray
    annotators: np.ndarray
    values: np.ndarray
    n_items: int
    n_annotators: int
    n_values: int


def make_workload(
    name: str, n_annotators: int, n_items: int, per_item: int, n_values: int, seed: int = 0
) -> Workload:
    """Each item rated by ``per_item`` distinct annotators out of ``n_annotators``."""
    rng = np.random.default_rng(seed)
    if per_item == n_annotators:
        chosen = np.tile(np.arange(n_annotators), (n_items, 1))
    else:
        # Distinct annotators per item: a random start plus distinct non-zero offsets.
        start = rng.integers(0, n_annotators, n_items)
        offsets = np.zeros((n_items, per_item), dtype=np.int64)
        for column in range(1, per_item):
            draw = rng.integers(1, n_annotators - column + 1, n_items)
            for previous in np.sort(offsets[:, 1:column], axis=1).T:
                draw += draw >= previous
            offsets[:, column] = draw
        chosen = (start[:, None] + offsets) % n_annotators
    items = np.repeat(np.arange(n_items), per_item)
    annotators = chosen.ravel()
    truth = rng.integers(0, n_values, n_items)
    noise = rng.integers(0, n_values, items.size)
    values = np.where(rng.random(items.size) < 0.7, truth[items], noise)
    order = rng.permutation(items.size)
    return Workload(
        name, items[order], annotators[order], values[order], n_items, n_annotators, n_values
    )


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds of each repeat."""

    wall: list[float]
    cpu: list[float]

    def median(self) -> float:
        return statistics.median(self.wall)

    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def timed(function: Callable[[], Any], repeats: int) -> tuple[Timing, Any]:
    """Times of ``repeats`` calls after one untimed warm-up call, and the last result."""
    result = function()
    wall, cpu = [], []
    for _ in range(repeats):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return Timing(wall, cpu), result


def dense_matrix(w: Workload) -> np.ndarray:
    """The annotators x items matrix with NaN for missing ratings."""
    matrix = np.full((w.n_annotators, w.n_items), np.nan)
    matrix[w.annotators, w.items] = w.values
    return matrix


def show(timing: Timing) -> str:
    seconds = timing.wall
    median = statistics.median(seconds)
    unit, scale = ("ms", 1e3) if median < 10 else ("s", 1.0)
    spread = f"({min(seconds) * scale:.1f}-{max(seconds) * scale:.1f})"
    return f"{median * scale:7.1f} {unit:2} {spread:<14}"


def compare(w: Workload, level: Level, repeats: int, package_repeats: int) -> None:
    """Print one row: ours, dense build, package, ratios, |difference|."""
    values = w.values.astype(float) if level in ("interval", "ratio") else w.values
    ours_t, ours = timed(
        lambda: krippendorff_alpha(w.items, w.annotators, values, level=level), repeats
    )
    dense_t, matrix = timed(lambda: dense_matrix(w), package_repeats)
    package_t, theirs = timed(
        lambda: krippendorff.alpha(
            reliability_data=matrix,
            value_domain=np.arange(w.n_values),
            level_of_measurement=level,
        ),
        package_repeats,
    )
    ratio = package_t.median() / ours_t.median()
    with_dense = (package_t.median() + dense_t.median()) / ours_t.median()
    cpu_ratio = package_t.median_cpu() / max(ours_t.median_cpu(), 1e-9)
    print(
        f"  {w.name:<34} {level:<9} {show(ours_t)} {show(dense_t)} {show(package_t)} "
        f"x{ratio:7.1f} x{with_dense:7.1f} x{cpu_ratio:7.1f}  {abs(ours.alpha - theirs):.1e}"
    )


HEADER = (
    f"  {'workload':<34} {'level':<9} {'ours (min-max)':<25} {'dense matrix':<25} "
    f"{'package':<25} {'package/ours':>8} {'+dense':>8} {'cpu':>8}  |diff|"
)


def naive_bootstrap(w: Workload, level: Level, resamples: int, seed: int) -> None:
    """What a caller would write with the package: resample items, rebuild, call alpha."""
    rng = np.random.default_rng(seed)
    matrix = dense_matrix(w)
    for _ in range(resamples):
        drawn = rng.integers(0, w.n_items, w.n_items)
        krippendorff.alpha(
            reliability_data=matrix[:, drawn],
            value_domain=np.arange(w.n_values),
            level_of_measurement=level,
        )


def bootstrap_row(w: Workload, level: Level, resamples: int, naive_resamples: int) -> None:
    ours_t, interval = timed(
        lambda: bootstrap_alpha(
            w.items, w.annotators, w.values, level=level, resamples=resamples, seed=0
        ),
        3,
    )
    naive_t, _ = timed(lambda: naive_bootstrap(w, level, naive_resamples, 0), 1)
    naive = naive_t.median() / naive_resamples * resamples
    low, high = interval
    print(
        f"  {w.name:<34} {level:<9} {resamples} resamples: ours {show(ours_t)} "
        f"(cpu {ours_t.median_cpu():.2f} s)  naive package loop ~{naive:.1f} s "
        f"(extrapolated from {naive_resamples})  x{naive / ours_t.median():.0f}  "
        f"95% CI [{low:.4f}, {high:.4f}]"
    )


LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{model}; {os.cpu_count()} cores; load average {load}\n"
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"polars {version('polars')}, krippendorff {version('krippendorff')}; "
        f"{platform.platform()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="ten times smaller workloads")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    repeats, package_repeats = 5, 3

    print(machine())
    print(
        "times: median (min-max) wall clock; ratios of medians: package/ours, "
        "(dense + package)/ours, and package/ours in CPU time\n"
    )
    three = make_workload(f"3 ann x {100_000 // scale:,} items", 3, 100_000 // scale, 3, 5)
    print("Point alpha, 5 values")
    print(HEADER)
    for level in LEVELS:
        compare(three, level, repeats, package_repeats)
    workloads = [
        make_workload(f"5 ann x {1_000_000 // scale:,} items, 3/item", 5, 1_000_000 // scale, 3, 5),
        make_workload(
            f"1,000 ann x {100_000 // scale:,} items, 3/item", 1000, 100_000 // scale, 3, 5
        ),
    ]
    for w in workloads:
        compare(w, "nominal", repeats, package_repeats)
    print("\nPoint alpha, 50 distinct values")
    print(HEADER)
    fifty = make_workload(
        f"3 ann x {100_000 // scale:,} items, 50 values", 3, 100_000 // scale, 3, 50
    )
    for level in ("nominal", "interval"):
        compare(fifty, level, repeats, package_repeats)
    print("\nBootstrap, resampling items")
    for level in LEVELS:
        bootstrap_row(three, level, 1000, 10)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:,.0f} MB (the package's dense matrices dominate)")


if __name__ == "__main__":
    main()
