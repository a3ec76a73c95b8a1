"""Admins issue and revoke API tokens for people."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template
from sqlalchemy.orm import Session

from app.domain import people, tokens
from app.domain.errors import InvalidInput, NotFound
from app.domain.projects import visible_projects
from app.web.auth import ADMIN, Viewer
from app.web.controllers.forms import FormData, field, many
from app.web.deps import CurrentViewer, Db
from app.web.htmx import is_htmx, page_or_partial


class AdminTokensController(Controller):
    """``/admin/tokens``."""

    path = "/admin/tokens"
    opt = ADMIN

    def _context(self, db: Session, viewer: Viewer, **extra: Any) -> dict[str, Any]:
        context: dict[str, Any] = {
            "viewer": viewer,
            "tokens": tokens.list_tokens(db),
            "scopes": tokens.SCOPES,
            "projects": visible_projects(db, viewer.user),
            "form": {},
            "errors": {},
            "created": None,
        }
        context.update(extra)
        return context

    @get("/", sync_to_thread=True)
    def list_tokens(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer
    ) -> Template:
        """Every token (never its secret) and the form to issue one."""
        return page_or_partial(
            request, "admin/tokens.html", "admin/_tokens_table.html", self._context(db, viewer)
        )

    @post("/", sync_to_thread=True)
    def create_token(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, data: FormData
    ) -> Template:
        """Issue a token for a person; its secret is shown once, here."""
        form: dict[str, Any] = {
            "email": field(data, "email"),
            "name": field(data, "name"),
            "projects": many(data, "projects"),
            "scopes": many(data, "scopes"),
        }
        try:
            owner = people.get_user_by_email(db, form["email"])
            token, raw = tokens.create_token(
                db,
                owner,
                name=form["name"],
                project_slugs=form["projects"] or None,
                scopes=form["scopes"] or None,
                actor_id=viewer.user.id,
            )
        except NotFound as exc:
            return page_or_partial(
                request,
                "admin/tokens.html",
                "admin/_token_form.html",
                self._context(db, viewer, form=form, errors={"email": exc.message}),
                status_code=422,
            )
        except InvalidInput as exc:
            return page_or_partial(
                request,
                "admin/tokens.html",
                "admin/_token_form.html",
                self._context(db, viewer, form=form, errors=exc.field_errors),
                status_code=422,
            )
        db.commit()
        return page_or_partial(
            request,
            "admin/tokens.html",
            "admin/_token_form.html",
            self._context(db, viewer, created={"token": token, "secret": raw}),
            status_code=201,
            trigger="tokens-changed",
        )

    @post("/{token_id:int}/revoke", sync_to_thread=True)
    def revoke(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        token_id: FromPath[int],
    ) -> Response[Any]:
        """Revoke a token; it stops working at once."""
        token = tokens.revoke_token(db, token_id, actor=viewer.user)
        db.commit()
        if is_htmx(request):
            return Template("admin/_token_row.html", context={"t": token})
        return Redirect("/admin/tokens", status_code=303)
