"""A whole-frame export measures its tags' slices from its own ranges: the same slices as
``tag_slices`` and the same bytes as a streamed export judged range by range."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine

from app.db import bulk_read
from app.db.engine import make_session_factory, session_scope
from app.domain import agreement, agreement_store
from app.domain import export_rows as export_rows_module
from app.domain.agreement import remembered_tag_slices, slice_json, tag_slices
from app.domain.demo import DEMO_SLUG
from app.domain.export import parse_export_request
from app.domain.export_files import serialize
from app.domain.export_rows import export_frames, export_rows
from app.domain.outbox import run_job
from app.domain.projects import get_project
from app.domain.specs import publish_spec
from app.jobs.actors import HANDLERS
from tests.db.test_bulk_read import EXPORTS, demo  # noqa: F401 - the fixture
from tests.factories import draft_with, make_user


def _slices(engine: Engine) -> list[dict[str, Any]]:
    """The tag slices as ``tag_slices`` reads and measures them (nothing remembered)."""
    agreement_store.forget_reports()
    with session_scope(make_session_factory(engine)) as s:
        return [slice_json(g) for g in tag_slices(s, get_project(s, DEMO_SLUG)).groups]


@pytest.mark.parametrize("bulk", [False, True], ids=["plain", "bulk"])
@pytest.mark.parametrize("params", EXPORTS, ids=lambda p: "-".join(p.values()))
def test_a_whole_export_measures_the_tags_from_its_ranges_as_tag_slices_does(
    demo: Engine,  # noqa: F811 - the fixture
    params: dict[str, str],
    bulk: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the demo with a rule changed (its tag's labels stale, a new labeling round), read
    # in many small ranges, through the bulk reader or not
    with session_scope(make_session_factory(demo, immediate=True), immediate=True) as s:
        project = get_project(s, DEMO_SLUG)
        lead = make_user(s, role="lead")
        draft = draft_with(s, project, lead, rules=[{"tag": "sarcasm", "text": "Intent."}])
        _, job = publish_spec(s, project, draft.number, actor=lead)
        run_job(s, job.id, HANDLERS)
    monkeypatch.setattr(export_rows_module, "CHUNK_ITEMS", 37)
    if bulk:
        monkeypatch.setattr(bulk_read, "BULK_READ_MIN_ROWS", 0)
    expected = _slices(demo)
    # When a whole-frame export runs with no slices remembered, never reading the tagged
    # items' labels on their own
    agreement_store.forget_reports()
    monkeypatch.setattr(agreement, "load_tagged_ratings", _refused)
    with session_scope(make_session_factory(demo)) as s:
        project = get_project(s, DEMO_SLUG)
        wanted = parse_export_request(s, project, params)
        assert remembered_tag_slices(s, project) is None
        whole = export_rows(s, project, wanted)
        # Then it remembers the slices tag_slices measures
        measured = remembered_tag_slices(s, project)
        assert measured is not None
        assert [slice_json(g) for g in measured.groups] == expected
        # And a streamed export, judging each range by them, has the same rows
        frames = [frame for frame in export_frames(s, project, wanted) if frame.height]
    streamed = pl.concat(frames, how="diagonal_relaxed")
    assert whole.height >= 5
    assert _bytes(streamed, wanted.format) == _bytes(whole, wanted.format)


def _bytes(frame: pl.DataFrame, fmt: str) -> bytes:
    return b"".join(serialize(frame, fmt))


def _refused(*_: Any) -> None:
    raise AssertionError("the tagged items' labels were read on their own")
