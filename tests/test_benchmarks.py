"""The labeling benchmark still drives the app it measures: a small run of
``scripts/bench_labeling.py`` (a real ``accord serve``, annotators working at once over HTTP)
completes on both databases with no failed request and k held, as read from the database.

It asserts no timing: speed is the benchmark's to print, not the suite's to judge.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from app.db.engine import make_engine
from tests.conftest import POSTGRES_URL, require_service

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def bench_labeling(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import bench_labeling

    return bench_labeling


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_labeling_bench_completes_with_k_held(
    database: str, bench_labeling: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    if database == "postgresql":
        require_service("PostgreSQL", POSTGRES_URL)
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql")  # the bench speaks libpq
    argv = ["--items", "60", "--submissions", "40", "--annotators", "6", "--k", "1,3"]
    argv += ["--databases", database, "--postgres-url", admin_url.render_as_string(False)]

    code = bench_labeling.main(argv)

    out = capsys.readouterr().out
    assert code == 0, out
    for k in (1, 3):
        assert f"0 item(s) labeled more than k={k} times, 0 labeled twice by one annotator" in out
    assert out.count("40 submissions in") == 2, out
    assert out.count("  errors       0 ") == 2, out


def test_several_web_processes_share_a_sqlite_file_and_its_jobs(bench_labeling: ModuleType) -> None:
    """``accord serve --workers 2`` on SQLite with the embedded broker: both processes label
    the same file with k held, and every job the labels queued runs once (each process relays
    the shared outbox to its own in-process worker; the job row's lock lets one run it)."""
    bench = bench_labeling
    options = bench.parse_options(
        ["--items", "60", "--submissions", "40", "--annotators", "6", "--workers", "2"]
    )
    with bench.fresh_accord("sqlite", options, 0, "two-processes") as (database_url, server):
        prepared = bench.prepare(server, database_url, 1, options)
        tokens = prepared.people.annotator_tokens
        labeling = bench.run_labeling(
            server.process.pid, bench.accord_loop(server, prepared), tokens, options
        )
        assert labeling.submitted == 40 and not labeling.errors
        assert _web_processes(bench.process_tree(server.process.pid)) == 2
        engine = make_engine(database_url)
        try:
            jobs = _settled_jobs(engine)
        finally:
            engine.dispose()
        check = bench.accord_overlap_check(database_url, 1)
    assert jobs and {(status, attempts) for _, status, attempts in jobs} == {("done", 1)}, jobs
    assert check.over_k == 0 and check.twice == 0


def _web_processes(pids: list[int]) -> int:
    """How many of the processes are uvicorn's spawned workers."""
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids]
    return sum(b"spawn_main" in command for command in commands)


def _settled_jobs(engine: Engine) -> list[tuple[str, str, int]]:
    """The jobs once none is queued or running (kind, status, attempts)."""
    for _ in range(600):
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT kind, status, attempts FROM jobs")).all()
        if rows and all(status not in ("queued", "running") for _, status, _ in rows):
            return [tuple(row) for row in rows]
        time.sleep(0.1)
    raise AssertionError(f"jobs did not settle: {rows}")
