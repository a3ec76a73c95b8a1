"""Benchmark of the export against Label Studio's on the same labeled data (a benchmark, not a
test: it asserts nothing).

One file of labeled tasks in Label Studio's own JSON format (``--items`` tasks, each with three
annotations by three of 20 annotators, named by email) is imported into each
server and exported again over HTTP, on SQLite and on PostgreSQL:

* Accord: a fresh database and ``accord serve`` as in ``bench_labeling.py``, a single-choice
  project with k = 3, the file through ``POST /api/v1/projects/{slug}/import/label-studio``
  (Accord's migration path), then ``GET /api/v1/projects/{slug}/export`` of every split: JSONL
  with every annotation as a row (what Label Studio's export holds), and the default one row
  per decided item (label, vote share, annotators, reliability flags) as JSONL and Parquet.
* Label Studio, run as ``scripts/bench_reference.py`` runs it: the annotators made members
  first, a project with the same choices and ``maximum_annotations`` = 3, the same file through
  ``POST /api/projects/{id}/import`` (annotations with ``completed_by`` emails), then
  ``GET /api/projects/{id}/export?exportType=JSON`` (its default export of the labeled tasks,
  each with all its annotations).

It prints, per server and database, the import and export times (the whole answer read), rows,
bytes and the server's CPU time and peak RSS, then the ratios. Label Studio is installed as
``scripts/bench_reference.py`` says::

    .venv/bin/python scripts/bench_export_reference.py \
        --label-studio /tmp/label-studio/bin/label-studio
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_labeling
from bench_labeling import (
    DATABASES,
    LABELS,
    Options,
    Server,
    annotator_emails,
    cpu_seconds,
    create_people,
    create_project,
    expect,
    fresh_accord,
    make_items,
    parse_options,
    peak_rss_kib,
    postgres_version,
    print_machine,
)

sys.modules.setdefault("bench_labeling", bench_labeling)
from bench_reference import LabelStudio, create_reference_project  # noqa: E402 (after the one copy)

EXPORT_TIMEOUT_S = 900.0
ACCORD_EXPORTS = {
    "jsonl, every label": "format=jsonl&consensus=all_annotations",
    "jsonl, per item": "format=jsonl",
    "parquet, per item": "format=parquet",
}
"""Accord's exports timed: every annotation as a row (what Label Studio's JSON holds, nested
in its tasks), and the default one row per decided item (a three-way tie has no majority and
no row), as JSONL and Parquet."""
LABELS_PER_TASK = 3
AGREEMENT = 0.7
"""How often a second or third annotator picks the first one's label (else a random one)."""


@dataclass(frozen=True)
class Timed:
    """One request: how long until the whole answer was read, and what it held."""

    seconds: float
    rows: int
    bytes: int
    server_cpu_s: float


@dataclass(frozen=True)
class Measured:
    """One server on one database: the import, its exports, the server's peak RSS."""

    server: str
    database: str
    imported: Timed
    exports: dict[str, Timed]
    peak_rss_kib: int


def labeled_tasks(n_items: int, emails: Sequence[str], seed: int) -> bytes:
    """The tasks as Label Studio exports them: ``data.text`` and ``data.external_id``, and
    three annotations each, ``completed_by`` an email, mostly agreeing."""
    rng = random.Random(seed)
    tasks = []
    for row in make_items(n_items, rng):
        first = rng.choice(LABELS)
        annotations = []
        for n, email in enumerate(rng.sample(list(emails), LABELS_PER_TASK)):
            label = first if n == 0 or rng.random() < AGREEMENT else rng.choice(LABELS)
            result = {
                "from_name": "label",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [label]},
            }
            annotations.append({"result": [result], "completed_by": {"email": email}})
        data = {"text": row["text"], "external_id": row["external_id"]}
        tasks.append({"data": data, "annotations": annotations})
    return json.dumps(tasks).encode()


