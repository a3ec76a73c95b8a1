"""The qualification test: who needs it, drawing and resuming, grading, cool-down and passing."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Membership, Project, User
from app.domain.errors import Conflict, InvalidInput
from app.domain.gold import add_gold
from app.domain.qualification import (
    attempt_questions,
    grade_attempt,
    qualification_results,
    qualification_status,
    start_or_resume_attempt,
)
from tests.domain.test_assignment import T0, add_items, team
from tests.factories import make_project, make_user


def qualifying_project(
    session: Session, *, n_questions: int = 4, size: int = 3
) -> tuple[Project, User, dict[str, str]]:
    """A project requiring a test of ``size`` questions drawn from ``n_questions`` gold items
    (answers alternate positive/negative), plus one check item that must never be asked."""
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    project.requires_qualification = True
    project.qualification_size = size
    project.qualification_pass = 0.6
    project.qualification_cooldown_minutes = 30
    answers = {}
    for n, item in enumerate(add_items(session, project, n_questions, tags=("sarcasm",))):
        answers[item.external_id] = "positive" if n % 2 == 0 else "negative"
        add_gold(
            session,
            project,
            item.external_id,
            answers[item.external_id],
            f"Because of rule {n}.",
            "qualification",
            actor=lead,
        )
    (check,) = add_items(session, project, 1)
    add_gold(session, project, check.external_id, "neutral", "secret", "check", actor=lead)
    return project, lead, answers


def test_who_needs_the_test(session: Session) -> None:
    project, lead, _ = qualifying_project(session)
    (ann,) = team(session, project, 1)
    assert qualification_status(session, project, ann).state == "needs_test"
    assert qualification_status(session, project, lead).state == "not_required"
    assert qualification_status(session, project, make_user(session, role="admin")).may_work
    project.requires_qualification = False
    assert qualification_status(session, project, ann).state == "not_required"


def test_a_project_without_qualification_gold_says_the_test_is_not_ready(
    session: Session,
) -> None:
    project = make_project(session)
    project.requires_qualification = True
    (ann,) = team(session, project, 1)
    status = qualification_status(session, project, ann)
    assert (status.state, status.test_ready) == ("needs_test", False)
    with pytest.raises(Conflict) as refused:
        start_or_resume_attempt(session, project, ann, now=T0)
    assert refused.value.code == "qualification_not_ready"


def test_an_attempt_draws_qualification_gold_and_resumes_with_the_same_questions(
    session: Session,
) -> None:
    project, _, answers = qualifying_project(session, n_questions=4, size=3)
    (ann,) = team(session, project, 1)
    attempt = start_or_resume_attempt(session, project, ann, now=T0, draw=random.Random(1))
    questions = attempt_questions(session, attempt)
    assert attempt.n_questions == len(questions) == 3
    assert {q.external_id for q in questions} <= set(answers)  # never the check item
    assert questions[0].rules == [("sarcasm", "Label the intended meaning, not the literal words.")]
    assert qualification_status(session, project, ann).state == "in_progress"
    again = start_or_resume_attempt(session, project, ann, now=T0, draw=random.Random(2))
    assert again.id == attempt.id
    assert [q.external_id for q in attempt_questions(session, again)] == [
        q.external_id for q in questions
    ]


def test_answers_are_validated_and_name_the_item(session: Session) -> None:
    project, _, _ = qualifying_project(session, n_questions=2, size=2)
    (ann,) = team(session, project, 1)
    attempt = start_or_resume_attempt(session, project, ann, now=T0)
    first, second = (q.external_id for q in attempt_questions(session, attempt))
    with pytest.raises(InvalidInput) as refused:
        grade_attempt(session, attempt, {first: "sunny", "elsewhere": "positive"}, now=T0)
    assert set(refused.value.field_errors) == {first, second, "elsewhere"}
    assert first in refused.value.message
    assert attempt.finished_at is None


def test_failing_shows_the_explanations_and_blocks_a_retry_until_the_cool_down(
    session: Session,
) -> None:
    # Given a three-question test (pass at 60%)
    project, _, answers = qualifying_project(session, n_questions=3, size=3)
    (ann,) = team(session, project, 1)
    attempt = start_or_resume_attempt(session, project, ann, now=T0)
    ids = [q.external_id for q in attempt_questions(session, attempt)]
    # When the annotator gets only one right
    given = {ids[0]: answers[ids[0]]} | {i: "neutral" for i in ids[1:]}
    done = T0 + timedelta(minutes=5)
    result = grade_attempt(session, attempt, given, now=done)
    # Then they failed and see the right answer and explanation of each miss only
    assert (result.passed, result.n_correct, result.n_questions) == (False, 1, 3)
    assert [r.external_id for r in result.review] == ids[1:]
    assert all(r.your_value == "neutral" and r.explanation for r in result.review)
    assert [r.correct_value for r in result.review] == [answers[i] for i in ids[1:]]
    until = done + timedelta(minutes=30)
    assert result.retry_after == until
    # and they may not retry before the cool-down ends
    status = qualification_status(session, project, ann, now=until - timedelta(seconds=1))
    assert (status.state, status.until) == ("cooling_down", until)
    with pytest.raises(Conflict) as early:
        start_or_resume_attempt(session, project, ann, now=until - timedelta(seconds=1))
    assert early.value.code == "qualification_cooling_down"
    with pytest.raises(Conflict):
        grade_attempt(session, attempt, given, now=until)
    # When the cool-down has passed, a new attempt opens and a pass qualifies them
    retry = start_or_resume_attempt(session, project, ann, now=until)
    assert retry.id != attempt.id
    ids = [q.external_id for q in attempt_questions(session, retry)]
    passed = grade_attempt(session, retry, {i: answers[i] for i in ids}, now=until)
    assert passed.passed and passed.review == [] and passed.accuracy == 1.0
    membership = session.scalar(select(Membership).where(Membership.user_id == ann.id))
    assert membership is not None and membership.qualified_at == until
    assert qualification_status(session, project, ann).state == "qualified"
    (row,) = qualification_results(session, project)
    assert (row.attempts, row.last_correct, row.last_questions) == (2, 3, 3)
    assert row.qualified_at == until
