"""Bulk reads through ADBC give exactly what the plain path gives, from one committed state."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, case, insert, null, select

from app.db import bulk_read
from app.db.bulk_read import BULK_READER, BulkReadFailed, SqliteReader, bulk_reads
from app.db.engine import make_session_factory, read_frame, session_scope
from app.db.models import Item, Snapshot, Tag, User
from app.domain import agreement_store
from app.domain import export_rows as export_rows_module
from app.domain.agreement import agreement_reports, report_json
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.export import parse_export_request
from app.domain.export_files import serialize
from app.domain.export_rows import export_frames, export_rows
from app.domain.outbox import run_job
from app.domain.projects import get_project
from app.domain.snapshots import request_snapshot
from app.jobs.actors import HANDLERS

EXPORTS: list[dict[str, str]] = [
    {"format": "jsonl"},
    {"format": "parquet"},
    {"format": "csv", "consensus": "all_annotations", "split": "all"},
    {"format": "jsonl", "spec_version": "all", "include_stale": "true", "split": "all"},
    {"format": "jsonl", "consensus": "unanimous", "split": "eval"},
    {"format": "jsonl", "min_alpha": "0.5", "since": "2000-01-01T00:00:00Z"},
]


@pytest.fixture
def demo(engine: Engine) -> Engine:
    """The demo project, committed (a bulk reader reads on a connection of its own)."""
    with session_scope(make_session_factory(engine, immediate=True), immediate=True) as s:
        load_demo(s)
    return engine


@pytest.fixture
def bulk_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every query answered through a bulk reader (a path that silently fell back to plain
    reads would leave this empty)."""
    calls: list[str] = []
    real = bulk_read.read_bulk

    def spy(session: Any, reader: Any, query: Any) -> pl.DataFrame | None:
        frame = real(session, reader, query)
        calls.append("bulk" if frame is not None else "fell back")
        return frame

    monkeypatch.setattr("app.db.engine.read_bulk", spy)
    yield calls


def exported(engine: Engine, params: dict[str, str]) -> bytes:
    agreement_store.forget_reports()
    with session_scope(make_session_factory(engine)) as s:
        project = get_project(s, DEMO_SLUG)
        wanted = parse_export_request(s, project, params)
        return b"".join(serialize(export_rows(s, project, wanted), wanted.format))


