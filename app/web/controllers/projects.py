"""A project's page: its current spec (guidelines, labels, rules per tag), members and counts."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.orm import Session

from app.db.models import Project
from app.domain.errors import NotFound
from app.domain.outbox import get_job
from app.domain.projects import can_reach, current_spec, get_project, list_members, tag_names
from app.domain.queries import project_stats
from app.domain.stats import queue_recount
from app.web.auth import ANY_USER, LEAD, Viewer
from app.web.deps import CurrentViewer, Db
from app.web.htmx import page_or_partial


def reachable_project(db: Session, viewer: Viewer, slug: str) -> Project:
    """The project if the viewer may see it; otherwise NotFound (no existence leak)."""
    project = get_project(db, slug)
    if not can_reach(db, viewer.user, project):
        raise NotFound(f"no project {slug!r}")
    return project


class ProjectPagesController(Controller):
    """``/projects/{slug}``."""

    path = "/projects/{slug:str}"

    @get("/", opt=ANY_USER, sync_to_thread=True)
    def overview(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, slug: FromPath[str]
    ) -> Template:
        """The spec in force, with its rules per edge-case tag; members and counts for leads."""
        project = reachable_project(db, viewer, slug)
        spec = current_spec(db, project)
        tags = tag_names(db, project)
        is_lead = viewer.user.role in ("lead", "admin")
        return page_or_partial(
            request,
            "projects/page.html",
            "projects/_stats.html",
            {
                "viewer": viewer,
                "project": project,
                "spec": spec,
                "rules": sorted((tags[r.tag_id], r.text) for r in spec.rules),
                "members": list_members(db, project) if is_lead else [],
                "stats": project_stats(db, project),
                "job": None,
                "is_lead": is_lead,
            },
        )

    @post("/recount", opt=LEAD, sync_to_thread=True)
    def recount(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, slug: FromPath[str]
    ) -> Template:
        """Queue a recount of the project's figures; the panel polls until it is done."""
        project = reachable_project(db, viewer, slug)
        job = queue_recount(db, project.id, actor_id=viewer.user.id)
        db.commit()
        request.app.state.jobs.relay_now()
        return Template(
            "projects/_stats.html",
            context={
                "project": project,
                "stats": project_stats(db, project),
                "job": job,
                "is_lead": True,
            },
            status_code=202,
        )

    @get("/stats", opt=LEAD, sync_to_thread=True)
    def stats(
        self, db: Db, viewer: CurrentViewer, slug: FromPath[str], job: FromQuery[str | None] = None
    ) -> Template:
        """The counts panel; while ``job`` is pending it keeps polling."""
        project = reachable_project(db, viewer, slug)
        pending = get_job(db, job) if job else None
        if pending is not None and pending.project_id != project.id:
            raise NotFound(f"no job {job!r} for this project")
        return Template(
            "projects/_stats.html",
            context={
                "project": project,
                "stats": project_stats(db, project),
                "job": pending,
                "is_lead": True,
            },
        )
