"""``/projects/{slug}/workforce``: one page that tells a lead who needs help and why.

Project figures on top (throughput per day, backlog and ETA, the import-to-k SLO, live leases,
who is online), open notices (people Accord paused), then one row per member with their figures
and the reasons to look at them; people who need help come first. The weekly metrics download
here is the browser twin of the API's.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.domain.roster import open_notices, resume_member
from app.domain.workforce import workforce_report
from app.web.api.workforce import weekly_download
from app.web.auth import LEAD
from app.web.controllers.projects import reachable_project
from app.web.deps import CurrentViewer, Db
from app.web.htmx import redirect_after_post


class WorkforcePagesController(Controller):
    """The workforce page and its weekly download, for leads."""

    path = "/projects/{slug:str}/workforce"
    opt = LEAD

    @get("/", sync_to_thread=True)
    def page(self, db: Db, viewer: CurrentViewer, slug: FromPath[str]) -> Template:
        """Project figures, open notices and every member with what needs attention."""
        project = reachable_project(db, viewer, slug)
        report = workforce_report(db, project)
        notices = open_notices(db, project)
        return Template(
            "workforce/page.html",
            context={
                "viewer": viewer,
                "project": project,
                "is_lead": True,
                "report": report,
                "notices": notices,
                "needing_help": sum(1 for m in report.members if m.needs_help),
            },
        )

    @post("/reinstate/{user_id:int}", sync_to_thread=True)
    def reinstate(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        user_id: FromPath[int],
    ) -> Response[Any]:
        """Reinstate a paused member from a notice (their gold window starts afresh)."""
        project = reachable_project(db, viewer, slug)
        resume_member(db, project, user_id, actor_id=viewer.user.id)
        db.commit()
        return redirect_after_post(request, f"/projects/{project.slug}/workforce/")

    @get("/weekly", sync_to_thread=True)
    def weekly(
        self,
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        format: FromQuery[str] = "csv",
        weeks: FromQuery[str] = "8",
    ) -> Response[bytes]:
        """The weekly metrics as a CSV or Parquet download."""
        project = reachable_project(db, viewer, slug)
        return weekly_download(db, project, format, weeks)
