"""The lead's workforce report and the weekly metrics: figures counted from what was recorded,
and reasons a lead can act on."""

from __future__ import annotations

import io
from datetime import timedelta

import polars as pl
import pytest
from sqlalchemy.orm import Session

from app.db.models import GoldItem, Membership
from app.domain.assignment import skip_assignment
from app.domain.errors import InvalidInput
from app.domain.export_files import serialize
from app.domain.roster import pause_member
from app.domain.work_stats import week_start
from app.domain.workforce import workforce_report
from app.domain.workforce_export import WEEKLY_SCHEMA, parse_weekly_request, weekly_metrics
from tests.domain.test_assignment import T0, add_items, lease, submit, team
from tests.factories import make_project


def test_import_to_k_slo_leases_and_who_is_online(session: Session) -> None:
    project = make_project(session, overlap=2)
    add_items(session, project, 3, created_at=T0 - timedelta(hours=10))
    alice, bob, carol = team(session, project, 3)
    # Item 1 gets its 2 labels 2 h and 4 h after import; item 2 one label only.
    first = lease(session, project, alice, T0 - timedelta(hours=8))
    submit(session, first, alice, T0 - timedelta(hours=8))
    second = lease(session, project, bob, T0 - timedelta(hours=6))
    assert second.item_id == first.item_id
    submit(session, second, bob, T0 - timedelta(hours=6))
    soon = T0 - timedelta(minutes=2)
    submit(session, lease(session, project, alice, soon), alice, soon)
    lease(session, project, carol, T0 - timedelta(minutes=1))  # live: carol is online
    report = workforce_report(session, project, now=T0)
    assert report.slo.n_items == 1
    assert report.slo.median_hours == pytest.approx(4.0, abs=1e-3)
    assert report.active_leases == 1
    assert report.online == sorted([alice.handle, carol.handle])
    assert report.work.slots_done == 3 and report.work.slots_needed == 6


def test_people_who_need_help_come_first_with_their_reasons(session: Session) -> None:
    project = make_project(session, overlap=1)
    add_items(session, project, 40)
    steady, skipper, paused = team(session, project, 3)
    for _ in range(12):
        submit(session, lease(session, project, steady), steady, duration_ms=4000)
    for i in range(24):
        task = lease(session, project, skipper)
        if i % 2:
            skip_assignment(session, task.id, skipper, now=T0)
        else:
            submit(session, task, skipper, unclear=True, duration_ms=20_000)
    pause_member(session, project, paused.id, "on leave", actor_id=project.created_by_id)
    report = workforce_report(session, project, now=T0 + timedelta(minutes=1))
    order = [m.row.user.handle for m in report.members if m.row.user.role == "annotator"]
    assert order[-1] == steady.handle
    by_handle = {m.row.user.handle: m for m in report.members}
    reasons = by_handle[skipper.handle].needs_help
    assert any(r.startswith("skips 50%") for r in reasons)
    assert any("unclear on 100%" in r for r in reasons)
    assert any("takes 20 s per item" in r for r in reasons)
    assert by_handle[paused.handle].needs_help[0].startswith("paused ")
    assert "on leave" in by_handle[paused.handle].needs_help[0]
    assert by_handle[steady.handle].needs_help == []
    assert by_handle[steady.handle].pace is not None
    assert by_handle[steady.handle].pace.items_per_hour == pytest.approx(900.0)


def test_weekly_metrics_per_person_and_week_with_gold(session: Session) -> None:
    project = make_project(session, overlap=1)
    items = add_items(session, project, 6)
    (ann,) = team(session, project, 1)
    session.add(GoldItem(project_id=project.id, item_id=items[0].id, value="positive"))
    session.add(GoldItem(project_id=project.id, item_id=items[1].id, value="negative"))
    project.gold_share = 1.0
    session.flush()
    last_week = T0 - timedelta(days=7)
    # Two gold checks last week (one right), then two plain labels this week.
    for when in (last_week, last_week + timedelta(minutes=1)):
        task = lease(session, project, ann, when)
        assert task.kind == "gold"
        submit(session, task, ann, when, value="positive", duration_ms=2000)
    project.gold_share = 0.0
    for when in (T0, T0 + timedelta(minutes=1)):
        submit(session, lease(session, project, ann, when), ann, when, duration_ms=6000)
    frame = weekly_metrics(session, project, weeks=2, now=T0 + timedelta(hours=1))
    assert frame.schema == pl.Schema(WEEKLY_SCHEMA)
    rows = frame.to_dicts()
    assert [r["week_start"] for r in rows] == [week_start(last_week.date()), week_start(T0.date())]
    old, new = rows
    assert (old["labels"], old["gold_checks"], old["gold_correct"]) == (2, 2, 1)
    assert old["gold_accuracy"] == 0.5 and old["items_per_hour"] == 1800.0
    assert (new["labels"], new["gold_checks"], new["gold_accuracy"]) == (2, 0, None)
    assert new["median_seconds"] == 6.0 and new["handle"] == ann.handle
    one_week = weekly_metrics(session, project, weeks=1, now=T0 + timedelta(hours=1))
    assert one_week.height == 1


def test_weekly_csv_neutralizes_names_and_parquet_round_trips(session: Session) -> None:
    project = make_project(session, overlap=1)
    add_items(session, project, 2)
    (ann,) = team(session, project, 1)
    ann.name = "=HYPERLINK(1)"
    submit(session, lease(session, project, ann), ann, duration_ms=1000)
    frame = weekly_metrics(session, project, now=T0)
    csv = b"".join(serialize(frame, "csv")).decode()
    assert "'=HYPERLINK(1)" in csv and csv.splitlines()[0] == ",".join(WEEKLY_SCHEMA)
    parquet = pl.read_parquet(io.BytesIO(b"".join(serialize(frame, "parquet"))))
    assert parquet.equals(frame)


def test_weekly_request_names_bad_parameters() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_weekly_request("xlsx", "0")
    assert set(caught.value.field_errors) == {"format", "weeks"}
    assert parse_weekly_request("parquet", "52") == ("parquet", 52)


def test_a_membership_quota_shows_up_on_the_roster(session: Session) -> None:
    project = make_project(session, overlap=1)
    (ann,) = team(session, project, 1)
    membership = session.query(Membership).filter_by(user_id=ann.id).one()
    membership.daily_quota = 50
    report = workforce_report(session, project, now=T0)
    (member,) = [m for m in report.members if m.row.user.id == ann.id]
    assert member.row.membership.daily_quota == 50 and member.qualification == "not required"
