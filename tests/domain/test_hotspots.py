"""The hotspot scan on stored labels, deduplication across scans, the lifecycle, the schedule,
and the path from a hotspot to a spec fix and a campaign that addresses it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Hotspot, Job, Project, User
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.errors import Forbidden, InvalidInput
from app.domain.hotspots import (
    draft_spec_fix,
    list_hotspots,
    queue_due_scans,
    queue_scan,
    scan_hotspots,
    set_hotspot_status,
)
from app.domain.outbox import run_job
from app.domain.projects import get_project
from app.domain.specs import publish_spec, update_draft
from app.jobs.actors import HANDLERS
from tests.domain.test_campaigns import labeled_project
from tests.factories import make_user


def demo(session: Session) -> tuple[Project, User]:
    load_demo(session)
    project = get_project(session, DEMO_SLUG)
    lead = session.scalars(select(User).where(User.role == "lead")).first()
    assert lead is not None
    return project, lead


def by_key(session: Session, project: Project) -> dict[str, Hotspot]:
    return {row.key: row for row, _, _ in list_hotspots(session, project)}


def test_the_demo_scan_finds_the_sarcasm_ambiguity_and_the_noisy_annotator(
    session: Session,
) -> None:
    project, _ = demo(session)
    result = scan_hotspots(session, project, resamples=300)
    assert result["verdicts"] == {
        "tag:sarcasm": "spec_ambiguity",
        "annotator:farid": "annotator_noise",
    }
    rows = list_hotspots(session, project)
    (sarcasm, tag, _), (farid, _, handle) = rows  # ranked: the tag is the stronger finding
    assert (tag, handle) == ("sarcasm", "farid")
    assert sarcasm.verdict == "spec_ambiguity" and sarcasm.status == "open"
    assert sarcasm.ci_high is not None and sarcasm.ci_high < project.alpha_threshold
    assert len(sarcasm.labels) == 2
    evidence = sarcasm.evidence
    assert evidence["rule"] and evidence["spec_version"] == 1
    assert evidence["n_unclear"] > 0 and evidence["comments"]
    assert evidence["example_items"] and evidence["association"]["cramers_v"] >= 0.3
    # The annotator x label table shows the split: Ana reads the literal words, Ben the intent
    table = evidence["association"]
    rows = dict(zip(table["annotators"], table["counts"], strict=True))
    favourite = {who: table["labels"][row.index(max(row))] for who, row in rows.items()}
    assert (favourite["ana"], favourite["ben"]) == ("positive", "negative")
    assert farid.verdict == "annotator_noise" and farid.scope == "annotator"
    assert farid.user_id is not None and farid.key == f"annotator:{farid.user_id}"


def test_a_second_scan_updates_in_place_and_keeps_the_leads_decision(session: Session) -> None:
    project, lead = demo(session)
    scan_hotspots(session, project, resamples=200)
    sarcasm = by_key(session, project)["tag:sarcasm"]
    set_hotspot_status(session, project, sarcasm.id, "acknowledged", actor=lead)
    scan_hotspots(session, project, resamples=200)
    assert session.scalar(select(func.count()).select_from(Hotspot)) == 2
    again = by_key(session, project)["tag:sarcasm"]
    assert again.id == sarcasm.id and again.status == "acknowledged"


def test_the_lifecycle_checks_who_and_what(session: Session) -> None:
    project, lead = demo(session)
    scan_hotspots(session, project, resamples=200)
    sarcasm = by_key(session, project)["tag:sarcasm"]
    annotator = make_user(session)
    with pytest.raises(Forbidden):
        set_hotspot_status(session, project, sarcasm.id, "dismissed", actor=annotator)
    with pytest.raises(InvalidInput) as no_reason:
        set_hotspot_status(session, project, sarcasm.id, "dismissed", actor=lead)
    assert "reason" in no_reason.value.field_errors
    with pytest.raises(InvalidInput) as not_published:
        set_hotspot_status(session, project, sarcasm.id, "addressed", actor=lead, number=7)
    assert "number" in not_published.value.field_errors
    with pytest.raises(InvalidInput):
        set_hotspot_status(session, project, sarcasm.id, "solved", actor=lead)
    set_hotspot_status(session, project, sarcasm.id, "dismissed", actor=lead, reason="Known.")
    assert (sarcasm.status, sarcasm.status_reason) == ("dismissed", "Known.")
    set_hotspot_status(session, project, sarcasm.id, "open", actor=lead)
    assert sarcasm.status == "open" and sarcasm.status_reason == ""


def test_drafting_a_fix_then_publishing_it_addresses_the_hotspot(session: Session) -> None:
    project, lead = demo(session)
    scan_hotspots(session, project, resamples=200)
    hotspots = by_key(session, project)
    sarcasm = hotspots.pop("tag:sarcasm")
    [farid] = hotspots.values()
    draft = draft_spec_fix(session, project, sarcasm.id, actor=lead)
    assert draft.status == "draft" and draft.changelog == "Clarify the rule for sarcasm."
    assert draft_spec_fix(session, project, sarcasm.id, actor=lead).id == draft.id
    with pytest.raises(InvalidInput):
        draft_spec_fix(session, project, farid.id, actor=lead)
    update_draft(
        session,
        project,
        draft.number,
        {"rules": [{"tag": "sarcasm", "text": "Label what the author means, not the words."}]},
        expected_edit_version=draft.edit_version,
        actor=lead,
    )
    _, job = publish_spec(session, project, draft.number, actor=lead)
    done = run_job(session, job.id, HANDLERS)
    assert done.status == "done", done.error
    assert done.result is not None and done.result["n_items"] > 0
    session.refresh(sarcasm)
    assert (sarcasm.status, sarcasm.addressed_by_number) == ("addressed", draft.number)
    session.refresh(farid)
    assert farid.status == "open"


def test_clean_or_thin_data_yields_no_hotspot(session: Session) -> None:
    project, _, _, _ = labeled_project(session)
    assert scan_hotspots(session, project, resamples=100)["keys"] == []
    assert list_hotspots(session, project) == []


def test_scans_are_scheduled_after_activity_and_not_repeated_without_it(
    session: Session,
) -> None:
    project, _ = demo(session)
    every = timedelta(minutes=15)
    assert queue_due_scans(session, every) == [project.id]
    assert queue_due_scans(session, every) == []  # one is pending
    job = session.scalars(select(Job).where(Job.kind == "scan_hotspots")).one()
    run_job(session, job.id, HANDLERS)
    later = utcnow() + timedelta(hours=1)
    assert queue_due_scans(session, every, now=later) == []  # nothing new since the scan
    # (the scan's result recorded the newest annotation id)
    assert job.result is not None and job.result["max_annotation_id"] is not None
    on_demand = queue_scan(session, project)
    assert queue_scan(session, project).id == on_demand.id  # one pending scan per project