def timed(
    client: httpx.Client, server: Server, method: str, url: str, body: bytes | None = None
) -> tuple[httpx.Response, float, float]:
    """Send one request and read the whole answer: the response, its seconds and the
    server's CPU seconds meanwhile."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    cpu = cpu_seconds(server.process.pid)
    started = time.perf_counter()
    response = client.request(method, url, content=body, headers=headers)
    response.read()
    seconds = time.perf_counter() - started
    return response, seconds, cpu_seconds(server.process.pid) - cpu


def accord_side(database: str, body: bytes, options: Options, run: int) -> Measured:
    """Accord on a fresh database: import the file, export it as JSONL and Parquet."""
    with fresh_accord(database, options, run, f"export-ref-{database}") as (database_url, server):
        people = create_people(database_url, options.annotators)
        headers = {"Authorization": f"Bearer {people.lead_token}"}
        with httpx.Client(
            base_url=server.base_url, headers=headers, timeout=EXPORT_TIMEOUT_S
        ) as lead:
            slug = "bench-export"
            create_project(lead, slug, LABELS_PER_TASK, people.annotator_emails)
            url = f"/api/v1/projects/{slug}/import/label-studio"
            response, seconds, cpu = timed(lead, server, "POST", url, body)
            created = int(expect(response, 201).json()["annotations_created"])
            imported = Timed(seconds, created, len(body), cpu)
            exports = {}
            for name, query in ACCORD_EXPORTS.items():
                url = f"/api/v1/projects/{slug}/export?{query}&split=all"
                response, seconds, cpu = timed(lead, server, "GET", url)
                content = expect(response, 200).content
                if "parquet" in query:
                    rows = pl.read_parquet(io.BytesIO(content)).height
                else:
                    rows = content.count(b"\n")
                exports[name] = Timed(seconds, rows, len(content), cpu)
        peak = peak_rss_kib(server.process.pid)
    return Measured("accord", database, imported, exports, peak)


def label_studio_side(
    label_studio: LabelStudio, body: bytes, options: Options, run: int
) -> Measured:
    """Label Studio: import the same file, export it as its JSON."""
    with label_studio.server(options.annotators, run) as running:
        server = running.server
        headers = {"Authorization": f"Token {label_studio.lead_token}"}
        with httpx.Client(
            base_url=server.base_url, headers=headers, timeout=EXPORT_TIMEOUT_S
        ) as lead:
            project_id = create_reference_project(lead, LABELS_PER_TASK)
            url = f"/api/projects/{project_id}/import"
            response, seconds, cpu = timed(lead, server, "POST", url, body)
            created = int(expect(response, 201).json()["annotation_count"])
            imported = Timed(seconds, created, len(body), cpu)
            url = f"/api/projects/{project_id}/export?exportType=JSON"
            response, seconds, cpu = timed(lead, server, "GET", url)
            content = expect(response, 200).content
            exports = {"json": Timed(seconds, len(json.loads(content)), len(content), cpu)}
        peak = peak_rss_kib(server.process.pid)
    return Measured("label-studio", label_studio.database, imported, exports, peak)


def print_measured(m: Measured) -> None:
    """One server's figures."""
    i = m.imported
    print(
        f"  import       {i.rows:,} annotations ({i.bytes / 1e6:.1f} MB) in {i.seconds:.2f} s, "
        f"server CPU {i.server_cpu_s:.2f} s"
    )
    for name, e in m.exports.items():
        print(
            f"  export {name:<19} {e.rows:,} rows, {e.bytes / 1e6:.1f} MB in {e.seconds:.2f} s "
            f"({e.rows / e.seconds:,.0f} rows/s), server CPU {e.server_cpu_s:.2f} s"
        )
    print(f"  peak RSS     {m.peak_rss_kib / 1024:.1f} MiB")


def print_ratios(results: Sequence[Measured]) -> None:
    """Accord's JSONL export and import against Label Studio's, per database."""
    accord = {m.database: m for m in results if m.server == "accord"}
    print("\nAccord against Label Studio, same file and database (x: times faster)")
    for m in results:
        a = accord.get(m.database)
        if m.server == "accord" or a is None:
            continue
        theirs, ours = m.exports["json"], a.exports["jsonl, every label"]
        print(
            f"  {m.database}: export x{theirs.seconds / ours.seconds:.1f} "
            f"(server CPU x{theirs.server_cpu_s / ours.server_cpu_s:.1f}), "
            f"import x{m.imported.seconds / a.imported.seconds:.1f}, "
            f"peak RSS x{m.peak_rss_kib / a.peak_rss_kib:.1f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Both servers on every database asked for; 1 if a run failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label-studio", type=Path, required=True, metavar="PATH")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--databases", default=",".join(DATABASES))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    options = parse_options(
        [
            *("--items", str(args.items), "--databases", args.databases),
            *("--seed", str(args.seed), "--label-studio", str(args.label_studio)),
        ]
    )
    pg_version = postgres_version(options.postgres_url)
    print_machine(pg_version)
    # Label Studio's annotators (made by bench_reference) are the members Accord's lead adds.
    body = labeled_tasks(options.items, annotator_emails(options.annotators), options.seed)
    print(
        f"\nworkload: {options.items:,} tasks with {LABELS_PER_TASK} annotations each by "
        f"{options.annotators} annotators, one {len(body) / 1e6:.1f} MB Label Studio JSON file"
    )
    results: list[Measured] = []
    failed = False
    for run, database in enumerate(options.databases, start=1):
        if database == "postgresql" and pg_version is None:
            print(f"\n== postgresql: skipped, no server answers at {options.postgres_url} ==")
            continue
        label_studio = LabelStudio(args.label_studio, database, options.postgres_url)
        try:
            print(f"\n== accord, {database} ==", flush=True)
            results.append(accord_side(database, body, options, run))
            print_measured(results[-1])
            print(f"\n== label-studio {label_studio.version}, {database} ==", flush=True)
            label_studio.initialize()
            results.append(label_studio_side(label_studio, body, options, run))
            print_measured(results[-1])
        except (RuntimeError, OSError, httpx.HTTPError, ValueError) as exc:
            print(f"  run failed: {exc}")
            failed = True
        finally:
            label_studio.close()
    print_ratios(results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