@pytest.mark.parametrize("params", EXPORTS, ids=lambda p: "-".join(p.values()))
def test_an_export_is_the_same_bytes_either_way(
    demo: Engine,
    params: dict[str, str],
    bulk_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = exported(demo, params)
    assert not bulk_calls
    monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
    bulk = exported(demo, params)
    assert bulk_calls and set(bulk_calls) == {"bulk"}
    assert len(plain) > 1000
    assert bulk == plain
    # In many small ranges, each read ahead while the one before is processed
    monkeypatch.setattr(export_rows_module, "CHUNK_ITEMS", 37)
    assert exported(demo, params) == plain


def test_an_export_left_halfway_ends_its_reader(
    demo: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
    monkeypatch.setattr(export_rows_module, "CHUNK_ITEMS", 37)
    with session_scope(make_session_factory(demo)) as s:
        project = get_project(s, DEMO_SLUG)
        frames = export_frames(s, project, parse_export_request(s, project, {}))
        assert next(frames).height > 0
        reader = s.info[BULK_READER]
        frames.close()
        assert BULK_READER not in s.info
    if isinstance(reader, SqliteReader):
        assert reader._child.returncode == 0


def test_agreement_reports_are_the_same_either_way(
    demo: Engine, bulk_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def reports() -> list[dict[str, Any]]:
        agreement_store.forget_reports()
        with session_scope(make_session_factory(demo)) as s:
            project = get_project(s, DEMO_SLUG)
            found = agreement_reports(
                s, project, groupings=(None, "tag", "label", "annotator"), resamples=200
            )
            return [report_json(r) for r in found.values()]

    plain = reports()
    monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
    bulk = reports()
    assert set(bulk_calls) == {"bulk"}
    assert bulk == plain


def test_timestamps_read_the_same_either_way(demo: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    query = select(Item.id, Item.created_at).order_by(Item.id)
    schema = {"id": pl.Int64, "created_at": pl.Datetime("us")}
    with session_scope(make_session_factory(demo)) as s:
        plain = read_frame(s, query, schema)
        monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
        with bulk_reads(s, rows=1):
            assert BULK_READER in s.info
            bulk = read_frame(s, query, schema)
        assert BULK_READER not in s.info
    assert plain.height > 100 and plain["created_at"].null_count() == 0
    assert bulk.equals(plain)


def test_nulls_read_the_same_either_way(demo: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Some rows null, and a batch of nothing but nulls: a number, a text and a timestamp.
    odd = Item.id % 2 == 1
    query = select(
        Item.id,
        case((odd, Item.id)),
        case((odd, Item.external_id)),
        case((odd, Item.created_at)),
        null().label("missing"),
    ).order_by(Item.id)
    schema = {
        "id": pl.Int64,
        "number": pl.Int64,
        "text": pl.String,
        "at": pl.Datetime("us"),
        "missing": pl.Int64,
    }
    with session_scope(make_session_factory(demo)) as s:
        plain = read_frame(s, query, schema)
        monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
        with bulk_reads(s, rows=1):
            bulk = read_frame(s, query, schema)
    assert plain["number"].null_count() == plain.height // 2
    assert plain["missing"].null_count() == plain.height
    assert bulk.equals(plain)


def test_small_reads_and_transactions_that_wrote_stay_plain(
    demo: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(make_session_factory(demo)) as s:
        with bulk_reads(s, rows=bulk_read.BULK_READ_MIN_ROWS - 1):
            assert BULK_READER not in s.info
        monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
        project = get_project(s, DEMO_SLUG)
        s.execute(insert(Tag).values(project_id=project.id, name="fresh"))
        # Another connection would not see the new tag yet: the reads stay in this transaction.
        with bulk_reads(s, rows=10**9):
            assert BULK_READER not in s.info
            names = read_frame(
                s, select(Tag.name).where(Tag.project_id == project.id), {"name": pl.String}
            )
        assert "fresh" in names["name"].to_list()
        s.rollback()
        with bulk_reads(s, rows=10**9):  # a new transaction that has not written
            assert BULK_READER in s.info


def test_one_block_reads_one_committed_state(demo: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
    count = select(Tag.name)
    with session_scope(make_session_factory(demo)) as s, bulk_reads(s, rows=1):
        before = read_frame(s, count, {"name": pl.String}).height
        with session_scope(make_session_factory(demo, immediate=True), immediate=True) as w:
            w.execute(insert(Tag).values(project_id=get_project(w, DEMO_SLUG).id, name="later"))
        assert read_frame(s, count, {"name": pl.String}).height == before
    with session_scope(make_session_factory(demo)) as s:
        assert read_frame(s, count, {"name": pl.String}).height == before + 1


def test_the_sqlite_reader_reports_errors_and_goes_on(tmp_path: Any) -> None:
    path = tmp_path / "plain.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (n INTEGER, s TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"s{i}") for i in range(5)])
    reader = SqliteReader(str(path))
    try:
        with pytest.raises(BulkReadFailed, match="no_such_table"):
            reader.read("SELECT * FROM no_such_table")
        frame = reader.read("SELECT n, s FROM t ORDER BY n")
        assert frame.rows() == [(i, f"s{i}") for i in range(5)]
        # Answers sent ahead come back in order; those nobody asked for are skipped.
        for n in range(3):
            reader.prefetch(f"SELECT n FROM t WHERE n = {n}")
        assert reader.read("SELECT n FROM t WHERE n = 1")["n"].to_list() == [1]
        assert reader.read("SELECT n FROM t WHERE n = 0")["n"].to_list() == [0]  # asked anew
        assert reader.read("SELECT n FROM t WHERE n = 4")["n"].to_list() == [4]
    finally:
        reader.close()
    assert reader._child.returncode == 0


def test_a_reader_that_cannot_start_leaves_reads_to_the_plain_way(
    demo: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    plain = exported(demo, {"format": "jsonl"})
    monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
    monkeypatch.setattr(bulk_read.SqliteReader, "_MODULE", "app.db.no_such_module")
    monkeypatch.setattr(bulk_read.PostgresReader, "_BEGIN", "BEGIN NOT VALID SQL")
    with caplog.at_level("WARNING", logger="app.db.bulk_read"):
        assert exported(demo, {"format": "jsonl"}) == plain
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings and all("reading row by row" in w for w in warnings)


def test_a_snapshot_job_reads_in_bulk_and_writes_the_same_bytes(
    demo: Engine, bulk_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def snapshot() -> tuple[str, bytes]:
        agreement_store.forget_reports()
        factory = make_session_factory(demo, immediate=True)
        with session_scope(factory, immediate=True) as s:
            project = get_project(s, DEMO_SLUG)
            actor = s.scalars(select(User)).first()
            assert actor is not None
            _, job = request_snapshot(s, project, {"format": "parquet"}, actor=actor)
            job_id = job.id
        with session_scope(factory, immediate=True) as s:
            assert run_job(s, job_id, HANDLERS).status == "done"  # marks itself running first
            found = s.scalars(select(Snapshot).order_by(Snapshot.id.desc())).first()
            assert found is not None and found.content is not None
            return found.sha256 or "", found.content

    plain = snapshot()
    assert not bulk_calls
    monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
    bulk = snapshot()
    assert bulk_calls and set(bulk_calls) == {"bulk"}
    assert bulk == plain
