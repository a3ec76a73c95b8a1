"""Qualification: the test an annotator passes before real work on a project that asks for it.

A test draws ``project.qualification_size`` (or as many as there are) of the project's live
``qualification`` gold items at random when it starts; the questions are stored with the
attempt (answers still empty), so a resumed test shows the same ones. Grading needs a valid
answer to every question; the attempt passes when the share of right answers reaches
``project.qualification_pass``, which records ``Membership.qualified_at``. After a failure the
next attempt opens ``project.qualification_cooldown_minutes`` after the last one finished, and
the failed attempt shows, for each wrong answer, the right one with its explanation.
Leads and admins are exempt.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import is_sqlite
from app.db.models import (
    GoldItem,
    Item,
    ItemTag,
    Membership,
    Project,
    QualificationAnswer,
    QualificationAttempt,
    Tag,
    User,
)
from app.domain.audit import record_event
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.gold_grading import scale_step
from app.domain.projects import current_spec, membership_of
from app.domain.values import validate_value, value_matches

rng: random.Random = random.SystemRandom()
"""Draws the questions of a new attempt; tests pass a seeded ``draw``."""
STATES = ("not_required", "qualified", "needs_test", "cooling_down", "in_progress")


@dataclass(frozen=True)
class QualificationStatus:
    """Where a person stands with a project's qualification test.

    ``until`` is when a failed person may retry (``cooling_down``); ``attempt_id`` the open
    attempt (``in_progress``); ``test_ready`` is False while the project has no qualification
    gold to ask.
    """

    state: str
    until: datetime | None = None
    attempt_id: int | None = None
    test_ready: bool = True

    @property
    def may_work(self) -> bool:
        """Whether the test stands between the person and real work no longer."""
        return self.state in ("not_required", "qualified")


@dataclass(frozen=True)
class Question:
    """One question of a test: the item as an annotator sees it (never its answer)."""

    number: int
    external_id: str
    text: str
    tags: list[str]
    rules: list[tuple[str, str]]
    value: Any = None


@dataclass(frozen=True)
class ReviewRow:
    """A wrong answer of a graded attempt, with the right one and why."""

    external_id: str
    text: str
    your_value: Any
    correct_value: Any
    explanation: str


@dataclass(frozen=True)
class QualificationResult:
    """A graded attempt: the score, whether it passed, when a retry opens, what was wrong."""

    attempt_id: int
    passed: bool
    n_correct: int
    n_questions: int
    retry_after: datetime | None
    review: list[ReviewRow] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """The share of right answers."""
        return self.n_correct / self.n_questions if self.n_questions else 0.0


@dataclass(frozen=True)
class PersonResult:
    """A person's standing for the lead's page: attempts, last score, qualified or waiting."""

    user_id: int
    name: str
    attempts: int
    last_correct: int | None
    last_questions: int | None
    qualified_at: datetime | None
    retry_after: datetime | None
    in_progress: bool


def available_questions(session: Session, project: Project) -> int:
    """How many live ``qualification`` gold items the project has."""
    return int(
        session.scalar(
            select(func.count()).where(
                GoldItem.project_id == project.id,
                GoldItem.purpose == "qualification",
                GoldItem.retired_at.is_(None),
            )
        )
        or 0
    )


def _attempts(session: Session, project: Project, user: User) -> list[QualificationAttempt]:
    return list(
        session.scalars(
            select(QualificationAttempt)
            .where(
                QualificationAttempt.project_id == project.id,
                QualificationAttempt.user_id == user.id,
            )
            .order_by(QualificationAttempt.started_at.desc(), QualificationAttempt.id.desc())
        )
    )


def retry_after(project: Project, attempt: QualificationAttempt) -> datetime | None:
    """When the next attempt may start after this failed one (None if it passed or is open)."""
    if attempt.passed or attempt.finished_at is None:
        return None
    return attempt.finished_at + timedelta(minutes=project.qualification_cooldown_minutes)


def qualification_status(
    session: Session, project: Project, user: User, *, now: datetime | None = None
) -> QualificationStatus:
    """not_required, qualified, in_progress (an open attempt), cooling_down (until a retry
    opens) or needs_test (``test_ready`` False while there is no qualification gold)."""
    if not project.requires_qualification or user.role in ("lead", "admin"):
        return QualificationStatus("not_required")
    membership = membership_of(session, user.id, project.id)
    if membership is not None and membership.qualified_at is not None:
        return QualificationStatus("qualified")
    attempts = _attempts(session, project, user)
    open_attempt = next((a for a in attempts if a.finished_at is None), None)
    if open_attempt is not None:
        return QualificationStatus("in_progress", attempt_id=open_attempt.id)
    now = now or utcnow()
    last = next(iter(attempts), None)
    until = retry_after(project, last) if last is not None else None
    if until is not None and now < until:
        return QualificationStatus("cooling_down", until=until)
    return QualificationStatus("needs_test", test_ready=available_questions(session, project) > 0)


def start_or_resume_attempt(
    session: Session,
    project: Project,
    user: User,
    *,
    now: datetime | None = None,
    draw: random.Random | None = None,
) -> QualificationAttempt:
    """The person's open attempt, or a new one with its questions drawn. Conflict when they
    need no test, must wait for a retry, or the project has no qualification gold yet."""
    now = now or utcnow()
    if not is_sqlite(session):  # one person's concurrent starts make one attempt, not two
        session.execute(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
    status = qualification_status(session, project, user, now=now)
    if status.state == "in_progress":
        attempt = session.get(QualificationAttempt, status.attempt_id)
        assert attempt is not None  # just found
        return attempt
    if status.state == "cooling_down":
        assert status.until is not None
        raise Conflict(
            f"you can retry the test after {status.until:%Y-%m-%d %H:%M} UTC",
            code="qualification_cooling_down",
            details={"retry_after": status.until.isoformat()},
        )
    if status.state != "needs_test":
        raise Conflict("you need no qualification test here", code="qualification_not_needed")
    pool = list(
        session.scalars(
            select(GoldItem.id)
            .where(
                GoldItem.project_id == project.id,
                GoldItem.purpose == "qualification",
                GoldItem.retired_at.is_(None),
            )
            .order_by(GoldItem.id)
        )
    )
    if not pool:
        raise Conflict(
            "the qualification test is not ready yet; the project's leads have been told",
            code="qualification_not_ready",
        )
    chosen = (draw or rng).sample(pool, min(project.qualification_size, len(pool)))
    attempt = QualificationAttempt(
        project_id=project.id, user_id=user.id, started_at=now, n_questions=len(chosen)
    )
    session.add(attempt)
    session.flush()
    session.add_all(QualificationAnswer(attempt_id=attempt.id, gold_item_id=g) for g in chosen)
    session.flush()
    record_event(
        session,
        "qualification.started",
        actor_id=user.id,
        project_id=project.id,
        subject_type="qualification_attempt",
        subject_id=attempt.id,
        n_questions=len(chosen),
    )
    return attempt


def own_attempt(
    session: Session, project: Project, user: User, attempt_id: int
) -> QualificationAttempt:
    """The person's own attempt in this project, or NotFound."""
    attempt = session.get(QualificationAttempt, attempt_id)
    if attempt is None or attempt.user_id != user.id or attempt.project_id != project.id:
        raise NotFound(f"no qualification attempt {attempt_id}")
    return attempt


