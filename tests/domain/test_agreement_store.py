"""Stored agreement reports: shared between processes, served only under their watermark."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, update

from app.db.base import utcnow
from app.db.engine import make_session_factory, session_scope
from app.db.models import Annotation, Item, ItemTag, StoredAgreementReport, Tag
from app.domain import agreement, agreement_store, tagged_labels
from app.domain.agreement import agreement_reports, report_json, slice_json, tag_slices
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.projects import get_project
from tests.factories import calls_of

GROUPINGS = (None, "tag", "annotator")


@pytest.fixture
def demo(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The demo, committed, with every report worth storing."""
    with session_scope(make_session_factory(engine, immediate=True), immediate=True) as s:
        load_demo(s)
    monkeypatch.setattr(agreement_store, "STORE_MIN_ANNOTATIONS", 0)
    return engine


@pytest.fixture
def computations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One entry per report computed from the ratings (not served from a store or cache)."""
    calls: list[str] = []
    real = agreement._Inputs.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append("computed")
        return real(*args, **kwargs)

    monkeypatch.setattr(agreement._Inputs, "load", spy)
    return calls


def reports(engine: Engine, *, immediate: bool = False) -> list[dict[str, Any]]:
    """The reports as a process that has none cached yet would give them."""
    agreement_store.forget_reports()
    factory = make_session_factory(engine, immediate=immediate)
    with session_scope(factory, immediate=immediate) as s:
        found = agreement_reports(s, get_project(s, DEMO_SLUG), groupings=GROUPINGS, resamples=50)
        return [report_json(found[by]) for by in GROUPINGS]


def stored_rows(engine: Engine) -> int:
    with session_scope(make_session_factory(engine)) as s:
        return s.scalar(select(func.count()).select_from(StoredAgreementReport)) or 0


def test_a_report_computed_once_serves_every_process(demo: Engine, computations: list[str]) -> None:
    first = reports(demo)
    assert computations == ["computed"]
    assert stored_rows(demo) == len(GROUPINGS)
    again = reports(demo)  # a process with an empty cache
    assert computations == ["computed"]
    assert again == first


def test_a_moved_watermark_makes_the_stored_report_stale(
    demo: Engine, computations: list[str]
) -> None:
    before = reports(demo)
    with session_scope(make_session_factory(demo, immediate=True), immediate=True) as s:
        first = s.scalar(select(func.min(Annotation.id)))
        s.execute(update(Annotation).where(Annotation.id == first).values(retracted_at=utcnow()))
    after = reports(demo)
    assert computations == ["computed", "computed"]
    assert after[0]["n_annotations"] == before[0]["n_annotations"] - 1
    assert reports(demo) == after  # and the new one is stored in its place
    assert computations == ["computed", "computed"]
    assert stored_rows(demo) == len(GROUPINGS)


def test_reports_of_uncommitted_or_small_or_locked_work_are_not_stored(
    demo: Engine, computations: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    agreement_store.forget_reports()
    with session_scope(make_session_factory(demo)) as s:
        project = get_project(s, DEMO_SLUG)
        s.execute(insert(Tag).values(project_id=project.id, name="uncommitted"))
        agreement_reports(s, project, groupings=(None,), resamples=50)
        s.rollback()
    assert stored_rows(demo) == 0
    reports(demo, immediate=True)  # holding SQLite's write lock: storing would wait on itself
    if demo.dialect.name == "sqlite":
        assert stored_rows(demo) == 0
    monkeypatch.setattr(agreement_store, "STORE_MIN_ANNOTATIONS", 10**9)
    with session_scope(make_session_factory(demo)) as s:
        s.execute(StoredAgreementReport.__table__.delete())
    reports(demo)
    assert stored_rows(demo) == 0


def test_tag_slices_are_stored_beside_the_reports_and_go_stale_with_them(
    demo: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = calls_of(monkeypatch, agreement, "tagged_ratings")

    def slices() -> list[dict[str, Any]]:
        agreement_store.forget_reports()  # as a process with an empty cache
        with session_scope(make_session_factory(demo)) as s:
            return [slice_json(g) for g in tag_slices(s, get_project(s, DEMO_SLUG)).groups]

    first = slices()
    assert slices() == first and loads == [1]
    assert stored_rows(demo) == 1
    with session_scope(make_session_factory(demo, immediate=True), immediate=True) as s:
        project = get_project(s, DEMO_SLUG)
        tag = Tag(project_id=project.id, name="brand_new")
        s.add(tag)
        s.flush()
        item = s.scalar(select(func.min(Item.id)).where(Item.project_id == project.id))
        s.add(ItemTag(item_id=item, tag_id=tag.id, source="import", added_at=utcnow()))
    # An item tagged anew moves the watermark: computed again, with the new tag's slice.
    again = slices()
    assert loads == [1, 1] and stored_rows(demo) == 1
    assert [g["key"] for g in again] == sorted([g["key"] for g in first] + ["brand_new"])
    assert next(g for g in again if g["key"] == "brand_new")["n_items"] == 1


def test_a_transaction_reads_the_watermark_once_unless_it_writes(
    demo: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = calls_of(monkeypatch, agreement_store, "watermark")
    points = calls_of(monkeypatch, tagged_labels, "_point_query")
    agreement_store.forget_reports()
    with session_scope(make_session_factory(demo)) as s:
        project = get_project(s, DEMO_SLUG)
        # A read transaction asking for several figures (as an export, then its snapshot's
        # manifest, does) counts the project's rows once for the reports and once for the tag
        # slices (which do not depend on rulings)
        tag_slices(s, project)
        agreement_reports(s, project, groupings=[None], resamples=50)
        agreement_reports(s, project, groupings=["tag"], resamples=50)
        tag_slices(s, project)
        assert len(reads) == 1 and len(points) == 1
    with session_scope(make_session_factory(demo, immediate=True), immediate=True) as s:
        project = get_project(s, DEMO_SLUG)
        tag_slices(s, project)
        s.add(Tag(project_id=project.id, name="written_here"))
        s.flush()
        # Once it has written, its own writes may have moved them: read every time
        tag_slices(s, project)
        tag_slices(s, project)
        assert len(points) == 4
