"""The job queue's health: recent jobs, their status, progress and errors."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template

from app.domain.outbox import list_jobs
from app.web.auth import ADMIN
from app.web.deps import CurrentViewer, Db
from app.web.htmx import page_or_partial


class AdminJobsController(Controller):
    """``/admin/jobs``."""

    path = "/admin/jobs"
    opt = ADMIN

    @get("/", sync_to_thread=True)
    def jobs(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        status: FromQuery[str | None] = None,
    ) -> Template:
        """The newest jobs (optionally by status); the table refreshes itself while any run."""
        rows = list_jobs(db, limit=100, status=status)
        broker_error = None
        try:
            request.app.state.jobs.check()
        except Exception as exc:  # noqa: BLE001 (shown to the admin as the broker's state)
            broker_error = str(exc)
        return page_or_partial(
            request,
            "admin/jobs.html",
            "admin/_jobs_table.html",
            {
                "viewer": viewer,
                "jobs": rows,
                "status": status,
                "broker_error": broker_error,
                "busy": any(j.status in ("queued", "running") for j in rows),
                "settings": request.app.state.settings,
            },
        )
