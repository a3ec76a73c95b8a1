"""``/projects/{slug}/campaigns`` and the impact preview: what a spec change sends back.

The impact panel (``/projects/{slug}/specs/{n}/impact``) tells a lead, before publishing, which
items a draft's changes affect and what re-labeling them costs. A campaign's page follows the
re-labeling live (HTMX polling while work remains) and shows agreement before vs after on each
tag whose rule changed: did the fix work?
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import select

from app.db.models import Job
from app.domain.campaigns import campaign_progress, impact_of, list_campaigns
from app.domain.errors import NotFound
from app.domain.specs import get_spec
from app.web.auth import LEAD
from app.web.controllers.projects import reachable_project
from app.web.deps import CurrentViewer, Db
from app.web.htmx import page_or_partial

POLL_SECONDS = 3


class CampaignPagesController(Controller):
    """Impact previews and re-label campaigns, for leads."""

    path = "/projects/{slug:str}"
    opt = LEAD

    @get("/specs/{number:int}/impact", sync_to_thread=True)
    def impact(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        number: FromPath[int],
    ) -> Template:
        """What publishing v``number`` sends back for re-labeling (a panel, or a page)."""
        project = reachable_project(db, viewer, slug)
        spec = get_spec(db, project, number)
        context = {
            "viewer": viewer,
            "project": project,
            "spec": spec,
            "impact": impact_of(db, project, number),
            "is_lead": True,
        }
        return page_or_partial(request, "specs/impact.html", "specs/_impact.html", context)

    @get("/campaigns/", sync_to_thread=True)
    def campaigns(self, db: Db, viewer: CurrentViewer, slug: FromPath[str]) -> Template:
        """Every re-label campaign of the project, newest first."""
        project = reachable_project(db, viewer, slug)
        return Template(
            "campaigns/list.html",
            context={
                "viewer": viewer,
                "project": project,
                "campaigns": list_campaigns(db, project),
                "is_lead": True,
            },
        )

    @get("/campaigns/{number:int}", sync_to_thread=True)
    def campaign(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        number: FromPath[int],
    ) -> Template:
        """The campaign of spec v``number``: progress (live) and alpha before vs after."""
        project = reachable_project(db, viewer, slug)
        try:
            progress = campaign_progress(db, project, number)
        except NotFound:
            # Published, but its job has not created the campaign yet: say so and poll.
            spec = get_spec(db, project, number)
            if spec.status != "published":
                raise
            job = db.scalar(
                select(Job).where(Job.dedupe_key == f"spec_published:{spec.id}").limit(1)
            )
            progress = None
        else:
            job = None
        context = {
            "viewer": viewer,
            "project": project,
            "number": number,
            "progress": progress,
            "job": job,
            "poll_seconds": POLL_SECONDS,
            "is_lead": True,
        }
        return page_or_partial(request, "campaigns/page.html", "campaigns/_progress.html", context)
