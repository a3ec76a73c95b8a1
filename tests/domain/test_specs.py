"""Spec versions on SQLite and PostgreSQL: drafting, editing with optimistic locking, diffing,
publishing, and the immutability of published versions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.engine import begin_immediate, make_session_factory, session_scope
from app.db.models import AuditEvent, Job, Project, SpecLabel, SpecRule, SpecVersion, Tag, User
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.domain.outbox import run_job
from app.domain.projects import current_spec, get_project
from app.domain.specs import (
    create_draft,
    diff_specs,
    get_spec,
    list_specs,
    publish_spec,
    spec_snapshot,
    update_draft,
)
from app.domain.values import spec_label_keys
from app.jobs.actors import HANDLERS
from tests.factories import make_project, make_user, statements_sent

LABELS = [
    {"key": "positive", "name": "Positive", "hotkey": "1"},
    {"key": "negative", "name": "Negative", "hotkey": "2"},
    {"key": "neutral", "name": "Neutral", "hotkey": "3"},
]


def lead_and_project(session: Session, **overrides: Any) -> tuple[User, Project]:
    lead = make_user(session, role="lead")
    return lead, make_project(session, actor=lead, **overrides)


def edit(session: Session, project: Project, spec: SpecVersion, lead: User, **changes: Any) -> Any:
    return update_draft(
        session,
        project,
        spec.number,
        changes,
        expected_edit_version=spec.edit_version,
        actor=lead,
    )


def current_numbers(session: Session, project: Project) -> list[int]:
    return list(
        session.scalars(
            select(SpecVersion.number).where(
                SpecVersion.project_id == project.id, SpecVersion.is_current
            )
        )
    )


# --- drafts ----------------------------------------------------------------------------------


def test_a_draft_copies_the_current_version(session: Session) -> None:
    lead, project = lead_and_project(session)
    draft = create_draft(session, project, actor=lead)

    assert (draft.number, draft.status, draft.is_current, draft.based_on_number) == (
        2,
        "draft",
        False,
        1,
    )
    copied, original = (
        spec_snapshot(session, draft),
        spec_snapshot(session, get_spec(session, project, 1)),
    )
    assert copied["labels"] == original["labels"]
    assert (
        copied["rules"]
        == original["rules"]
        == [{"tag": "sarcasm", "text": "Label the intended meaning, not the literal words."}]
    )
    assert copied["guidelines"] == "Label the sentiment the author expresses."
    assert copied["changelog"] == ""  # the draft says what *it* changes
    assert [s.number for s in list_specs(session, project)] == [2, 1]
    assert [s.number for s in list_specs(session, project, include_drafts=False)] == [1]
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "spec.draft_created"))


def test_only_one_draft_is_open_at_a_time_and_it_can_start_from_an_older_version(
    session: Session,
) -> None:
    lead, project = lead_and_project(session)
    v2 = create_draft(session, project, actor=lead)
    edit(session, project, v2, lead, guidelines="Second guidelines.")
    with pytest.raises(Conflict) as second:
        create_draft(session, project, actor=lead)
    assert second.value.code == "draft_exists" and second.value.details == {"number": 2}

    publish_spec(session, project, 2, actor=lead)
    v3 = create_draft(session, project, actor=lead, from_number=1)
    assert v3.number == 3 and v3.based_on_number == 1
    assert v3.guidelines == "Label the sentiment the author expresses."


def test_annotators_cannot_draft_edit_or_publish(session: Session) -> None:
    lead, project = lead_and_project(session)
    annotator = make_user(session)
    with pytest.raises(Forbidden):
        create_draft(session, project, actor=annotator)
    draft = create_draft(session, project, actor=lead)
    with pytest.raises(Forbidden):
        edit(session, project, draft, annotator, guidelines="mine now")
    with pytest.raises(Forbidden):
        publish_spec(session, project, draft.number, actor=annotator)


def test_editing_a_draft_replaces_labels_and_rules_and_creates_unknown_tags(
    session: Session,
) -> None:
    lead, project = lead_and_project(session)
    draft = create_draft(session, project, actor=lead)
    before = draft.edit_version

    edit(
        session,
        project,
        draft,
        lead,
        guidelines="# New\nBe kind.",
        changelog="Negation gets a rule; neutral goes.",
        labels=[
            {"key": "negative", "name": "Negative", "order": 2},
            {"key": "positive", "name": "Positive (clearly)", "order": 1, "hotkey": "p"},
        ],
        rules=[
            {"tag": "sarcasm", "text": "Label the literal words."},
            {"tag": "negation", "text": "A negated positive is negative."},
        ],
    )

    session.expire_all()
    saved = spec_snapshot(session, get_spec(session, project, 2))
    assert [(lbl["key"], lbl["name"], lbl["order"]) for lbl in saved["labels"]] == [
        ("positive", "Positive (clearly)", 0),
        ("negative", "Negative", 1),
    ]
    assert saved["labels"][0]["hotkey"] == "p"
    assert saved["labels"][1]["hotkey"] == "1"  # no hotkey given: the first free digit
    assert saved["rules"] == [
        {"tag": "negation", "text": "A negated positive is negative."},
        {"tag": "sarcasm", "text": "Label the literal words."},
    ]
    assert saved["guidelines"] == "# New\nBe kind."
    assert get_spec(session, project, 2).edit_version == before + 1
    assert session.scalar(select(Tag).where(Tag.project_id == project.id, Tag.name == "negation"))
    # v1 is untouched
    assert [
        lbl["key"] for lbl in spec_snapshot(session, current_spec(session, project))["labels"]
    ] == [
        "positive",
        "negative",
        "neutral",
    ]


def test_a_stale_edit_is_refused_and_changes_nothing(session: Session) -> None:
    lead, project = lead_and_project(session)
    draft = create_draft(session, project, actor=lead)
    opened_at = draft.edit_version
    edit(session, project, draft, lead, guidelines="Saved first.")

    with pytest.raises(Conflict) as stale:
        update_draft(
            session,
            project,
            2,
            {"guidelines": "Saved second."},
            expected_edit_version=opened_at,
            actor=lead,
        )
    assert stale.value.code == "stale_version" and stale.value.status_code == 409
    assert "someone else saved" in stale.value.message
    assert stale.value.details == {"edit_version": opened_at + 1}
    assert get_spec(session, project, 2).guidelines == "Saved first."


def test_invalid_edits_name_every_bad_field(session: Session) -> None:
    lead, project = lead_and_project(session)
    draft = create_draft(session, project, actor=lead)
    with pytest.raises(InvalidInput) as bad:
        edit(
            session,
            project,
            draft,
            lead,
            labels=[
                {"key": "a", "name": "A", "hotkey": "h"},
                {"key": "a", "name": ""},
                {"key": "b c", "name": "B", "hotkey": "xy"},
            ],
            rules=[{"tag": "Bad Tag", "text": "x"}, {"tag": "ok", "text": "  "}],
            colour="blue",
        )
    assert set(bad.value.field_errors) == {
        "labels[0].hotkey",
        "labels[1].key",
        "labels[1].name",
        "labels[2].key",
        "labels[2].hotkey",
        "rules[0].tag",
        "rules[1].text",
        "colour",
    }
    with pytest.raises(InvalidInput) as mixed:
        edit(
            session,
            project,
            draft,
            lead,
            labels=[{"key": "a", "name": "A", "order": 1}, {"key": "b", "name": "B"}],
            scale={"min": 0, "max": 1, "step": 1},
        )
    assert set(mixed.value.field_errors) == {"labels[1].order", "scale"}
    with pytest.raises(InvalidInput) as too_few:
        edit(session, project, draft, lead, labels=[{"key": "a", "name": "A"}])
    assert "labels" in too_few.value.field_errors
    assert len(get_spec(session, project, 2).labels) == 3


def test_numeric_drafts_edit_the_scale_not_labels(session: Session) -> None:
    lead, project = lead_and_project(
        session, kind="numeric", labels=[], scale={"min": 0, "max": 10, "step": 1}
    )
    draft = create_draft(session, project, actor=lead)
    assert (draft.scale_min, draft.scale_max, draft.scale_step) == (0, 10, 1)
    with pytest.raises(InvalidInput) as bad:
        edit(session, project, draft, lead, labels=LABELS, scale={"min": 5, "max": 1, "step": 1})
    assert set(bad.value.field_errors) == {"labels", "scale"}
    edit(session, project, draft, lead, scale={"min": 0, "max": 5, "step": 0.5})
    diff = diff_specs(session, current_spec(session, project), draft)
    assert diff["scale"] == {
        "changed": True,
        "old": {"min": 0.0, "max": 10.0, "step": 1.0},
        "new": {"min": 0.0, "max": 5.0, "step": 0.5},
    }


# --- immutability ----------------------------------------------------------------------------


def add_label(spec: SpecVersion) -> None:
    spec.labels.append(SpecLabel(key="extra", name="Extra", position=99))


def rename_label(spec: SpecVersion) -> None:
    spec.labels[0].name = "Renamed behind the domain's back"


def drop_rule(spec: SpecVersion) -> None:
    spec.rules.clear()


def rewrite_rule(spec: SpecVersion) -> None:
    spec.rules[0].text = "Something else"


def unpublish(spec: SpecVersion) -> None:
    spec.status = "draft"


def rewrite_guidelines(spec: SpecVersion) -> None:
    spec.guidelines = "Rewritten"


@pytest.mark.parametrize(
    "mutate",
    [rewrite_guidelines, unpublish, add_label, rename_label, drop_rule, rewrite_rule],
)
def test_published_versions_refuse_any_change_through_the_orm(
    session: Session, mutate: Callable[[SpecVersion], None]
) -> None:
    # Given a published v1
    _, project = lead_and_project(session)
    v1 = current_spec(session, project)
    before = spec_snapshot(session, v1)
    # When something changes it directly through the ORM
    nested = session.begin_nested()
    mutate(v1)
    # Then the flush is refused, and nothing changed
    with pytest.raises(Conflict, match="published spec versions are immutable"):
        session.flush()
    nested.rollback()
    session.expire_all()
    assert spec_snapshot(session, get_spec(session, project, 1)) == before


def test_published_rows_cannot_be_deleted_or_joined_by_new_rows(session: Session) -> None:
    _, project = lead_and_project(session)
    v1 = current_spec(session, project)
    attempts: list[Callable[[], None]] = [
        lambda: session.delete(v1),
        lambda: session.delete(v1.labels[0]),
        lambda: session.add(SpecLabel(spec_version_id=v1.id, key="x", name="X", position=7)),
        lambda: session.add(SpecRule(spec_version_id=v1.id, tag_id=v1.rules[0].tag_id, text="y")),
    ]
    for attempt in attempts:
        nested = session.begin_nested()
        attempt()
        with pytest.raises(Conflict, match="immutable"):
            session.flush()
        nested.rollback()
    session.expire_all()
    assert len(get_spec(session, project, 1).labels) == 3


def test_update_draft_refuses_a_published_version(session: Session) -> None:
    lead, project = lead_and_project(session)
    v1 = current_spec(session, project)
    with pytest.raises(Conflict, match="published spec versions are immutable"):
        update_draft(
            session,
            project,
            1,
            {"guidelines": "x"},
            expected_edit_version=v1.edit_version,
            actor=lead,
        )


# --- publishing ------------------------------------------------------------------------------


def test_publishing_makes_one_current_and_writes_the_outbox_row_in_the_same_transaction(
    session: Session,
) -> None:
    lead, project = lead_and_project(session)
    draft = create_draft(session, project, actor=lead)
    edit(session, project, draft, lead, changelog="Sharper sarcasm rule.")

    # A publish that is rolled back leaves neither the new current version nor its job
    nested = session.begin_nested()
    publish_spec(session, project, 2, actor=lead)
    nested.rollback()
    session.expire_all()
    assert current_numbers(session, project) == [1]
    assert session.scalar(select(func.count()).select_from(Job)) == 0

    spec, job = publish_spec(session, project, 2, actor=lead)
    assert current_numbers(session, project) == [2]
    assert spec.status == "published" and spec.published_by_id == lead.id
    assert spec.published_at is not None
    stored = session.scalars(select(Job)).one()
    assert stored.id == job.id and stored.kind == "spec_published"
    assert stored.payload == {
        "project_id": project.id,
        "spec_version_id": spec.id,
        "number": 2,
        "previous_number": 1,
    }
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "spec.published"))
    with pytest.raises(Conflict) as again:
        publish_spec(session, project, 2, actor=lead)
    assert again.value.code == "not_a_draft"


def test_publishing_two_drafts_in_turn_leaves_exactly_one_current(session: Session) -> None:
    lead, project = lead_and_project(session)
    publish_spec(session, project, create_draft(session, project, actor=lead).number, actor=lead)
    publish_spec(session, project, create_draft(session, project, actor=lead).number, actor=lead)
    assert current_numbers(session, project) == [3]
    assert [s.status for s in list_specs(session, project)] == ["published"] * 3
    # The partial unique index is the last line of defence against a second current version
    v2 = get_spec(session, project, 2)
    nested = session.begin_nested()
    v2.is_current = True
    with pytest.raises(IntegrityError):
        session.flush()
    nested.rollback()


def test_concurrent_publishes_of_one_draft_leave_exactly_one_current(engine: Engine) -> None:
    # Given a project with an open draft v2, committed
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        lead = make_user(s, role="lead", email="lead@example.test")
        slug = make_project(s, actor=lead).slug
        create_draft(s, get_project(s, slug), actor=lead)
    # When two leads press "Publish" at the same moment
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def press_publish() -> None:
        barrier.wait()
        try:
            with session_scope(factory) as s:
                begin_immediate(s)
                actor = s.scalars(select(User).where(User.email == "lead@example.test")).one()
                publish_spec(s, get_project(s, slug), 2, actor=actor)
            outcomes.append("published")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=press_publish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then one publish wins, the other is told why, and exactly one version is current
    # (the loser's code depends on how far it got: the draft was already published when it
    # read it, its flush met the published row, or its update lost the version race)
    assert sorted(outcomes) in (
        ["not_a_draft", "published"],
        ["published", "spec_published"],
        ["concurrent_publish", "published"],
    ), outcomes
    with session_scope(factory) as s:
        project = get_project(s, slug)
        assert current_numbers(s, project) == [2]
        assert s.scalar(select(func.count()).select_from(Job)) == 1


# --- diffs -----------------------------------------------------------------------------------


def test_the_diff_reports_each_kind_of_change(session: Session) -> None:
    lead, project = lead_and_project(session)
    draft = create_draft(session, project, actor=lead)
    edit(
        session,
        project,
        draft,
        lead,
        guidelines="Label the sentiment the author expresses.\nIgnore emoji.",
        changelog="v2: emoji, negation.",
        labels=[
            {"key": "positive", "name": "Positive", "hotkey": "1"},  # unchanged
            {"key": "negative", "name": "Negative (any)", "hotkey": "2"},  # renamed
            {"key": "mixed", "name": "Mixed", "hotkey": "4"},  # added (neutral removed)
        ],
        rules=[
            {"tag": "sarcasm", "text": "Label the literal words."},
            {"tag": "negation", "text": "Flip the polarity."},
        ],
    )
    diff = diff_specs(session, current_spec(session, project), draft)

    assert (diff["from_number"], diff["to_number"], diff["changed"]) == (1, 2, True)
    assert [lbl["key"] for lbl in diff["labels"]["added"]] == ["mixed"]
    assert [lbl["key"] for lbl in diff["labels"]["removed"]] == ["neutral"]
    assert diff["labels"]["renamed"] == [
        {"key": "negative", "old_name": "Negative", "new_name": "Negative (any)"}
    ]
    assert diff["labels"]["redefined"] == []
    assert diff["rules"]["added"] == [{"tag": "negation", "text": "Flip the polarity."}]
    assert diff["rules"]["removed"] == []
    assert diff["rules"]["changed"] == [
        {
            "tag": "sarcasm",
            "old_text": "Label the intended meaning, not the literal words.",
            "new_text": "Label the literal words.",
        }
    ]
    assert diff["guidelines"]["changed"] is True
    assert "+Ignore emoji." in diff["guidelines"]["diff"]
    assert diff["changelog"] == {
        "changed": True,
        "old": "First version.",
        "new": "v2: emoji, negation.",
    }
    assert diff["scale"]["changed"] is False

    # Redefinitions: description, hotkey and order, each reported with old and new value
    edit(
        session,
        project,
        draft,
        lead,
        labels=[
            {"key": "negative", "name": "Negative (any)", "hotkey": "2"},
            {"key": "positive", "name": "Positive", "hotkey": "9", "description": "Clearly good"},
            {"key": "mixed", "name": "Mixed", "hotkey": "4"},
        ],
        rules=[{"tag": "negation", "text": "Flip the polarity."}],
    )
    diff = diff_specs(session, current_spec(session, project), draft)
    redefined = {r["key"]: r["changes"] for r in diff["labels"]["redefined"]}
    assert redefined["positive"] == [
        {"field": "description", "old": "", "new": "Clearly good"},
        {"field": "hotkey", "old": "1", "new": "9"},
        {"field": "order", "old": 0, "new": 1},
    ]
    assert redefined["negative"] == [{"field": "order", "old": 1, "new": 0}]
    assert diff["rules"]["removed"] == [
        {"tag": "sarcasm", "text": "Label the intended meaning, not the literal words."}
    ]
    backwards = diff_specs(session, draft, current_spec(session, project))
    assert [lbl["key"] for lbl in backwards["labels"]["added"]] == ["neutral"]


def test_an_unchanged_draft_diffs_as_unchanged(session: Session) -> None:
    lead, project = lead_and_project(session)
    draft = create_draft(session, project, actor=lead)
    diff = diff_specs(session, current_spec(session, project), draft)
    assert diff["changed"] is False
    assert diff["guidelines"] == {"changed": False, "diff": []}


def test_the_spec_published_job_records_what_changed(session: Session) -> None:
    lead, project = lead_and_project(session)
    draft = create_draft(session, project, actor=lead)
    edit(session, project, draft, lead, rules=[{"tag": "sarcasm", "text": "Literal words."}])
    _, job = publish_spec(session, project, 2, actor=lead)

    done = run_job(session, job.id, HANDLERS)

    assert done.status == "done", done.error
    assert done.result is not None
    assert done.result["previous_number"] == 1 and done.result["number"] == 2
    summary = done.result["summary"]
    assert summary["rules_changed"] == ["sarcasm"]
    assert summary["labels_added"] == [] and summary["guidelines_changed"] is False


def test_a_spec_versions_label_keys_are_read_in_one_statement_and_kept_for_the_transaction(
    session: Session,
) -> None:
    # Given a project's published version the session no longer holds
    project = make_project(session)
    spec_id = current_spec(session, project).id
    session.flush()
    session.expunge_all()
    with statements_sent(session) as statements:
        # When it is asked for: one statement brings the version and its label keys
        spec = spec_label_keys(session, spec_id)
        keys = [label.key for label in spec.labels]
        # And asking again in the transaction reuses what was read
        assert spec_label_keys(session, spec_id) is spec
    assert keys == ["positive", "negative", "neutral"]
    assert len(statements) == 1
    # An unknown id is NotFound
    with pytest.raises(NotFound):
        spec_label_keys(session, spec_id + 1000)