def _rows(
    session: Session, attempt: QualificationAttempt
) -> list[tuple[QualificationAnswer, GoldItem, Item]]:
    return [
        (answer, gold, item)
        for answer, gold, item in session.execute(
            select(QualificationAnswer, GoldItem, Item)
            .join(GoldItem, GoldItem.id == QualificationAnswer.gold_item_id)
            .join(Item, Item.id == GoldItem.item_id)
            .where(QualificationAnswer.attempt_id == attempt.id)
            .order_by(QualificationAnswer.id)
        )
    ]


def attempt_questions(session: Session, attempt: QualificationAttempt) -> list[Question]:
    """The attempt's questions in order, each with its tags and the current rules for them."""
    project = session.get(Project, attempt.project_id)
    assert project is not None  # the foreign key guarantees it
    spec = current_spec(session, project)
    rows = _rows(session, attempt)
    tags: dict[int, dict[int, str]] = defaultdict(dict)
    for item_id, tag_id, name in session.execute(
        select(ItemTag.item_id, Tag.id, Tag.name)
        .join(Tag, Tag.id == ItemTag.tag_id)
        .where(ItemTag.item_id.in_([item.id for _, _, item in rows]))
    ):
        tags[item_id][tag_id] = name
    questions = []
    for number, (answer, _, item) in enumerate(rows, start=1):
        mine = tags[item.id]
        rules = sorted((mine[r.tag_id], r.text) for r in spec.rules if r.tag_id in mine)
        questions.append(
            Question(
                number, item.external_id, item.text, sorted(mine.values()), rules, answer.value
            )
        )
    return questions


