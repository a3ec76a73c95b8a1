"""Gold items for leads, and the qualification test for annotators.

``/projects/{slug}/gold`` (leads): the gold items with answers and explanations, a form to add
one, retire buttons, qualification results per person and gold-check accuracy per annotator and
per tag. The item page's "Promote to gold" form posts here too.

``/projects/{slug}/qualification`` (members): where the person stands; the test as one form
(each question's text, the rules for its tags, and the choices of the task kind); its result
page shows a pass with the way to work, or for a fail each wrong answer's right label and
explanation and when a retry opens. Nothing on these pages ever says which items are check gold.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Response, Template
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Project
from app.db.models.workforce import GOLD_PURPOSES
from app.domain.errors import Conflict, InvalidInput
from app.domain.gold import add_gold, gold_accuracy, list_gold, promote_adjudicated, retire_gold
from app.domain.items import get_item
from app.domain.projects import current_spec
from app.domain.qualification import (
    attempt_questions,
    attempt_result,
    available_questions,
    grade_attempt,
    own_attempt,
    qualification_results,
    qualification_status,
    start_or_resume_attempt,
)
from app.web.auth import ANY_USER, LEAD, Viewer
from app.web.controllers.forms import FormData, field, task_value, text_block
from app.web.controllers.projects import reachable_project
from app.web.deps import CurrentViewer, Db
from app.web.htmx import page_or_partial, redirect_after_post


def _gold_context(db: Session, viewer: Viewer, project: Project, **extra: Any) -> dict[str, Any]:
    people, tags = gold_accuracy(db, project)
    context = {
        "viewer": viewer,
        "project": project,
        "spec": current_spec(db, project),
        "gold": list_gold(db, project),
        "purposes": GOLD_PURPOSES,
        "results": qualification_results(db, project),
        "n_questions": available_questions(db, project),
        "accuracy": people,
        "tag_accuracy": tags,
        "now": utcnow(),
        "errors": {},
        "form": {"external_id": "", "value": None, "explanation": "", "purpose": "check"},
        "is_lead": True,
    }
    context.update(extra)
    return context


class GoldPagesController(Controller):
    """Gold items, qualification results and gold accuracy (leads and admins)."""

    path = "/projects/{slug:str}/gold"
    opt = LEAD

    @get("/", sync_to_thread=True)
    def gold(self, db: Db, viewer: CurrentViewer, slug: FromPath[str]) -> Template:
        """The gold items, the add form, qualification results and accuracy."""
        project = reachable_project(db, viewer, slug)
        return Template("gold/page.html", context=_gold_context(db, viewer, project))

    @post("/", sync_to_thread=True)
    def add(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        """Add a gold item; a bad field re-renders the form naming it (422)."""
        project = reachable_project(db, viewer, slug)
        form = {
            "external_id": field(data, "external_id"),
            "value": task_value(project, data, "value"),
            "explanation": text_block(data, "explanation"),
            "purpose": field(data, "purpose", "check"),
        }
        try:
            add_gold(db, project, actor=viewer.user, **form)
        except (InvalidInput, Conflict) as exc:
            db.rollback()
            project = reachable_project(db, viewer, slug)
            errors = (
                exc.field_errors if isinstance(exc, InvalidInput) else {"external_id": exc.message}
            )
            context = _gold_context(db, viewer, project, errors=errors, form=form)
            return page_or_partial(
                request, "gold/page.html", "gold/_form.html", context, status_code=422
            )
        db.commit()
        return redirect_after_post(request, f"/projects/{slug}/gold/")

    @post("/{external_id:str}/retire", sync_to_thread=True)
    def retire(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        external_id: FromPath[str],
    ) -> Response[Any]:
        """Retire a gold item: it goes back to normal work."""
        project = reachable_project(db, viewer, slug)
        retire_gold(db, project, external_id, actor=viewer.user)
        db.commit()
        return redirect_after_post(request, f"/projects/{slug}/gold/")

    @post("/{external_id:str}/promote", sync_to_thread=True)
    def promote(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        external_id: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        """Make an adjudicated item gold (from the item page)."""
        project = reachable_project(db, viewer, slug)
        promote_adjudicated(
            db,
            project,
            get_item(db, project, external_id),
            purpose=field(data, "purpose", "check"),
            explanation=text_block(data, "explanation"),
            actor=viewer.user,
        )
        db.commit()
        return redirect_after_post(request, f"/projects/{slug}/gold/")


def _test_context(db: Session, viewer: Viewer, project: Project, **extra: Any) -> dict[str, Any]:
    status = qualification_status(db, project, viewer.user)
    questions = []
    if status.attempt_id is not None:
        questions = attempt_questions(db, own_attempt(db, project, viewer.user, status.attempt_id))
    context = {
        "viewer": viewer,
        "project": project,
        "spec": current_spec(db, project),
        "status": status,
        "questions": questions,
        "answers": {},
        "errors": {},
    }
    context.update(extra)
    return context


class QualificationPagesController(Controller):
    """The qualification test, for members of the project."""

    path = "/projects/{slug:str}/qualification"
    opt = ANY_USER

    @get("/", sync_to_thread=True)
    def page(self, db: Db, viewer: CurrentViewer, slug: FromPath[str]) -> Template:
        """Where the person stands, and the open test as one form."""
        project = reachable_project(db, viewer, slug)
        return Template("qualification/page.html", context=_test_context(db, viewer, project))

    @post("/start", sync_to_thread=True)
    def start(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, slug: FromPath[str]
    ) -> Response[Any]:
        """Open the test (or resume the open one) and show it."""
        project = reachable_project(db, viewer, slug)
        start_or_resume_attempt(db, project, viewer.user)
        db.commit()
        return redirect_after_post(request, f"/projects/{slug}/qualification/")

    @post("/", sync_to_thread=True)
    def submit(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        """Grade the open test and show the result; bad answers re-render the test (422)."""
        project = reachable_project(db, viewer, slug)
        status = qualification_status(db, project, viewer.user)
        if status.attempt_id is None:
            raise Conflict("no open test; start one first", code="qualification_not_started")
        attempt = own_attempt(db, project, viewer.user, status.attempt_id)
        questions = attempt_questions(db, attempt)
        answers = {q.external_id: task_value(project, data, f"q{q.number}") for q in questions}
        try:
            grade_attempt(db, attempt, answers)
        except InvalidInput as exc:
            db.rollback()
            project = reachable_project(db, viewer, slug)
            context = _test_context(db, viewer, project, answers=answers, errors=exc.field_errors)
            return page_or_partial(
                request,
                "qualification/page.html",
                "qualification/_test.html",
                context,
                status_code=422,
            )
        db.commit()
        return redirect_after_post(request, f"/projects/{slug}/qualification/attempts/{attempt.id}")

    @get("/attempts/{attempt_id:int}", sync_to_thread=True)
    def result(
        self, db: Db, viewer: CurrentViewer, slug: FromPath[str], attempt_id: FromPath[int]
    ) -> Template:
        """A graded attempt of the person's own: pass, or the misses explained."""
        project = reachable_project(db, viewer, slug)
        attempt = own_attempt(db, project, viewer.user, attempt_id)
        return Template(
            "qualification/result.html",
            context={
                "viewer": viewer,
                "project": project,
                "result": attempt_result(db, attempt),
                "status": qualification_status(db, project, viewer.user),
            },
        )
