"""Benchmark of the training export (a benchmark, not a test: it asserts nothing).

For SQLite and PostgreSQL (fresh databases, dropped afterwards) it bulk-loads ``--items`` labeled
items with three annotations each (setup, not measured), then, each in a fresh process so peak
RSS is the export's own, times ``GET .../export`` as the API runs it (building the rows and
serializing every chunk) for Parquet and JSONL: seconds, rows/s and peak RSS (the export's
process and, on SQLite, its reader process). Each format is timed twice: *first* after the
labels changed (no agreement report stored: the export computes the tag reliability and stores
it) and *stored* (as after a dashboard view, a snapshot or an earlier export of the same labels).
For JSONL, *first* reads the tagged items' labels whole, as on a project never measured before
(nothing kept: :mod:`app.domain.tagged_labels`), and *changed* comes after annotators corrected
1,000 labels (each retracted, a new one added) since the labels were kept, as in continuous work.
Targets (2 cores): Parquet of 1M items under 5 s; JSONL at over 200,000 rows/s with peak RSS
under 500 MB.

    .venv/bin/python scripts/bench_export.py --items 100000
    .venv/bin/python scripts/bench_export.py            # 1M items, 3M annotations
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_labeling import fresh_database, postgres_version, print_machine
from bench_relabel import LABELS, in_fresh_process, load_plain_project
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import make_engine, make_session_factory, session_scope
from app.db.models import Annotation, KeptTaggedLabels, StoredAgreementReport
from app.domain.export import parse_export_request
from app.domain.export_files import serialize
from app.domain.export_rows import export_frames, export_rows
from app.domain.projects import get_project

TARGET_PARQUET_S = 5.0
TARGET_JSONL_ROWS_PER_S = 200_000
TARGET_JSONL_RSS_MIB = 500.0
CORRECTIONS = 1_000
REPORTS = {"parquet": ("first", "stored"), "jsonl": ("first", "changed", "stored")}


def load(url: str, n_items: int) -> None:
    """A project ``bench`` with ``n_items`` items labeled three times each."""
    load_plain_project(url, n_items=n_items, n_people=30, n_tags=10, tagged=0.2, seed=4)


class ChildPeak:
    """The highest peak RSS (``VmHWM``) of this process's SQLite reader children, read from
    /proc every 20 ms. (``RUSAGE_CHILDREN`` would report the parent's size at the fork.)"""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        me = os.getpid()
        while not self._done.wait(0.02):
            for task in Path(f"/proc/{me}/task").iterdir():
                children: list[str] = []
                with contextlib.suppress(OSError):  # the thread may have ended
                    children = (task / "children").read_text().split()
                for pid in children:
                    with contextlib.suppress(OSError):
                        # Before its exec a (v)forked child still reports the parent's memory.
                        if b"sqlite_reader" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                            continue
                        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                            if line.startswith("VmHWM:"):
                                self.peak_kib = max(self.peak_kib, int(line.split()[1]))

    def stop(self) -> float:
        """Stop watching; the peak in MiB."""
        self._done.set()
        self._thread.join()
        return self.peak_kib / 1024


def measure(url: str, fmt: str, report: str) -> dict[str, float]:
    """One export, timed, in this (fresh) process; ``report``: ``first`` forgets the stored
    agreement reports and the kept tagged labels beforehand (untimed), ``changed`` forgets the
    reports and corrects :data:`CORRECTIONS` labels."""
    engine = make_engine(url)
    if report in ("first", "changed"):
        with session_scope(make_session_factory(engine)) as session:
            session.execute(delete(StoredAgreementReport))
            if report == "first":
                session.execute(delete(KeptTaggedLabels))
            else:
                correct_labels(session, CORRECTIONS)
    reader = ChildPeak()
    started = time.perf_counter()
    n_bytes = 0
    with session_scope(make_session_factory(engine)) as session:
        project = get_project(session, "bench")
        wanted = parse_export_request(session, project, {"format": fmt})
        # As the API does: Parquet is built whole, JSONL streams range by range.
        frames = [export_rows(session, project, wanted)] if fmt == "parquet" else None
        n_rows = 0
        for frame in frames or export_frames(session, project, wanted):
            n_rows += frame.height
            for chunk in serialize(frame, fmt):
                n_bytes += len(chunk)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": float(n_rows),
        "bytes": float(n_bytes),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reader_rss_mib": reader.stop(),
    }


def correct_labels(session: Session, n: int) -> None:
    """Retract ``n`` random live labels of the project, each replaced by a label of another
    value from the same annotator (as a correction in the browser does)."""
    rng = random.Random()
    low, high = session.execute(select(func.min(Annotation.id), func.max(Annotation.id))).one()
    picked = rng.sample(range(low, high + 1), min(3 * n, high - low + 1))
    labels = session.scalars(
        select(Annotation).where(Annotation.id.in_(picked), Annotation.retracted_at.is_(None))
    ).all()[:n]
    session.execute(
        update(Annotation)
        .where(Annotation.id.in_([a.id for a in labels]))
        .values(retracted_at=utcnow())
    )
    session.execute(
        insert(Annotation),
        [
            {
                "project_id": a.project_id,
                "item_id": a.item_id,
                "user_id": a.user_id,
                "spec_version_id": a.spec_version_id,
                "label_round": a.label_round,
                "value": rng.choice([v for v in LABELS if v != a.value]),
                "source": "api",
            }
            for a in labels
        ],
    )


def report_line(database: str, fmt: str, report: str, r: dict[str, float]) -> None:
    """Print one measurement against its target."""
    rate = r["rows"] / r["seconds"]
    if fmt == "parquet":
        ok = r["seconds"] < TARGET_PARQUET_S * r["rows"] / 1_000_000
    else:
        # The SQLite reader process counts too (its peak added: an upper bound of the sum).
        rss = r["peak_rss_mib"] + r["reader_rss_mib"]
        ok = rate > TARGET_JSONL_ROWS_PER_S and rss < TARGET_JSONL_RSS_MIB
    reader = f" + reader {r['reader_rss_mib']:.0f} MiB" if r["reader_rss_mib"] else ""
    print(
        f"{database} {fmt} ({report}): {r['rows']:,.0f} rows in {r['seconds']:.2f} s "
        f"({rate:,.0f} rows/s, {r['bytes'] / 1e6:.0f} MB), peak RSS "
        f"{r['peak_rss_mib']:.0f} MiB{reader} ({'ok' if ok else 'MISSED'})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Load once per database, export in fresh processes, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--loaded", metavar="URL", help="measure a database an earlier run loaded (no loading)"
    )
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.measure:
        print(json.dumps(measure(*options.measure)))
        return 0
    pg = postgres_version(options.postgres_url)
    print_machine(pg)
    if options.loaded:
        for fmt, reports in REPORTS.items():
            for report in reports:
                figures = in_fresh_process(__file__, options.loaded, fmt, report)
                report_line("loaded", fmt, report, figures)
        return 0
    for run, database in enumerate(options.databases.split(",")):
        if database == "postgresql" and pg is None:
            print(f"\n{database}: skipped (cannot reach {options.postgres_url})")
            continue
        with (
            tempfile.TemporaryDirectory() as tmp,
            fresh_database(database, Path(tmp), options.postgres_url, 20 + run) as url,
        ):
            load(url, options.items)
            print()
            for fmt, reports in REPORTS.items():
                for report in reports:
                    report_line(database, fmt, report, in_fresh_process(__file__, url, fmt, report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
