"""Benchmark of a full agreement report on 1M annotations from a database (asserts nothing).

For SQLite and PostgreSQL (fresh databases, dropped afterwards) it loads a project with
``--annotations`` annotations (three per item, 50 annotators, 4 labels, 20 tags on ~30% of items;
setup, not measured), then, in a fresh process so that peak RSS is the report's own, times the
full report end to end: reading the labels in force from the database, overall alpha with a
1,000-resample bootstrap interval, every tag with its interval, every label (yes/no) and every
annotator (alpha on their items and everyone else's without them) as point estimates. Target (2
cores): under 3 s with peak RSS under 1 GB. Run from the repository root::

    .venv/bin/python scripts/bench_agreement_report.py
    .venv/bin/python scripts/bench_agreement_report.py --annotations 100000 --databases sqlite
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_labeling import fresh_database, postgres_version, print_machine
from bench_relabel import in_fresh_process, load_plain_project

from app.analytics.slices import by_annotator, by_label, by_tag, measure_slice
from app.db.bulk_read import bulk_reads
from app.db.engine import make_engine, make_session_factory, session_scope
from app.domain.agreement import slice_settings
from app.domain.agreement_store import watermark
from app.domain.projects import current_spec, get_project
from app.domain.ratings import load_ratings, load_tags

TARGET_S = 3.0
TARGET_RSS_MIB = 1024.0


def load(url: str, n_annotations: int) -> None:
    """A project ``bench`` with ``n_annotations`` labels in force."""
    load_plain_project(url, n_items=n_annotations // 3, n_people=50, n_tags=20, tagged=0.3, seed=3)


def report(url: str) -> dict[str, float]:
    """The full report, timed; runs in its own process (see ``--measure``)."""
    engine = make_engine(url)
    started = time.perf_counter()
    with session_scope(make_session_factory(engine)) as session:
        project = get_project(session, "bench")
        # As agreement_reports reads: in bulk (ADBC) when the project is this large
        with bulk_reads(session, rows=watermark(session, project)[0]):
            ratings = load_ratings(session, project, "current")
            tags = load_tags(session, project, ratings)
        labels = [label.key for label in current_spec(session, project).labels]
        frame = ratings.select("item", "annotator", "value")
        settings = slice_settings(session, project, frame)
    loaded = time.perf_counter()
    overall = measure_slice("overall", frame, settings)
    per_tag = by_tag(frame, tags, settings)
    points = dataclasses.replace(settings, resamples=0)
    per_label = by_label(frame, labels, points)
    per_annotator = by_annotator(frame, points)
    done = time.perf_counter()
    assert overall.ci is not None and all(s.ci is not None for s in per_tag)
    return {
        "seconds": done - started,
        "load_seconds": loaded - started,
        "annotations": float(frame.height),
        "tags": float(len(per_tag)),
        "labels": float(len(per_label)),
        "annotators": float(len(per_annotator)),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Load, measure in a fresh process, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.measure:
        print(json.dumps(report(options.measure)))
        return 0
    pg = postgres_version(options.postgres_url)
    print_machine(pg)
    for run, database in enumerate(options.databases.split(",")):
        if database == "postgresql" and pg is None:
            print(f"\n{database}: skipped (cannot reach {options.postgres_url})")
            continue
        with (
            tempfile.TemporaryDirectory() as tmp,
            fresh_database(database, Path(tmp), options.postgres_url, 10 + run) as url,
        ):
            load(url, options.annotations)
            r = in_fresh_process(__file__, url)
        ok = r["seconds"] < TARGET_S and r["peak_rss_mib"] < TARGET_RSS_MIB
        print(
            f"\n{database}: full report on {r['annotations']:,.0f} annotations "
            f"({r['tags']:.0f} tags with CIs, {r['labels']:.0f} labels, "
            f"{r['annotators']:.0f} annotators) in {r['seconds']:.2f} s "
            f"(reading {r['load_seconds']:.2f} s), peak RSS {r['peak_rss_mib']:.0f} MiB "
            f"(target < {TARGET_S:g} s and < {TARGET_RSS_MIB:.0f} MiB: {'ok' if ok else 'MISSED'})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
