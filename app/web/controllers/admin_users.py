"""Admins manage people: create, change role, disable and re-enable."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from app.db.models import User
from app.db.models.people import ROLES
from app.domain import people
from app.domain.errors import Conflict, InvalidInput
from app.web.auth import ADMIN, Viewer
from app.web.controllers.forms import FormData, field, field_errors
from app.web.deps import CurrentViewer, Db
from app.web.htmx import is_htmx, page_or_partial


class AdminUsersController(Controller):
    """``/admin/users``."""

    path = "/admin/users"
    opt = ADMIN

    @get("/", sync_to_thread=True)
    def list_users(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer
    ) -> Template:
        """Everyone, with their role and status, and the form to add a person."""
        return page_or_partial(
            request,
            "admin/users.html",
            "admin/_users_table.html",
            {
                "viewer": viewer,
                "users": people.list_users(db),
                "roles": ROLES,
                "form": {},
                "errors": {},
                "created": None,
            },
        )

    @post("/", sync_to_thread=True)
    def create_user(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, data: FormData
    ) -> Template:
        """Create a person; the generated password is shown once."""
        form = {
            "email": field(data, "email"),
            "name": field(data, "name"),
            "role": field(data, "role", "annotator"),
        }
        try:
            user, password = people.create_user(
                db,
                email=form["email"],
                name=form["name"],
                role=form["role"],
                generate_password=True,
                actor_id=viewer.user.id,
            )
        except (InvalidInput, Conflict) as exc:
            errors = field_errors(exc, "email")
            return page_or_partial(
                request,
                "admin/users.html",
                "admin/_user_form.html",
                {
                    "viewer": viewer,
                    "users": people.list_users(db),
                    "roles": ROLES,
                    "form": form,
                    "errors": errors,
                    "created": None,
                },
                status_code=422,
            )
        db.commit()
        return page_or_partial(
            request,
            "admin/users.html",
            "admin/_user_form.html",
            {
                "viewer": viewer,
                "users": people.list_users(db),
                "roles": ROLES,
                "form": {},
                "errors": {},
                "created": {"user": user, "password": password},
            },
            status_code=201,
            trigger="users-changed",
        )

    @post("/{user_id:int}/role", sync_to_thread=True)
    def set_role(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        user_id: FromPath[int],
        data: FormData,
    ) -> Response[Any]:
        """Change a role; the person's sessions end so it applies at once."""
        user = people.set_role(db, user_id, field(data, "role"), actor_id=viewer.user.id)
        db.commit()
        return self._row(request, viewer, user)

    @post("/{user_id:int}/disable", sync_to_thread=True)
    def disable(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, user_id: FromPath[int]
    ) -> Response[Any]:
        """Disable a person: sessions end, tokens stop working."""
        user = people.disable_user(db, user_id, actor_id=viewer.user.id)
        db.commit()
        return self._row(request, viewer, user)

    @post("/{user_id:int}/enable", sync_to_thread=True)
    def enable(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, user_id: FromPath[int]
    ) -> Response[Any]:
        """Re-enable a disabled person."""
        user = people.enable_user(db, user_id, actor_id=viewer.user.id)
        db.commit()
        return self._row(request, viewer, user)

    def _row(self, request: Request[Any, Any, Any], viewer: Viewer, user: User) -> Response[Any]:
        """The updated table row for HTMX; back to the list for plain form posts."""
        if is_htmx(request):
            return Template(
                "admin/_user_row.html", context={"viewer": viewer, "u": user, "roles": ROLES}
            )
        return Redirect("/admin/users", status_code=303)
