"""Throughput, backlog and everyone's pace, counted from what was recorded."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.domain.annotations import submit_assignment
from app.domain.assignment import lease_next_assignment, skip_assignment
from app.domain.work_stats import DAYS, week_start, work_stats
from tests.domain.test_assignment import add_items, team
from tests.factories import make_project


def test_pace_backlog_and_eta_follow_the_labels(session: Session) -> None:
    # Given 4 items with k=2 and two annotators
    project = make_project(session, overlap=2)
    add_items(session, project, 4)
    ann, bob = team(session, project, 2)
    now = utcnow()
    # When Ann labels two items (one flagged unclear, 3 s and 5 s) and Bob skips one
    for duration, unclear in ((3000, True), (5000, False)):
        task = lease_next_assignment(session, project, ann, now=now)
        assert task is not None
        submit_assignment(
            session, task.id, ann, value="positive", duration_ms=duration, unclear=unclear, now=now
        )
    task = lease_next_assignment(session, project, bob, now=now)
    assert task is not None
    skip_assignment(session, task.id, bob, now=now)
    # Then
    stats = work_stats(session, project, now=now + timedelta(minutes=1))
    assert len(stats.per_day) == DAYS and stats.per_day[-1] == (now.date(), 2)
    assert (stats.n_items, stats.slots_needed, stats.slots_done) == (4, 8, 2)
    assert stats.eta_days is not None and stats.eta_days == (8 - 2) / (2 / 7)
    pace = {p.handle: p for p in stats.people}
    assert (pace[ann.handle].n_labels, pace[ann.handle].median_seconds) == (2, 4.0)
    assert pace[ann.handle].n_unclear == 1 and pace[ann.handle].unclear_rate == 0.5
    # 2 labels in 8 s of labeling time: 900 an hour; p90 interpolates between 3 s and 5 s
    assert pace[ann.handle].items_per_hour == 900.0
    assert pace[ann.handle].p90_seconds == 4.8
    assert pace[ann.handle].weekly[-1] == (week_start(now.date()), 2)
    assert sum(n for _, n in pace[ann.handle].weekly) == 2 and len(pace[ann.handle].weekly) == 6
    bob_pace = pace[bob.handle]
    assert (bob_pace.n_labels, bob_pace.n_skipped, bob_pace.skip_rate) == (0, 1, 1.0)
    assert bob_pace.last_active is None and bob_pace.median_seconds is None


def test_no_recent_labels_means_no_estimate(session: Session) -> None:
    project = make_project(session)
    add_items(session, project, 2)
    stats = work_stats(session, project)
    assert stats.eta_days is None and stats.slots_done == 0 and stats.people == []


def test_the_progress_strip_reuses_a_fresh_count_less_what_the_annotator_did(
    session: Session,
) -> None:
    from app.domain.labeling import annotator_progress

    project = make_project(session, overlap=1)
    add_items(session, project, 5)
    ann, bob = team(session, project, 2)
    assert annotator_progress(session, project, ann, exact=False).remaining == 5
    # Ann labels one: the strip subtracts it without counting again
    task = lease_next_assignment(session, project, ann)
    assert task is not None
    submit_assignment(session, task.id, ann, value="positive")
    assert annotator_progress(session, project, ann, exact=False).remaining == 4
    # Bob's label shows at the next exact count (which decisions like "nothing left" use)
    task = lease_next_assignment(session, project, bob)
    assert task is not None
    submit_assignment(session, task.id, bob, value="positive")
    assert annotator_progress(session, project, ann, exact=False).remaining == 4
    assert annotator_progress(session, project, ann).remaining == 3
