"""Spec-change impact and re-label campaigns: exactly the affected items go back, once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_session_factory, session_scope
from app.db.models import (
    Annotation,
    Assignment,
    Item,
    Job,
    Project,
    RelabelCampaign,
    RelabelItem,
    User,
)
from app.domain.acknowledgements import acknowledge_spec
from app.domain.agreement import agreement_report
from app.domain.campaigns import campaign_progress, impact_of
from app.domain.errors import Conflict
from app.domain.outbox import run_job
from app.domain.projects import get_project
from app.domain.specs import publish_spec
from app.jobs.actors import HANDLERS
from tests.domain.test_assignment import T0, add_items, lease, submit, team
from tests.factories import draft_with, make_project, make_user


def labeled_project(session: Session) -> tuple[Project, Any, list[Any], dict[str, list[Item]]]:
    """k=2; 4 sarcasm items (3 fully labeled, 1 not at all), 3 plain items fully labeled with
    one 'neutral' among their labels; durations 10 s each."""
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead, overlap=2)
    people = team(session, project, 2)
    items = {
        "sarcasm": add_items(session, project, 4, tags=("sarcasm",)),
        "plain": add_items(session, project, 3),
    }
    labeled = items["sarcasm"][:3] + items["plain"]
    values = {item.id: ["positive", "negative"] for item in items["sarcasm"]}
    values.update({item.id: ["positive", "positive"] for item in items["plain"]})
    values[items["plain"][0].id] = ["neutral", "positive"]
    for item in labeled:
        item.priority = 5  # serve the labeled ones first, in order
    session.flush()
    for person_index, person in enumerate(people):
        for _ in labeled:
            assignment = lease(session, project, person)
            value = values[assignment.item_id][person_index]
            submit(session, assignment, person, value=value, duration_ms=10_000)
    return project, lead, people, items


def publish(session: Session, project: Project, lead: Any, **changes: Any) -> Job:
    draft = draft_with(session, project, lead, **changes)
    _, job = publish_spec(session, project, draft.number, actor=lead)
    return job


def test_the_impact_preview_names_exactly_the_items_a_rule_change_affects(
    session: Session,
) -> None:
    project, lead, _, items = labeled_project(session)
    draft = draft_with(session, project, lead, rules=[{"tag": "sarcasm", "text": "Literal."}])
    impact = impact_of(session, project, draft.number)
    # The three labeled sarcasm items; the unlabeled one is simply labeled under v2 later
    assert sorted(impact.affected) == sorted(item.id for item in items["sarcasm"][:3])
    assert impact.rules_changed == ["sarcasm"] and impact.labels_changed == []
    assert (impact.n_items, impact.n_assignments) == (3, 6)
    assert impact.median_seconds == 10.0
    assert impact.estimate_hours == pytest.approx(6 * 10 / 3600)
    body = impact.as_dict()
    assert body["items_by_reason"] == {"rule:sarcasm": 3}
    assert body["examples"][0]["reasons"] == ["rule:sarcasm"]


def test_a_redefined_label_affects_the_items_labeled_with_it_and_a_hotkey_nothing(
    session: Session,
) -> None:
    project, lead, _, items = labeled_project(session)
    labels = [
        {"key": "positive", "name": "Positive", "hotkey": "p"},
        {"key": "negative", "name": "Negative"},
        {"key": "neutral", "name": "Neutral", "description": "No opinion at all, not mixed."},
    ]
    draft = draft_with(session, project, lead, labels=labels)
    impact = impact_of(session, project, draft.number)
    assert impact.labels_changed == ["neutral"]
    assert impact.affected == {items["plain"][0].id: ["label:neutral"]}


def test_the_campaign_sends_back_only_affected_items_ahead_of_other_work(
    session: Session,
) -> None:
    project, lead, people, items = labeled_project(session)
    before = agreement_report(session, project, resamples=0)
    job = publish(session, project, lead, rules=[{"tag": "sarcasm", "text": "Literal words."}])
    done = run_job(session, job.id, HANDLERS)
    assert done.status == "done", done.error
    assert done.result is not None
    assert (done.result["n_items"], done.result["n_assignments"]) == (3, 6)
    assert done.result["summary"]["rules_changed"] == ["sarcasm"]

    affected = items["sarcasm"][:3]
    for item in items["sarcasm"] + items["plain"]:
        session.refresh(item)
    assert [i.label_round for i in affected] == [2, 2, 2]
    assert all(i.priority == 200 and not i.is_full for i in affected)
    # Unaffected items keep their round, their labels, and stay full
    assert all(i.label_round == 1 and i.is_full for i in items["plain"])
    assert items["sarcasm"][3].label_round == 1
    # The stale labels stop counting under "current" and stay in history
    now = agreement_report(session, project, resamples=0)
    assert now.overall.n_annotations == before.overall.n_annotations - 6
    every = agreement_report(session, project, spec_version="all", resamples=0)
    assert every.overall.n_annotations == before.overall.n_annotations

    # Annotators acknowledge v2, then get the re-label work first, as kind "relabel"
    for person in people:
        acknowledge_spec(session, project, 2, person)
    first = lease(session, project, people[0])
    assert first.item_id in {i.id for i in affected}
    assert (first.kind, first.label_round, first.priority) == ("relabel", 2, 200)
    # The same person may re-label an item they labeled before
    assert (
        session.scalar(
            select(func.count()).where(
                Annotation.item_id == first.item_id, Annotation.user_id == people[0].id
            )
        )
        == 1
    )


def test_a_second_delivery_of_the_job_creates_nothing_more(session: Session) -> None:
    project, lead, _, _ = labeled_project(session)
    job = publish(session, project, lead, rules=[{"tag": "sarcasm", "text": "Literal words."}])
    first = HANDLERS["spec_published"](session, job)
    again = HANDLERS["spec_published"](session, job)
    assert first == again
    assert session.scalar(select(func.count()).select_from(RelabelCampaign)) == 1
    assert session.scalar(select(func.count()).select_from(RelabelItem)) == 3
    rounds = session.scalars(select(Item.label_round).where(Item.project_id == project.id))
    assert sorted(rounds) == [1, 1, 1, 1, 2, 2, 2]


def test_work_done_under_the_new_version_before_the_job_stays_valid(session: Session) -> None:
    project, lead, _, items = labeled_project(session)
    newcomer = team(session, project, 1)[0]
    job = publish(session, project, lead, rules=[{"tag": "sarcasm", "text": "Literal words."}])
    # Before the job runs, a newcomer labels the unlabeled sarcasm item... and an open lease
    # under v1 on an affected item is still out there
    sarcasm = items["sarcasm"]
    extra = lease(session, project, newcomer)
    assert extra.item_id == sarcasm[3].id
    submit(session, extra, newcomer, value="negative")
    old_lease = Assignment(
        project_id=project.id,
        item_id=sarcasm[0].id,
        user_id=newcomer.id,
        spec_version_id=job.payload["spec_version_id"] - 1,
        label_round=1,
        slot=3,
        lease_expires_at=T0,
    )
    session.add(old_lease)
    session.flush()
    run_job(session, job.id, HANDLERS)
    session.refresh(old_lease)
    assert old_lease.state == "cancelled"
    # The unlabeled item was not affected; its v2 label counts in round 1
    session.refresh(sarcasm[3])
    assert sarcasm[3].label_round == 1


def test_publishing_the_same_draft_twice_at_once_creates_one_campaign(
    engine: Any, database_url: str
) -> None:
    factory: sessionmaker[Session] = make_session_factory(engine, immediate=True)
    with session_scope(factory, immediate=True) as session:
        project, lead, _, _ = labeled_project(session)
        draft = draft_with(session, project, lead, rules=[{"tag": "sarcasm", "text": "Literal."}])
        slug, number, lead_id = project.slug, draft.number, lead.id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def publish_once() -> None:
        barrier.wait()
        try:
            with session_scope(factory, immediate=True) as session:
                actor = session.get(User, lead_id)
                assert actor is not None
                publish_spec(session, get_project(session, slug), number, actor=actor)
            outcomes.append("published")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=publish_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) in (["not_a_draft", "published"], ["concurrent_publish", "published"])
    with session_scope(factory, immediate=True) as session:
        jobs = session.scalars(select(Job).where(Job.kind == "spec_published")).all()
        assert len(jobs) == 1
        run_job(session, jobs[0].id, HANDLERS)
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(RelabelCampaign)) == 1


def test_the_campaign_shows_progress_and_alpha_before_and_after(session: Session) -> None:
    project, lead, people, _ = labeled_project(session)
    job = publish(session, project, lead, rules=[{"tag": "sarcasm", "text": "Literal words."}])
    run_job(session, job.id, HANDLERS)
    progress = campaign_progress(session, project, 2, resamples=0)
    assert (progress.n_items, progress.n_slots, progress.n_done) == (3, 6, 0)
    [before] = progress.before
    assert before.key == "sarcasm" and before.n_annotations == 6 and before.alpha is not None
    assert before.alpha < 0  # everyone disagreed before
    for person in people:
        acknowledge_spec(session, project, 2, person)
        for _ in range(3):
            submit(session, lease(session, project, person), person, value="negative")
    progress = campaign_progress(session, project, 2, resamples=0)
    assert (progress.n_done, progress.n_items_done, progress.share_done) == (6, 3, 1.0)
    [after] = progress.after
    assert after.n_annotations == 6 and after.why == "only 6 pairable values; 30 needed"
