"""The training export: formats, consensus policies, guards, provenance and token isolation."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC
from typing import Any

import polars as pl
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from app.db.engine import make_session_factory, session_scope
from app.db.models import Annotation, Item
from app.domain.adjudication import adjudicate_item
from app.domain.annotation_import import import_annotations
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.item_parsing import parse_annotation_rows
from app.domain.outbox import run_job
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from app.domain.specs import publish_spec
from app.jobs.actors import HANDLERS
from tests.api.test_specs_api import wait_for_job
from tests.apps import commit_user, make_token
from tests.domain.test_assignment import add_items
from tests.factories import draft_with, make_project

URL = f"/api/v1/projects/{DEMO_SLUG}/export"
LEAD = "lee@example.test"


def given_the_demo(app: Litestar) -> dict[str, str]:
    """The demo with a lead lee@ on it; returns lee's token header."""
    commit_user(app, email=LEAD, role="lead")
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        load_demo(s)
        add_member(s, get_project(s, DEMO_SLUG), get_user_by_email(s, LEAD), actor_id=None)
    return make_token(app, LEAD)


def lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_the_default_export_is_train_items_with_provenance(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = given_the_demo(app)
    response = client.get(URL, headers=lead)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    rows = lines(response)
    assert len(rows) > 100
    assert {r["split"] for r in rows} == {"train"}
    row = rows[0]
    assert set(row) >= {
        "external_id", "text", "label", "decided_by", "vote_share", "n_annotators",
        "item_agreement", "spec_version", "rule_versions", "tags", "tags_reliable",
        "leak_risk", "annotators", "first_labeled_at", "last_labeled_at", "stale",
    }  # fmt: skip
    assert {r["decided_by"] for r in rows} <= {"majority", "unanimous"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["first_labeled_at"])
    assert all(r["vote_share"] > 0.5 for r in rows)
    sarcastic = next(r for r in rows if "sarcasm" in r["tags"])
    assert sarcastic["rule_versions"] == [{"tag": "sarcasm", "spec_version": 1}]
    assert sarcastic["tags_reliable"] is False
    # Pseudonymous annotator ids: stable, never an email or a handle
    again = {r["external_id"]: r["annotators"] for r in lines(client.get(URL, headers=lead))}
    assert all(again[r["external_id"]] == r["annotators"] for r in rows)
    assert "demo.accord.test" not in response.text  # no email anywhere
    assert all(a.startswith("a_") for r in rows for a in r["annotators"])
    assert "ana" not in {a for r in rows for a in r["annotators"]}


def test_policies_splits_and_gates(app: Litestar, client: TestClient[Litestar]) -> None:
    lead = given_the_demo(app)
    every = lines(client.get(f"{URL}?consensus=all_annotations&split=all", headers=lead))
    with session_scope(make_session_factory(app.state.engine)) as s:
        live = s.scalar(select(func.count()).where(Annotation.retracted_at.is_(None)))
        times = s.scalars(select(Annotation.created_at).where(Annotation.retracted_at.is_(None)))
        utc = [t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC) for t in times]
        stamps = sorted(f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z" for t in utc)
    assert len(every) == live
    # Each label's own time, in UTC with milliseconds, on either database
    assert sorted(r["labeled_at"] for r in every) == stamps
    unanimous = lines(client.get(f"{URL}?consensus=unanimous", headers=lead))
    assert unanimous and all(r["n_annotators"] >= 2 and r["vote_share"] == 1 for r in unanimous)
    held_out = lines(client.get(f"{URL}?split=eval", headers=lead))
    assert held_out and {r["split"] for r in held_out} == {"eval"}
    gated = lines(client.get(f"{URL}?min_alpha=0.5", headers=lead))
    assert gated and all("sarcasm" not in r["tags"] for r in gated)
    agreeing = lines(client.get(f"{URL}?min_item_agreement=1", headers=lead))
    assert agreeing and all(r["item_agreement"] == 1 for r in agreeing)
    tagged = lines(client.get(f"{URL}?tags=negation", headers=lead))
    assert tagged and all("negation" in r["tags"] for r in tagged)


def test_rulings_win_under_the_default_policy(app: Litestar, client: TestClient[Litestar]) -> None:
    lead = given_the_demo(app)
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        project = get_project(s, DEMO_SLUG)
        item = s.scalars(
            select(Item).where(Item.project_id == project.id, Item.split == "train")
        ).first()
        assert item is not None
        adjudicate_item(
            s, project, item, value="mixed", rationale="Both.", actor=get_user_by_email(s, LEAD)
        )
        external_id = item.external_id
    rows = {r["external_id"]: r for r in lines(client.get(URL, headers=lead))}
    assert (rows[external_id]["label"], rows[external_id]["decided_by"]) == ("mixed", "adjudicated")
    majority = {
        r["external_id"]: r for r in lines(client.get(f"{URL}?consensus=majority", headers=lead))
    }
    assert majority.get(external_id, {}).get("decided_by") != "adjudicated"


def test_stale_labels_and_leaks_are_left_out_unless_asked(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = given_the_demo(app)
    plain = next(r for r in lines(client.get(URL, headers=lead)) if not r["tags"])
    leaked = plain["external_id"]
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        project = get_project(s, DEMO_SLUG)
        leader = get_user_by_email(s, LEAD)
        draft = draft_with(s, project, leader, rules=[{"tag": "sarcasm", "text": "Intent."}])
        _, job = publish_spec(s, project, draft.number, actor=leader)
        run_job(s, job.id, HANDLERS)
        held = s.scalars(select(Item).where(Item.project_id == project.id, Item.split == "eval"))
        eval_text = next(iter(held)).text
        train = s.scalars(select(Item).where(Item.external_id == leaked)).one()
        train.text = "  " + eval_text.upper() + " "  # the same text, differently written
    rows = lines(client.get(URL, headers=lead))
    assert all("sarcasm" not in r["tags"] for r in rows)  # every sarcasm label is stale now
    assert leaked not in {r["external_id"] for r in rows}
    with_stale = lines(client.get(f"{URL}?include_stale=true", headers=lead))
    stale = [r for r in with_stale if "sarcasm" in r["tags"]]
    assert stale and all(r["stale"] for r in stale)
    with_leaks = lines(client.get(f"{URL}?include_leak_risk=true", headers=lead))
    assert [r["leak_risk"] for r in with_leaks if r["external_id"] == leaked] == [True]


def test_csv_and_parquet(app: Litestar, client: TestClient[Litestar]) -> None:
    lead = given_the_demo(app)
    external_id = lines(client.get(URL, headers=lead))[0]["external_id"]
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        item = s.scalars(select(Item).where(Item.external_id == external_id)).one()
        item.text = '=HYPERLINK("http://evil")'
    csv = client.get(f"{URL}?format=csv", headers=lead)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    frame = pl.read_csv(io.StringIO(csv.text))
    assert frame.height == len(lines(client.get(URL, headers=lead)))
    text = frame.filter(pl.col("external_id") == external_id)["text"][0]
    assert text.startswith("'=")  # neutralized for spreadsheets
    parquet = client.get(f"{URL}?format=parquet", headers=lead)
    assert parquet.status_code == 200
    table = pl.read_parquet(io.BytesIO(parquet.content))
    assert table.height == frame.height == int(parquet.headers["x-accord-rows"])
    assert {"label", "annotators", "rule_versions", "vote_share"} <= set(table.columns)


def test_bad_parameters_and_other_projects(app: Litestar, client: TestClient[Litestar]) -> None:
    lead = given_the_demo(app)
    bad = client.get(f"{URL}?format=xml&colour=blue&tags=nope&min_alpha=2", headers=lead)
    assert bad.status_code == 422
    fields = bad.json()["error"]["details"]["fields"]
    assert set(fields) == {"format", "colour", "tags", "min_alpha"}
    # A token scoped to another project never reads this one; annotators have no export scope
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        other = make_project(s, actor=get_user_by_email(s, LEAD))
        other_slug = other.slug
    scoped = make_token(app, LEAD, project_slugs=[other_slug])
    assert client.get(URL, headers=scoped).status_code == 404
    assert client.get(f"/api/v1/projects/{other_slug}/export", headers=scoped).status_code == 200
    commit_user(app, email="ann@example.test")
    annotator = make_token(app, "ann@example.test")
    assert client.get(URL, headers=annotator).status_code in (403, 404)
    assert client.get(URL, headers={"Authorization": "Bearer acc_nope"}).status_code == 401


def test_since_a_time_or_a_snapshot_exports_only_what_changed(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = given_the_demo(app)
    everything = lines(client.get(URL, headers=lead))
    later = lines(client.get(f"{URL}?since=2026-10-27T00:00:00Z", headers=lead))
    assert 0 < len(later) < len(everything)
    assert all(r["last_labeled_at"] > "2026-10-27T00:00:00.000Z" for r in later)
    snapshot = client.post(
        f"/api/v1/projects/{DEMO_SLUG}/snapshots", json={"format": "jsonl"}, headers=lead
    ).json()
    wait_for_job(client, snapshot["job"]["id"], lead)
    since = f"{URL}?since=snapshot:{snapshot['snapshot']['id']}"
    assert lines(client.get(since, headers=lead)) == []
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        project = get_project(s, DEMO_SLUG)
        item = s.scalars(select(Item).where(Item.external_id == everything[0]["external_id"])).one()
        adjudicate_item(
            s, project, item, value="neutral", rationale="Flat.", actor=get_user_by_email(s, LEAD)
        )
    changed = lines(client.get(since, headers=lead))
    assert [(r["external_id"], r["decided_by"]) for r in changed] == [
        (everything[0]["external_id"], "adjudicated")
    ]
    bad = client.get(f"{URL}?since=yesterday", headers=lead)
    assert bad.status_code == 422 and "since" in bad.json()["error"]["details"]["fields"]


def test_a_project_without_edge_case_tags_exports_its_labels(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email=LEAD, role="lead")
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        lead = get_user_by_email(s, LEAD)
        project = make_project(s, actor=lead, rules={}, overlap=2)
        slug = project.slug
        items = add_items(s, project, 2)
        rows = [
            {"external_id": item.external_id, "annotator": who, "value": "positive"}
            for item in items
            for who in ("a", "b")
        ]
        import_annotations(
            s, project, parse_annotation_rows(json.dumps(rows).encode(), "json"), actor=lead
        )
    token = make_token(app, LEAD)
    exported = lines(client.get(f"/api/v1/projects/{slug}/export", headers=token))
    assert [(r["tags"], r["label"], r["decided_by"]) for r in exported] == [
        ([], "positive", "unanimous"),
        ([], "positive", "unanimous"),
    ]


def test_an_export_without_rows_still_has_its_columns(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    # Given a project without items, and the demo asked for what changed after it was loaded
    lead = given_the_demo(app)
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        empty = make_project(s, actor=get_user_by_email(s, LEAD)).slug
    later = "2999-01-01T00:00:00Z"
    columns = set(lines(client.get(URL, headers=lead))[0])
    for url in (f"/api/v1/projects/{empty}/export?", f"{URL}?since={later}&"):
        # Then JSONL has no lines, and CSV and Parquet (a training job's incremental pull)
        # still name every column, so that reading them needs no special case
        assert lines(client.get(url, headers=lead)) == []
        for query in ("format=csv", "format=csv&consensus=all_annotations"):
            csv = client.get(f"{url}{query}", headers=lead)
            assert csv.status_code == 200, csv.text
            frame = pl.read_csv(io.StringIO(csv.text))
            assert frame.height == 0 and "tags_reliable" in frame.columns
        parquet = client.get(f"{url}format=parquet", headers=lead)
        assert parquet.status_code == 200 and parquet.headers["x-accord-rows"] == "0"
        table = pl.read_parquet(io.BytesIO(parquet.content))
        assert table.height == 0 and columns <= set(table.columns)
