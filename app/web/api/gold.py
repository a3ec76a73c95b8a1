"""Gold items and the qualification test through the JSON API.

Leads (``projects:read`` / ``projects:write``): ``GET/POST /projects/{slug}/gold`` lists gold or
imports rows ``[{external_id, value, explanation?, purpose?}]`` (all-or-nothing, errors name the
row), ``DELETE /projects/{slug}/gold/{external_id}`` retires one, and
``POST /projects/{slug}/items/{external_id}/promote-to-gold`` makes an adjudicated item gold.

Annotators (``tasks:work``): ``GET /projects/{slug}/qualification`` tells where they stand and,
while a test is open, its questions (never answers, never which items are gold otherwise);
``POST .../qualification/start`` opens (or resumes) a test; ``POST .../qualification`` with
``{answers: [{external_id, value}]}`` grades it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Response
from sqlalchemy.orm import Session

from app.db.models import Item, Project, User
from app.domain.errors import Conflict, InvalidInput
from app.domain.gold import GoldInput, import_gold, list_gold, promote_adjudicated, retire_gold
from app.domain.items import get_item
from app.domain.projects import current_spec
from app.domain.qualification import (
    QualificationResult,
    attempt_questions,
    attempt_result,
    grade_attempt,
    own_attempt,
    qualification_status,
    start_or_resume_attempt,
)
from app.web.api.projects import project_for, require_lead
from app.web.auth import token_scope
from app.web.deps import Db, Grant

REFUSAL = "gold items are for leads and admins"
WORK = token_scope("tasks:work")


@dataclass
class PromoteIn:
    """``POST .../promote-to-gold``: what the gold is for, and why (default: the rationale)."""

    purpose: str = "check"
    explanation: str = ""


@dataclass
class AnswerIn:
    """One answer of the qualification test."""

    external_id: str
    value: Any = None


@dataclass
class AnswersIn:
    """``POST .../qualification``: an answer to every question of the open test."""

    answers: list[AnswerIn] = field(default_factory=list)


def gold_json(gold: Any, item: Item) -> dict[str, Any]:
    """One gold item as the lead sees it."""
    return {
        "external_id": item.external_id,
        "text": item.text,
        "value": gold.value,
        "explanation": gold.explanation,
        "purpose": gold.purpose,
        "source": gold.source,
        "created_at": gold.created_at.isoformat(),
    }


def _rows(body: Any) -> list[GoldInput]:
    """The request body as gold rows, naming the first malformed ones."""
    if not isinstance(body, list):
        raise InvalidInput("send a JSON array of gold rows", field_errors={"body": "not an array"})
    rows, errors = [], {}
    for i, raw in enumerate(body):
        if not isinstance(raw, dict) or not isinstance(raw.get("external_id"), str):
            errors[f"rows[{i}].external_id"] = "each row is an object with an external_id"
            continue
        explanation, purpose = raw.get("explanation", ""), raw.get("purpose", "check")
        if not isinstance(explanation, str):
            errors[f"rows[{i}].explanation"] = "text"
        if not isinstance(purpose, str):
            errors[f"rows[{i}].purpose"] = "qualification or check"
        rows.append(GoldInput(raw["external_id"], raw.get("value"), str(explanation), str(purpose)))
    if errors:
        first = next(iter(errors))
        raise InvalidInput(f"no gold was saved: {first}: {errors[first]}", field_errors=errors)
    return rows


def _result_json(result: QualificationResult) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "n_correct": result.n_correct,
        "n_questions": result.n_questions,
        "accuracy": result.accuracy,
        "retry_after": result.retry_after.isoformat() if result.retry_after else None,
        "review": [
            {
                "external_id": r.external_id,
                "your_value": r.your_value,
                "correct_value": r.correct_value,
                "explanation": r.explanation,
            }
            for r in result.review
        ],
    }


def qualification_json(db: Session, project: Project, user: User) -> dict[str, Any]:
    """Where the person stands; with an open test, its questions and the label choices."""
    status = qualification_status(db, project, user)
    spec = current_spec(db, project)
    body: dict[str, Any] = {
        "status": status.state,
        "retry_after": status.until.isoformat() if status.until else None,
        "test_ready": status.test_ready,
        "pass_share": project.qualification_pass,
        "kind": project.kind,
        "labels": [
            {"key": lb.key, "name": lb.name, "description": lb.description} for lb in spec.labels
        ],
        "scale": (
            {"min": spec.scale_min, "max": spec.scale_max, "step": spec.scale_step}
            if project.kind == "numeric"
            else None
        ),
        "questions": [],
    }
    if status.attempt_id is not None:
        attempt = own_attempt(db, project, user, status.attempt_id)
        body["questions"] = [
            {
                "external_id": q.external_id,
                "text": q.text,
                "tags": q.tags,
                "rules": [{"tag": tag, "text": text} for tag, text in q.rules],
            }
            for q in attempt_questions(db, attempt)
        ]
    return body


class GoldApi(Controller):
    """Gold items (leads) and the qualification test (annotators)."""

    path = "/api/v1/projects/{slug:str}"
    tags = ["gold"]
    security = [{"BearerToken": []}]

    @get("/gold", opt=token_scope("projects:read"), sync_to_thread=True)
    def gold(self, db: Db, grant: Grant, slug: FromPath[str]) -> dict[str, Any]:
        """The project's live gold items with answers and explanations."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        return {"gold": [gold_json(g, item) for g, item in list_gold(db, project)]}

    @post("/gold", opt=token_scope("projects:write"), sync_to_thread=True)
    def import_rows(
        self, db: Db, grant: Grant, slug: FromPath[str], data: JSONBody[Any]
    ) -> Response[dict[str, int]]:
        """Make items gold: 201 ``{created, unchanged}`` (200 when nothing new), 422 naming
        the row of any bad value, unknown item or clash, and nothing saved."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        result = import_gold(db, project, _rows(data), actor=grant.user)
        db.commit()
        return Response(
            {"created": result.created, "unchanged": result.unchanged},
            status_code=201 if result.created else 200,
        )

    @delete("/gold/{external_id:str}", opt=token_scope("projects:write"), sync_to_thread=True)
    def retire(self, db: Db, grant: Grant, slug: FromPath[str], external_id: FromPath[str]) -> None:
        """Retire an item's gold (204): it goes back to normal work."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        retire_gold(db, project, external_id, actor=grant.user)
        db.commit()

    @post(
        "/items/{external_id:str}/promote-to-gold",
        opt=token_scope("projects:write"),
        sync_to_thread=True,
        status_code=201,
    )
    def promote(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        external_id: FromPath[str],
        data: JSONBody[PromoteIn | None] = None,
    ) -> dict[str, Any]:
        """Make an adjudicated item gold (409 ``no_ruling`` without a ruling)."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        item = get_item(db, project, external_id)
        body = data or PromoteIn()
        gold = promote_adjudicated(
            db,
            project,
            item,
            purpose=body.purpose,
            explanation=body.explanation,
            actor=grant.user,
        )
        db.commit()
        return gold_json(gold, item)

    @get("/qualification", opt=WORK, sync_to_thread=True)
    def qualification(self, db: Db, grant: Grant, slug: FromPath[str]) -> dict[str, Any]:
        """The person's qualification status and, while a test is open, its questions."""
        project = project_for(db, grant, slug)
        return qualification_json(db, project, grant.user)

    @post("/qualification/start", opt=WORK, sync_to_thread=True, status_code=200)
    def start(self, db: Db, grant: Grant, slug: FromPath[str]) -> dict[str, Any]:
        """Open a test (or resume the open one): 409 while cooling down, qualified, or when the
        project has no qualification gold yet."""
        project = project_for(db, grant, slug)
        start_or_resume_attempt(db, project, grant.user)
        db.commit()
        return qualification_json(db, project, grant.user)

    @post("/qualification", opt=WORK, sync_to_thread=True, status_code=200)
    def grade(
        self, db: Db, grant: Grant, slug: FromPath[str], data: JSONBody[AnswersIn]
    ) -> dict[str, Any]:
        """Grade the open test: the score, whether it passed, when a retry opens, and for each
        wrong answer the right one with its explanation. 422 naming any item answered badly."""
        project = project_for(db, grant, slug)
        status = qualification_status(db, project, grant.user)
        if status.attempt_id is None:
            raise Conflict(
                "no open qualification test; start one first", code="qualification_not_started"
            )
        answers: dict[str, Any] = {}
        for answer in data.answers:
            if answer.external_id in answers:
                raise InvalidInput(
                    f"{answer.external_id!r} is answered twice",
                    field_errors={answer.external_id: "answered twice"},
                )
            answers[answer.external_id] = answer.value
        attempt = own_attempt(db, project, grant.user, status.attempt_id)
        result = grade_attempt(db, attempt, answers)
        db.commit()
        return _result_json(result)

    @get("/qualification/attempts/{attempt_id:int}", opt=WORK, sync_to_thread=True)
    def attempt(
        self, db: Db, grant: Grant, slug: FromPath[str], attempt_id: FromPath[int]
    ) -> dict[str, Any]:
        """The result of one of the person's own graded attempts."""
        project = project_for(db, grant, slug)
        return _result_json(attempt_result(db, own_attempt(db, project, grant.user, attempt_id)))
