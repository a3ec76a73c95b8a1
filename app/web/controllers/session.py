"""Logging in and out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy.orm import Session

from app.db.models import User
from app.domain.credentials import authenticate, end_web_session, start_web_session
from app.domain.errors import RateLimited, Unauthenticated
from app.settings import Settings
from app.web.auth import ANY_USER, PUBLIC, SESSION_COOKIE
from app.web.controllers.forms import FormData, field
from app.web.deps import CurrentViewer, Db, MaybeViewer


def _safe_next(target: str) -> str:
    """Only same-site paths: never an absolute or scheme-relative URL."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def logged_in(
    request: Request[Any, Any, Any], db: Session, user: User, target: str
) -> Response[Any]:
    """Start a fresh session for ``user`` (replacing the request's own, so a session id never
    survives a login), commit, and redirect to ``target`` with the session cookie set."""
    settings: Settings = request.app.state.settings
    raw = start_web_session(
        db,
        user,
        lifetime=timedelta(hours=settings.session_hours),
        user_agent=request.headers.get("user-agent", ""),
        replaces=request.cookies.get(SESSION_COOKIE),
    )
    db.commit()
    response: Response[Any] = Redirect(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
        path="/",
        max_age=settings.session_hours * 3600,
    )
    return response


class SessionController(Controller):
    """The login form, the login itself and logout."""

    @get("/login", opt=PUBLIC, sync_to_thread=False)
    def login_form(self, maybe_viewer: MaybeViewer, next: FromQuery[str] = "/") -> Response[Any]:
        """Show the login form (or go home if already logged in)."""
        if maybe_viewer is not None:
            return Redirect(_safe_next(next), status_code=303)
        return Template("auth/login.html", context={"next": _safe_next(next), "error": None})

    @post("/login", opt=PUBLIC, sync_to_thread=True)
    def login(self, request: Request[Any, Any, Any], db: Db, data: FormData) -> Response[Any]:
        """Check the credentials, rotate the session id, and go where the user was headed."""
        settings: Settings = request.app.state.settings
        email, password = field(data, "email"), str(data.get("password", ""))
        target = _safe_next(field(data, "next", "/"))
        client = request.client.host if request.client else "unknown"
        try:
            user = authenticate(
                db,
                email,
                password,
                client=client,
                max_failures=settings.login_max_failures,
                window=timedelta(minutes=settings.login_window_minutes),
            )
        except (Unauthenticated, RateLimited) as exc:
            db.commit()  # the failed attempt counts toward the rate limit
            context = {"next": target, "error": exc.message, "email": email}
            return Template("auth/login.html", context=context, status_code=exc.status_code)
        return logged_in(request, db, user, target)

    @post("/logout", opt=ANY_USER, sync_to_thread=True)
    def logout(self, db: Db, viewer: CurrentViewer) -> Response[Any]:
        """End the session everywhere it could be replayed and go to the login page."""
        end_web_session(db, viewer.session_token)
        db.commit()
        response: Response[Any] = Redirect("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
