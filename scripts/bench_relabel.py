"""Benchmark of the spec-change loop's jobs (a benchmark, not a test: it asserts nothing).

For every database (SQLite file, then PostgreSQL; a fresh database each, dropped afterwards):

1. **Re-label campaign.** Loads a project with ``--campaign-items`` items carrying the tag
   ``sarcasm`` plus half as many untagged ones, each labeled by three annotators under v1 (setup,
   bulk-loaded, not measured), publishes v2 with a rewritten ``sarcasm`` rule, and times the
   ``spec_published`` job that creates the campaign (finding the affected items, one
   ``relabel_items`` row each, moving them into the next round) as the worker runs it: one
   transaction, committed. (PostgreSQL tables are vacuumed and analyzed after loading, as
   autovacuum would.)
2. **Hotspot scan.** Loads a project with ``--scan-annotations`` annotations (three per item,
   50 annotators, 4 labels, 20 tags on ~30% of items, one ambiguous tag where two annotator
   groups split, one noisy annotator) and times the ``scan_hotspots`` job end to end: loading
   the ratings, the analysis with 1,000-resample intervals, writing the hotspots, committed.

Prints each time next to its target (campaign of 100,000 items under 10 s on PostgreSQL; scan of
1M annotations under 5 s) and the process's peak RSS. Run from the repository root::

    .venv/bin/python scripts/bench_relabel.py
    .venv/bin/python scripts/bench_relabel.py --campaign-items 5000 --scan-annotations 60000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import make_engine, make_session_factory, session_scope
from app.db.migrate import upgrade
from app.db.models import Annotation, Item, ItemTag, Project, Tag, User
from app.domain.bulk_insert import bulk_insert
from app.domain.outbox import enqueue_job, run_job
from app.domain.people import create_user
from app.domain.projects import LabelInput, ProjectInput, add_member, create_project, current_spec
from app.domain.specs import create_draft, publish_spec, update_draft
from app.jobs.actors import HANDLERS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_labeling import fresh_database, postgres_version, print_machine

DATABASES = ("sqlite", "postgresql")
LABELS = ("positive", "negative", "neutral", "mixed")
TARGET_CAMPAIGN_S = 10.0
TARGET_SCAN_S = 5.0
CHUNK = 50_000


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaign-items", type=int, default=100_000)
    parser.add_argument("--scan-annotations", type=int, default=1_000_000)
    parser.add_argument("--databases", default=",".join(DATABASES))
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip", choices=("campaign", "scan"), default=None)
    return parser.parse_args(argv)


def make_people(session: Session, n: int) -> tuple[User, list[User], Project]:
    """A lead, ``n`` annotators and a single-choice project with k=3 and four rules."""
    password = secrets.token_urlsafe(16)
    lead, _ = create_user(session, email="lead@bench.test", role="lead", password=password)
    project = create_project(
        session,
        ProjectInput(
            slug="bench",
            name="Bench",
            kind="single_choice",
            overlap=3,
            labels=[LabelInput(key, key.title()) for key in LABELS],
            rules={"sarcasm": "Label the intended meaning.", "negation": "Label the scope."},
            guidelines="Label the sentiment.",
        ),
        actor=lead,
    )
    people = []
    for i in range(n):
        person, _ = create_user(
            session, email=f"a{i}@bench.test", role="annotator", password=password
        )
        add_member(session, project, person, actor_id=lead.id)
        people.append(person)
    return lead, people, project


def load_items(
    session: Session,
    project: Project,
    people: list[User],
    n_items: int,
    tag_of: Any,
    label_of: Any,
) -> None:
    """Bulk-load ``n_items`` items with their tags and three labels each (round 1, v1)."""
    now = utcnow()
    spec = current_spec(session, project)
    tag_ids: dict[str, int] = dict(
        session.execute(select(Tag.name, Tag.id).where(Tag.project_id == project.id)).all()
    )
    for start in range(0, n_items, CHUNK):
        numbers = range(start, min(start + CHUNK, n_items))
        bulk_insert(
            session,
            Item,
            [
                {
                    "project_id": project.id,
                    "external_id": f"x{n}",
                    "text": f"bench item {n}",
                    "text_hash": hashlib.sha256(f"bench item {n}".encode()).hexdigest(),
                    "split": "train",
                    "metadata": {},
                    "priority": 0,
                    "label_round": 1,
                    "is_full": True,
                    "created_at": now,
                }
                for n in numbers
            ],
        )
        ids = session.execute(
            select(Item.id, Item.external_id).where(
                Item.project_id == project.id, Item.external_id.in_([f"x{n}" for n in numbers])
            )
        ).all()
        tag_rows, label_rows = [], []
        for item_id, external_id in ids:
            n = int(external_id[1:])
            tag = tag_of(n)
            if tag is not None:
                if tag not in tag_ids:
                    row = Tag(project_id=project.id, name=tag)
                    session.add(row)
                    session.flush()
                    tag_ids[tag] = row.id
                tag_rows.append(
                    {
                        "item_id": item_id,
                        "tag_id": tag_ids[tag],
                        "source": "import",
                        "added_at": now,
                    }
                )
            for person, value in label_of(n, tag):
                label_rows.append(
                    {
                        "project_id": project.id,
                        "item_id": item_id,
                        "user_id": people[person].id,
                        "spec_version_id": spec.id,
                        "label_round": 1,
                        "value": value,
                        "duration_ms": 6000,
                        "unclear": False,
                        "comment": "",
                        "source": "import",
                        "created_at": now,
                    }
                )
        bulk_insert(session, ItemTag, tag_rows)
        bulk_insert(session, Annotation, label_rows)


def load_plain_project(
    url: str, *, n_items: int, n_people: int, n_tags: int, tagged: float, seed: int
) -> None:
    """A fresh project ``bench``: ``n_items`` items, a share ``tagged`` of them with one of
    ``n_tags`` tags, each labeled by three of ``n_people`` annotators who agree 85% of the time."""
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine, immediate=True)
    rng = random.Random(seed)
    with session_scope(factory, immediate=True) as session:
        _, people, project = make_people(session, n_people)

        def tag_of(n: int) -> str | None:
            return f"tag{rng.randrange(n_tags):02d}" if rng.random() < tagged else None

        def label_of(n: int, tag: str | None) -> list[tuple[int, str]]:
            truth = rng.choice(LABELS)
            return [
                (p, truth if rng.random() < 0.85 else rng.choice(LABELS))
                for p in rng.sample(range(n_people), 3)
            ]

        load_items(session, project, people, n_items, tag_of, label_of)
    analyze(factory)
    engine.dispose()


def in_fresh_process(script: str, *arguments: str) -> dict[str, float]:
    """Run ``script --measure ARGUMENTS`` in a new interpreter (so its peak RSS is its own) and
    return the JSON object it prints last."""
    out = subprocess.run(  # noqa: S603 (our script, this interpreter)
        [sys.executable, script, "--measure", *arguments],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def analyze(factory: Any) -> None:
    """Vacuum and analyze PostgreSQL's freshly loaded tables, as autovacuum would on a live
    database: the planner's statistics (without them it may pick a nested loop over a million
    rows), and the visibility map and hint bits a bulk load leaves unset. Without the vacuum
    the first reads set the hint bits, and autovacuum runs beside the benchmark (one run each:
    the first 1M-item Parquet export took 8.5 s right after loading, 6.2 s once vacuumed)."""
    with session_scope(factory) as session:
        engine = session.get_bind().engine
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


def bench_campaign(url: str, n_affected: int) -> tuple[float, int]:
    """Seconds for the spec_published job on ``n_affected`` labeled sarcasm items."""
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine, immediate=True)
    rng = random.Random(1)
    with session_scope(factory, immediate=True) as session:
        lead, people, project = make_people(session, 12)
        total = n_affected + n_affected // 2

        def tag_of(n: int) -> str | None:
            return "sarcasm" if n < n_affected else None

        def label_of(n: int, tag: str | None) -> list[tuple[int, str]]:
            return [(p, rng.choice(LABELS)) for p in rng.sample(range(len(people)), 3)]

        load_items(session, project, people, total, tag_of, label_of)
        draft = create_draft(session, project, actor=lead)
        update_draft(
            session,
            project,
            draft.number,
            {"rules": [{"tag": "sarcasm", "text": "Label the literal words."}]},
            expected_edit_version=draft.edit_version,
            actor=lead,
        )
        _, job = publish_spec(session, project, draft.number, actor=lead)
        job_id = job.id
    analyze(factory)
    started = time.perf_counter()
    with session_scope(factory, immediate=True) as session:
        done = run_job(session, job_id, HANDLERS)
        n_items = int((done.result or {}).get("n_items", 0))
        status = done.status
    seconds = time.perf_counter() - started
    engine.dispose()
    if status != "done":
        raise SystemExit(f"the campaign job ended {status}")
    return seconds, n_items


def bench_scan(url: str, n_annotations: int) -> tuple[float, int, list[str]]:
    """Seconds for the scan_hotspots job on ``n_annotations`` annotations."""
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine, immediate=True)
    rng = random.Random(2)
    n_items = n_annotations // 3
    with session_scope(factory, immediate=True) as session:
        _, people, project = make_people(session, 50)
        groups = set(range(15))  # annotators 0-14 read the ambiguous tag's rule their own way

        def tag_of(n: int) -> str | None:
            return f"tag{rng.randrange(20):02d}" if rng.random() < 0.3 else None

        def label_of(n: int, tag: str | None) -> list[tuple[int, str]]:
            truth = rng.choice(LABELS)
            out = []
            for p in rng.sample(range(len(people)), 3):
                if p == 49 and rng.random() < 0.6:
                    value = rng.choice(LABELS)  # the noisy annotator
                elif tag == "tag07":
                    value = "mixed" if p in groups else truth  # two readings of the rule
                else:
                    value = truth if rng.random() < 0.92 else rng.choice(LABELS)
                out.append((p, value))
            return out

        load_items(session, project, people, n_items, tag_of, label_of)
        job = enqueue_job(
            session, "scan_hotspots", {"project_id": project.id}, project_id=project.id
        )
        job_id = job.id
    analyze(factory)
    started = time.perf_counter()
    with session_scope(factory, immediate=True) as session:
        done = run_job(session, job_id, HANDLERS)
        result = done.result or {}
        status = done.status
    seconds = time.perf_counter() - started
    engine.dispose()
    if status != "done":
        raise SystemExit(f"the scan job ended {status}: {done.error}")
    return seconds, int(result.get("n_annotations", 0)), list(result.get("keys", []))


def peak_rss_mib() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print the figures."""
    options = parse_options(argv)
    pg = postgres_version(options.postgres_url)
    print_machine(pg)
    for run, database in enumerate(options.databases.split(",")):
        if database == "postgresql" and pg is None:
            print(f"\n{database}: skipped (cannot reach {options.postgres_url})")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            if options.skip != "campaign":
                with fresh_database(database, Path(tmp), options.postgres_url, 2 * run) as url:
                    seconds, n = bench_campaign(url, options.campaign_items)
                mark = "ok" if seconds < TARGET_CAMPAIGN_S else "MISSED"
                print(
                    f"\n{database}: campaign of {n:,} items in {seconds:.2f} s "
                    f"(target < {TARGET_CAMPAIGN_S:g} s: {mark}); peak RSS {peak_rss_mib():.0f} MiB"
                )
            if options.skip != "scan":
                (Path(tmp) / "accord.db").unlink(missing_ok=True)
                with fresh_database(database, Path(tmp), options.postgres_url, 2 * run + 1) as url:
                    seconds, n, keys = bench_scan(url, options.scan_annotations)
                mark = "ok" if seconds < TARGET_SCAN_S else "MISSED"
                print(
                    f"{database}: hotspot scan of {n:,} annotations in {seconds:.2f} s "
                    f"(target < {TARGET_SCAN_S:g} s: {mark}); found {', '.join(keys) or 'none'}; "
                    f"peak RSS {peak_rss_mib():.0f} MiB"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