def attempt_result(session: Session, attempt: QualificationAttempt) -> QualificationResult:
    """The result of a graded attempt, with the right answer and explanation of each miss."""
    if attempt.finished_at is None:
        raise Conflict("this test is not finished yet", code="qualification_in_progress")
    project = session.get(Project, attempt.project_id)
    assert project is not None  # the foreign key guarantees it
    review = [
        ReviewRow(item.external_id, item.text, answer.value, gold.value, gold.explanation)
        for answer, gold, item in _rows(session, attempt)
        if not answer.correct
    ]
    return QualificationResult(
        attempt.id,
        bool(attempt.passed),
        attempt.n_correct,
        attempt.n_questions,
        retry_after(project, attempt),
        review,
    )


def grade_attempt(
    session: Session,
    attempt: QualificationAttempt,
    answers: dict[str, Any],
    *,
    now: datetime | None = None,
) -> QualificationResult:
    """Grade an open attempt from ``{external_id: value}``: every question needs an answer
    valid under the current spec (InvalidInput naming each item otherwise, nothing recorded).
    Passing records the membership's ``qualified_at``; failing starts the cool-down."""
    now = now or utcnow()
    if attempt.finished_at is not None:
        raise Conflict("this test was already graded", code="qualification_finished")
    project = session.get(Project, attempt.project_id)
    assert project is not None  # the foreign key guarantees it
    spec = current_spec(session, project)
    rows = _rows(session, attempt)
    asked = {item.external_id for _, _, item in rows}
    errors = {key: "not a question of this test" for key in answers if key not in asked}
    values: dict[str, Any] = {}
    for _, _, item in rows:
        if answers.get(item.external_id) in (None, "", []):
            errors[item.external_id] = "no answer"
            continue
        try:
            values[item.external_id] = validate_value(
                project.kind, spec, answers[item.external_id], field=item.external_id
            )
        except InvalidInput as exc:
            errors.update(exc.field_errors)
    if errors:
        named = ", ".join(sorted(errors))
        raise InvalidInput(
            f"the test was not graded; check the answers to {named}", field_errors=errors
        )
    step = scale_step(project, spec)
    for answer, gold, item in rows:
        answer.value = values[item.external_id]
        answer.correct = value_matches(project.kind, gold.value, answer.value, step)
    attempt.n_questions = len(rows)
    attempt.n_correct = sum(bool(answer.correct) for answer, _, _ in rows)
    attempt.finished_at = now
    attempt.passed = attempt.n_correct >= project.qualification_pass * len(rows) - 1e-9
    if attempt.passed:
        user = session.get(User, attempt.user_id)
        assert user is not None  # the foreign key guarantees it
        membership = membership_of(session, user.id, project.id)
        if membership is not None:
            membership.qualified_at = now
    session.flush()
    record_event(
        session,
        "qualification.graded",
        actor_id=attempt.user_id,
        project_id=project.id,
        subject_type="qualification_attempt",
        subject_id=attempt.id,
        passed=attempt.passed,
        n_correct=attempt.n_correct,
        n_questions=attempt.n_questions,
    )
    return attempt_result(session, attempt)


def qualification_results(session: Session, project: Project) -> list[PersonResult]:
    """Each person who took the test, with their attempts, last score and standing, by name."""
    attempts = session.scalars(
        select(QualificationAttempt)
        .where(QualificationAttempt.project_id == project.id)
        .order_by(QualificationAttempt.started_at, QualificationAttempt.id)
    ).all()
    by_user: dict[int, list[QualificationAttempt]] = defaultdict(list)
    for attempt in attempts:
        by_user[attempt.user_id].append(attempt)
    if not by_user:
        return []
    people = session.execute(
        select(User, Membership.qualified_at)
        .outerjoin(
            Membership,
            (Membership.user_id == User.id) & (Membership.project_id == project.id),
        )
        .where(User.id.in_(sorted(by_user)))
    ).all()
    results = []
    for user, qualified_at in people:
        mine = by_user[user.id]
        finished = [a for a in mine if a.finished_at is not None]
        last = finished[-1] if finished else None
        results.append(
            PersonResult(
                user.id,
                user.display_name,
                len(mine),
                last.n_correct if last else None,
                last.n_questions if last else None,
                qualified_at,
                retry_after(project, last) if last else None,
                any(a.finished_at is None for a in mine),
            )
        )
    return sorted(results, key=lambda r: (r.name, r.user_id))
