"""``/projects/{slug}/people`` for leads, and the public ``/invites/{token}`` pages.

The people page lists the members (pause with a reason, resume, remove, a daily quota each),
invites someone (the link is shown once, right after), lists the invites with their status,
and edits the project's workforce rules. Every form posts plainly and redirects back, and with
htmx swaps just its region.

Opening an invite link needs no login: it shows the project and the email and asks for a name
and a password; accepting logs the person in with a fresh session and opens the project.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template
from sqlalchemy.orm import Session

from app.db.models import Project
from app.domain.errors import DomainError, InvalidInput
from app.domain.invites import (
    DEFAULT_VALID_DAYS,
    accept_invite,
    create_invite,
    find_invite,
    invited_account,
    list_invites,
    needs_login,
    revoke_invite,
)
from app.domain.roster import (
    list_roster,
    parse_quota,
    pause_member,
    remove_member,
    resume_member,
    set_member_quota,
)
from app.domain.workforce_rules import (
    WORKFORCE_RULES,
    set_workforce_rules,
    workforce_rules,
)
from app.web.auth import LEAD, PUBLIC, Viewer
from app.web.controllers.forms import FormData, field, field_errors
from app.web.controllers.projects import reachable_project
from app.web.controllers.session import logged_in
from app.web.deps import CurrentViewer, Db, MaybeViewer
from app.web.htmx import is_htmx, page_or_partial, redirect_after_post

PAGE = "people/page.html"


def _context(db: Session, viewer: Viewer, project: Project, **overrides: Any) -> dict[str, Any]:
    """Everything the people page shows; ``overrides`` replace parts (errors, a new link)."""
    context: dict[str, Any] = {
        "viewer": viewer,
        "project": project,
        "roster": list_roster(db, project),
        "invites": list_invites(db, project),
        "rules": WORKFORCE_RULES,
        "rule_values": workforce_rules(project),
        "rule_errors": {},
        "rules_saved": False,
        "invite_form": {"role": "annotator", "valid_days": DEFAULT_VALID_DAYS},
        "invite_errors": {},
        "invite_message": None,
        "created": None,
        "quota_errors": {},
        "roles": [("annotator", "Annotator")]
        + ([("lead", "Lead")] if viewer.user.role == "admin" else []),
    }
    context.update(overrides)
    return context


class PeoplePagesController(Controller):
    """Members, invites and workforce rules of a project."""

    path = "/projects/{slug:str}/people"
    opt = LEAD

    @get("/", sync_to_thread=True)
    def people(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, slug: FromPath[str]
    ) -> Template:
        """The whole page: members, invite form, invites and workforce rules."""
        project = reachable_project(db, viewer, slug)
        return Template(PAGE, context=_context(db, viewer, project))

    @get("/invites", sync_to_thread=True)
    def invites(self, db: Db, viewer: CurrentViewer, slug: FromPath[str]) -> Template:
        """The invites list (refreshed after an invite is created)."""
        project = reachable_project(db, viewer, slug)
        return Template("people/_invites.html", context=_context(db, viewer, project))

    @post("/invites", sync_to_thread=True)
    def invite(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        data: FormData,
    ) -> Template:
        """Create an invite and show its link once (the invites list refreshes itself)."""
        project = reachable_project(db, viewer, slug)
        form = {
            "email": field(data, "email"),
            "role": field(data, "role", "annotator"),
            "valid_days": field(data, "valid_days", str(DEFAULT_VALID_DAYS)),
        }
        try:
            days = int(form["valid_days"]) if form["valid_days"].isdigit() else -1
            invite, raw = create_invite(
                db, project, form["email"], form["role"], actor=viewer.user, valid_days=days
            )
        except DomainError as exc:
            context = _context(db, viewer, project, invite_form=form)
            context["invite_errors"] = field_errors(exc, "email")
            context["invite_message"] = exc.message
            # htmx swaps 422 only: a refusal (a member already, a lead invite) is input to fix.
            status = 422 if is_htmx(request) or isinstance(exc, InvalidInput) else exc.status_code
            return page_or_partial(
                request, PAGE, "people/_invite_form.html", context, status_code=status
            )
        db.commit()
        url = str(request.base_url).rstrip("/") + f"/invites/{raw}"
        context = _context(db, viewer, project, created={"invite": invite, "url": url})
        return page_or_partial(
            request,
            PAGE,
            "people/_invite_form.html",
            context,
            status_code=201,
            trigger="invites-changed",
        )

    @post("/invites/{invite_id:int}/revoke", sync_to_thread=True)
    def revoke(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        invite_id: FromPath[int],
    ) -> Response[Any]:
        """Withdraw an invite; its link stops working."""
        project = reachable_project(db, viewer, slug)
        revoke_invite(db, project, invite_id, actor_id=viewer.user.id)
        db.commit()
        return self._region(request, db, viewer, project, "people/_invites.html")

    @post("/members/{user_id:int}/pause", sync_to_thread=True)
    def pause(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        user_id: FromPath[int],
        data: FormData,
    ) -> Response[Any]:
        """Pause a member (with an optional reason they will see); their leases are released."""
        project = reachable_project(db, viewer, slug)
        pause_member(db, project, user_id, field(data, "reason"), actor_id=viewer.user.id)
        db.commit()
        return self._region(request, db, viewer, project, "people/_members.html")

    @post("/members/{user_id:int}/resume", sync_to_thread=True)
    def resume(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        user_id: FromPath[int],
    ) -> Response[Any]:
        """Reinstate a paused member."""
        project = reachable_project(db, viewer, slug)
        resume_member(db, project, user_id, actor_id=viewer.user.id)
        db.commit()
        return self._region(request, db, viewer, project, "people/_members.html")

    @post("/members/{user_id:int}/remove", sync_to_thread=True)
    def remove(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        user_id: FromPath[int],
    ) -> Response[Any]:
        """Take a person off the project (their annotations stay)."""
        project = reachable_project(db, viewer, slug)
        remove_member(db, project, user_id, actor_id=viewer.user.id)
        db.commit()
        return self._region(request, db, viewer, project, "people/_members.html")

    @post("/members/{user_id:int}/quota", sync_to_thread=True)
    def quota(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        user_id: FromPath[int],
        data: FormData,
    ) -> Response[Any]:
        """Set a member's daily quota (empty: the project's default applies)."""
        project = reachable_project(db, viewer, slug)
        try:
            quota = parse_quota(field(data, "daily_quota"))
            set_member_quota(db, project, user_id, quota, actor_id=viewer.user.id)
        except InvalidInput as exc:
            problem = exc.field_errors.get("daily_quota", exc.message)
            context = _context(db, viewer, project, quota_errors={user_id: problem})
            return page_or_partial(request, PAGE, "people/_members.html", context, status_code=422)
        db.commit()
        return self._region(request, db, viewer, project, "people/_members.html")

    @post("/rules", sync_to_thread=True)
    def rules(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        """Save the workforce rules; 422 re-renders the form with each bad field named."""
        project = reachable_project(db, viewer, slug)
        values: dict[str, Any] = {}
        for rule in WORKFORCE_RULES:
            if rule.kind == "bool":
                values[rule.name] = "on" if field(data, rule.name) else "off"
            else:
                values[rule.name] = field(data, rule.name)
        try:
            set_workforce_rules(db, project, actor_id=viewer.user.id, **values)
        except InvalidInput as exc:
            context = _context(db, viewer, project, rule_values=values)
            context["rule_errors"] = exc.field_errors
            return page_or_partial(
                request, PAGE, "people/_rules_form.html", context, status_code=422
            )
        db.commit()
        if not is_htmx(request):
            return Redirect(f"/projects/{slug}/people/", status_code=303)
        context = _context(db, viewer, project, rules_saved=True)
        return Template("people/_rules_form.html", context=context)

    def _region(
        self,
        request: Request[Any, Any, Any],
        db: Session,
        viewer: Viewer,
        project: Project,
        partial: str,
    ) -> Response[Any]:
        """The changed region for htmx; back to the page for a plain form post."""
        if is_htmx(request):
            return Template(partial, context=_context(db, viewer, project))
        return redirect_after_post(request, f"/projects/{project.slug}/people/")


class InvitePagesController(Controller):
    """``/invites/{token}``: open an invite and accept it (no login needed)."""

    path = "/invites"
    opt = PUBLIC

    @get("/{token:str}", sync_to_thread=True)
    def open_invite(self, db: Db, maybe_viewer: MaybeViewer, token: FromPath[str]) -> Template:
        """The project and email the invite is for, and the form to accept it; or why the
        link cannot be used."""
        return _invite_page(db, maybe_viewer, token)

    @post("/{token:str}", sync_to_thread=True)
    def accept(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        maybe_viewer: MaybeViewer,
        token: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        """Accept: set up the login, join the project, log in afresh and open the project."""
        name = field(data, "name")
        try:
            user, project = accept_invite(
                db,
                token,
                name=name,
                password=str(data.get("password", "")),
                confirm=str(data.get("confirm", "")),
                current_user=maybe_viewer.user if maybe_viewer else None,
            )
        except InvalidInput as exc:
            db.rollback()
            return _invite_page(db, maybe_viewer, token, errors=exc.field_errors, name=name)
        except DomainError as exc:
            db.rollback()
            return _invite_page(db, maybe_viewer, token, problem=exc)
        return logged_in(request, db, user, f"/projects/{project.slug}")


def _invite_page(
    db: Session,
    viewer: Viewer | None,
    token: str,
    *,
    errors: dict[str, str] | None = None,
    name: str = "",
    problem: DomainError | None = None,
) -> Template:
    """The invite page in whichever state applies (422 with field errors after a bad form)."""
    context: dict[str, Any] = {
        "viewer": viewer,
        "token": token,
        "errors": errors or {},
        "name": name,
        "problem": None,
    }
    if problem is None:
        try:
            invite = find_invite(db, token)
        except DomainError as exc:
            problem = exc
    if problem is not None:
        context["problem"] = problem.message
        context["code"] = problem.code
        return Template("people/invite.html", context=context, status_code=problem.status_code)
    account = invited_account(db, invite)
    context.update(
        invite=invite,
        project=db.get(Project, invite.project_id),
        needs_login=needs_login(account),
        is_invitee=viewer is not None and account is not None and viewer.user.id == account.id,
        has_account=account is not None,
    )
    return Template("people/invite.html", context=context, status_code=422 if errors else 200)
