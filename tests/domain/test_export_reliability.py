"""A whole-frame export measures its tags' slices from its own ranges: the same slices as
``tag_slices`` for every kind of label, and the same bytes as a streamed export judged range by
range."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.db import bulk_read
from app.db.engine import make_session_factory, session_scope
from app.domain import agreement, agreement_store
from app.domain import export_rows as export_rows_module
from app.domain.agreement import remembered_tag_slices, slice_json, tag_slices
from app.domain.annotation_import import import_annotations
from app.domain.demo import DEMO_SLUG
from app.domain.export import parse_export_request
from app.domain.export_files import serialize
from app.domain.export_rows import export_frames, export_rows
from app.domain.item_parsing import parse_annotation_rows
from app.domain.outbox import run_job
from app.domain.projects import LabelInput, get_project
from app.domain.specs import publish_spec
from app.jobs.actors import HANDLERS
from tests.db.test_bulk_read import EXPORTS, demo  # noqa: F401 - the fixture
from tests.domain.test_assignment import add_items
from tests.factories import draft_with, make_project, make_user


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
    monkeypatch.setattr(agreement, "tagged_ratings", _refused)
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


KINDS: dict[str, dict[str, Any]] = {
    "multi_choice": {
        "labels": [LabelInput(k, k.title()) for k in ("food", "service", "price")],
        "values": [["food"], ["food", "price"], ["service"], ["price", "service"]],
    },
    "numeric": {"labels": [], "scale": {"min": 1, "max": 5, "step": 0.5}, "values": [1, 2.5, 4]},
    "ordinal": {
        "labels": [LabelInput(k, k.title()) for k in ("low", "mid", "high")],
        "values": ["low", "mid", "high"],
    },
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_label_measures_the_same_from_the_ranges(
    session: Session, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a project of this kind whose negation items are labeled alike and whose sarcasm
    # items are not (some items carry both tags, some neither), read in ranges of 5 items
    lead = make_user(session, role="lead")
    spec = {k: v for k, v in KINDS[kind].items() if k != "values"}
    project = make_project(session, actor=lead, kind=kind, **spec)
    project.min_pairable = 2
    agreed = add_items(session, project, 6, tags=("negation",))
    disputed = add_items(session, project, 6, tags=("sarcasm",))
    both = add_items(session, project, 3, tags=("sarcasm", "negation"))
    untagged = add_items(session, project, 3)
    values = KINDS[kind]["values"]
    rows = [
        {
            "external_id": item.external_id,
            "annotator": who,
            "value": values[(i + j) % 3 if item in disputed else i % 3],
        }
        for i, item in enumerate(agreed + disputed + both + untagged)
        for j, who in enumerate(("ana", "ben", "cy"))
    ]
    body = json.dumps(rows).encode()
    import_annotations(session, project, parse_annotation_rows(body, "json"), actor=lead)
    monkeypatch.setattr(export_rows_module, "CHUNK_ITEMS", 5)
    agreement_store.forget_reports()
    expected = [slice_json(g) for g in tag_slices(session, project).groups]
    # When a Parquet export measures the slices from its ranges
    agreement_store.forget_reports()
    monkeypatch.setattr(agreement, "tagged_ratings", _refused)
    wanted = parse_export_request(
        session, project, {"format": "parquet", "split": "all", "consensus": "all_annotations"}
    )
    rows_exported = export_rows(session, project, wanted)
    # Then they are tag_slices' own, and the rows say so
    measured = remembered_tag_slices(session, project)
    assert measured is not None
    assert [slice_json(g) for g in measured.groups] == expected
    reliable = {g["key"] for g in expected if g["reliable"]}
    assert reliable == {"negation"}
    flags = dict(zip(rows_exported["external_id"], rows_exported["tags_reliable"], strict=True))
    assert {flags[item.external_id] for item in agreed} == {True}
    assert {flags[item.external_id] for item in disputed + both} == {False}
    assert {flags.get(item.external_id) for item in untagged} == {None}
