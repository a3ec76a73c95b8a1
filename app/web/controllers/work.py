"""``/projects/{slug}/work``: the annotator's labeling page.

One swappable region (``#workspace``) holds the whole working state: the task with its form, the
progress strip, and notices (submitted with undo, lease expired, nothing left, acknowledge the new
spec). Every action is a plain form POST answered with a redirect (works without JavaScript;
reload and back never resubmit); with htmx the same POST returns the region for the next task
and pushes its URL. A task id that is not the viewer's own lease in this project is a 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Annotation, Assignment, Project
from app.domain.acknowledgements import acknowledge_spec, pending_acknowledgement
from app.domain.annotations import submit_assignment
from app.domain.assignment import (
    annotator_assignment,
    lease_next_assignment,
    skip_assignment,
)
from app.domain.campaigns import previous_published
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.labeling import (
    UNDO_WINDOW,
    annotator_progress,
    projects_with_work,
    renew_lease,
    undo_submission,
    undoable_submission,
)
from app.domain.projects import current_spec, tag_names
from app.domain.specs import diff_specs
from app.domain.task_view import describe_task, held_task, is_live
from app.domain.work_gate import GATE_CODES, work_block
from app.web.auth import ANY_USER, Viewer
from app.web.controllers.forms import FormData, field
from app.web.controllers.projects import reachable_project
from app.web.controllers.work_state import (
    NOTICES,
    Workspace,
    closed_notice,
    duration_ms,
    hotkeys,
    parse_label_form,
    task_workspace,
)
from app.web.deps import CurrentViewer, Db
from app.web.htmx import is_htmx

PAGE = "work/page.html"
REGION = "work/_workspace.html"


def _own_task(db: Session, viewer: Viewer, project: Project, task_id: int) -> Assignment:
    assignment = annotator_assignment(db, task_id, viewer.user)
    if assignment.project_id != project.id:
        raise NotFound(f"no task {task_id}")
    return assignment


class WorkController(Controller):
    """The labeling page and its actions."""

    path = "/projects/{slug:str}/work"

    # --- rendering -------------------------------------------------------------------------

    def _context(
        self, db: Session, viewer: Viewer, project: Project, ws: Workspace
    ) -> dict[str, Any]:
        spec = current_spec(db, project)
        return {
            "viewer": viewer,
            "project": project,
            "spec": spec,
            "labels": hotkeys(spec),
            "all_tags": sorted(tag_names(db, project).values()),
            "ws": ws,
            "progress": annotator_progress(db, project, viewer.user, exact=False),
            "undo_seconds": int(UNDO_WINDOW.total_seconds()),
        }

    def _render(
        self,
        request: Request[Any, Any, Any],
        db: Session,
        viewer: Viewer,
        project: Project,
        ws: Workspace,
        *,
        status_code: int = 200,
        push_url: str | None = None,
        commit: bool = False,
    ) -> Template:
        """The region (htmx) or the page. With ``commit`` the context is read first, inside the
        transaction that made the change, and then committed: one transaction, one write lock."""
        headers = {"Vary": "HX-Request"}
        if push_url and is_htmx(request):
            headers["HX-Push-Url"] = push_url
        context = self._context(db, viewer, project, ws)
        if commit:
            db.commit()
        return Template(
            REGION if is_htmx(request) else PAGE,
            context=context,
            status_code=status_code,
            headers=headers,
        )

    def _idle(self, db: Session, viewer: Viewer, project: Project) -> Workspace:
        """The region when the viewer holds no task: acknowledge, start, or nothing left."""
        pending = pending_acknowledgement(db, project, viewer.user)
        if pending is not None:
            before = previous_published(db, pending)
            diff = diff_specs(db, before, pending) if before is not None else None
            return Workspace("acknowledge", pending_spec=pending, pending_diff=diff)
        blocked = work_block(db, project, viewer.user, utcnow())
        if blocked is not None:
            return Workspace("blocked", blocked=blocked)
        if annotator_progress(db, project, viewer.user).remaining:
            return Workspace("start")
        return Workspace(
            "empty", other_projects=projects_with_work(db, viewer.user, besides=project)
        )

    def _next(
        self,
        request: Request[Any, Any, Any],
        db: Session,
        viewer: Viewer,
        project: Project,
        *,
        undo: Annotation | None = None,
        notice: str | None = None,
    ) -> Response[Any]:
        """Lease the next item and show it (htmx) or redirect to it (plain forms)."""
        try:
            assignment = lease_next_assignment(db, project, viewer.user)
        except Conflict as exc:
            if exc.code != "spec_acknowledgement_required" and exc.code not in GATE_CODES:
                raise
            db.rollback()
            if exc.code == "member_paused":  # just now, by grading a gold check: say so
                if not is_htmx(request):
                    return Redirect("/", status_code=303)  # the home page says why
                ws = Workspace("blocked", blocked=exc)
                return self._render(request, db, viewer, project, ws, commit=True)
            assignment = None
        base = f"/projects/{project.slug}/work"
        target = f"{base}/{assignment.id}" if assignment else base
        if not is_htmx(request):
            db.commit()
            query: dict[str, int | str] = {"undo": undo.id} if undo is not None else {}
            if notice:
                query["notice"] = notice
            return Redirect(target + (f"?{urlencode(query)}" if query else ""), status_code=303)
        ws = (
            task_workspace(db, assignment, undo=undo)
            if assignment
            else self._idle(db, viewer, project)
        )
        ws.notice = NOTICES.get(notice or "")
        if assignment is None:
            ws.undo = undo
        return self._render(request, db, viewer, project, ws, push_url=target, commit=True)

    # --- pages -----------------------------------------------------------------------------

    @get("/", opt=ANY_USER, sync_to_thread=True)
    def start(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, slug: FromPath[str]
    ) -> Response[Any]:
        """The viewer's live task if they hold one; otherwise start, acknowledge or done."""
        project = reachable_project(db, viewer, slug)
        live = held_task(db, project, viewer.user)
        if live is not None:
            return Redirect(f"/projects/{slug}/work/{live}", status_code=303)
        return self._render(request, db, viewer, project, self._idle(db, viewer, project))

    @get("/{task_id:int}", opt=ANY_USER, sync_to_thread=True)
    def task(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        task_id: FromPath[int],
        undo: FromQuery[int | None] = None,
        notice: FromQuery[str | None] = None,
    ) -> Template:
        """One of the viewer's tasks: the form while the lease is live, else what became of it.

        ``undo`` and ``notice`` carry what the htmx answer would have shown to the page a plain
        form post (or a key pressed before htmx took over the new form) is redirected to."""
        project = reachable_project(db, viewer, slug)
        assignment = _own_task(db, viewer, project, task_id)
        recent = undoable_submission(db, undo, viewer.user)
        if is_live(assignment):
            ws = task_workspace(db, assignment, undo=recent, notice=NOTICES.get(notice or ""))
        else:
            view = describe_task(db, assignment)
            ws = Workspace("closed", task=view, notice=closed_notice(assignment), undo=recent)
        return self._render(request, db, viewer, project, ws)

    # --- actions ---------------------------------------------------------------------------

    @post("/next", opt=ANY_USER, sync_to_thread=True)
    def next_task(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, slug: FromPath[str]
    ) -> Response[Any]:
        """Lease the next item (or hand back the one already held)."""
        project = reachable_project(db, viewer, slug)
        return self._next(request, db, viewer, project)

    @post("/{task_id:int}/submit", opt=ANY_USER, sync_to_thread=True)
    def submit(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        task_id: FromPath[int],
        data: FormData,
    ) -> Response[Any]:
        """Record the label; then the next item, with an undo offer for this one."""
        project = reachable_project(db, viewer, slug)
        assignment = _own_task(db, viewer, project, task_id)
        value, form, errors = parse_label_form(project, data)
        try:
            if errors:
                raise InvalidInput("the annotation was not recorded", field_errors=errors)
            annotation = submit_assignment(
                db,
                task_id,
                viewer.user,
                value=value,
                tags=form.tags,
                unclear=form.unclear,
                comment=form.comment,
                duration_ms=duration_ms(data),
                source="browser",
            )
        except InvalidInput as exc:
            db.rollback()
            ws = Workspace(
                "task", task=describe_task(db, assignment), form=form, errors=exc.field_errors
            )
            return self._render(request, db, viewer, project, ws, status_code=422)
        except Conflict as exc:
            return self._lost_lease(request, db, viewer, project, assignment, exc)
        db.commit()
        return self._next(request, db, viewer, project, undo=annotation)

    @post("/{task_id:int}/skip", opt=ANY_USER, sync_to_thread=True)
    def skip(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        task_id: FromPath[int],
        data: FormData,
    ) -> Response[Any]:
        """Skip the item (optional reason); it goes to someone else."""
        project = reachable_project(db, viewer, slug)
        assignment = _own_task(db, viewer, project, task_id)
        try:
            skip_assignment(db, task_id, viewer.user, reason=field(data, "reason"))
        except Conflict as exc:
            return self._lost_lease(request, db, viewer, project, assignment, exc)
        db.commit()
        return self._next(request, db, viewer, project, notice="skipped")

    @post("/{task_id:int}/renew", opt=ANY_USER, sync_to_thread=True)
    def renew(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        task_id: FromPath[int],
    ) -> Response[Any]:
        """Keep the lease alive while the annotator works; answers with the lease timer."""
        project = reachable_project(db, viewer, slug)
        _own_task(db, viewer, project, task_id)
        try:
            assignment = renew_lease(db, task_id, viewer.user)
        except Conflict:
            db.rollback()
            assignment = _own_task(db, viewer, project, task_id)
        db.commit()
        if not is_htmx(request):
            return Redirect(f"/projects/{slug}/work/{task_id}", status_code=303)
        return Template("work/_lease.html", context={"project": project, "assignment": assignment})

    @post("/undo/{annotation_id:int}", opt=ANY_USER, sync_to_thread=True)
    def undo(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        annotation_id: FromPath[int],
    ) -> Response[Any]:
        """Take back the last submission: the item comes back to the viewer to label again."""
        project = reachable_project(db, viewer, slug)
        try:
            again = undo_submission(db, annotation_id, viewer.user)
        except Conflict as exc:
            db.rollback()
            ws = self._idle(db, viewer, project)
            ws.notice = f"{exc.message[0].upper()}{exc.message[1:]} (the undo window is over)."
            return self._render(request, db, viewer, project, ws)
        if again.project_id != project.id:
            raise NotFound(f"no submission {annotation_id} of yours in this project")
        target = f"/projects/{slug}/work/{again.id}"
        if not is_htmx(request):
            db.commit()
            return Redirect(f"{target}?notice=undone", status_code=303)
        ws = task_workspace(db, again, notice=NOTICES["undone"])
        return self._render(request, db, viewer, project, ws, push_url=target, commit=True)

    @post("/acknowledge/{number:int}", opt=ANY_USER, sync_to_thread=True)
    def acknowledge(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        number: FromPath[int],
    ) -> Response[Any]:
        """Confirm having read what the new spec version changed, then continue labeling."""
        project = reachable_project(db, viewer, slug)
        acknowledge_spec(db, project, number, viewer.user)
        db.commit()
        return self._next(request, db, viewer, project)

    def _lost_lease(
        self,
        request: Request[Any, Any, Any],
        db: Session,
        viewer: Viewer,
        project: Project,
        assignment: Assignment,
        exc: Conflict,
    ) -> Response[Any]:
        """The lease ran out or the task was already done: say so, record nothing, offer next.

        htmx swaps only 2xx and 422 answers, so the region comes back as 200 there; a plain
        form post gets the page with 409.
        """
        db.rollback()
        if exc.code != "lease_expired":
            raise exc
        fresh = annotator_assignment(db, assignment.id, viewer.user)
        ws = Workspace(
            "closed",
            task=describe_task(db, fresh),
            notice=f"Nothing was recorded: {exc.message}.",
        )
        status = 200 if is_htmx(request) else 409
        return self._render(request, db, viewer, project, ws, status_code=status)
