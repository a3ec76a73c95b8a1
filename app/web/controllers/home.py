"""The home page: an annotator's projects or a lead's overview, by role."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from app.domain.queries import home_cards
from app.domain.roster import open_notice_counts, paused_memberships
from app.web.auth import ANY_USER
from app.web.deps import CurrentViewer, Db
from app.web.htmx import page_or_partial


class HomeController(Controller):
    """``/``: what the viewer works on."""

    @get("/", opt=ANY_USER, sync_to_thread=True)
    def home(self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer) -> Template:
        """Annotators see their projects with "Start labeling"; leads and admins see counts."""
        cards = home_cards(db, viewer.user)
        leads = viewer.user.role != "annotator"
        notices = open_notice_counts(db, [c.project.id for c in cards]) if leads else {}
        return page_or_partial(
            request,
            "home/page.html",
            "home/_projects.html",
            {
                "viewer": viewer,
                "cards": cards,
                "paused": paused_memberships(db, viewer.user),
                "notices": notices,
            },
        )
