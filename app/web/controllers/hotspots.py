"""``/projects/{slug}/hotspots``: where agreement is confidently low and why, for leads.

The list ranks what the latest scans found with each verdict's reason in words and the figures
behind it; "Scan now" queues a scan and the list refreshes itself until it is done. A hotspot's
page lays out its evidence (inside vs outside the tag, the annotator x label table, flags and
comments, examples, the rule in force) and the lifecycle actions; "Draft a spec fix" opens the
project's draft with the tag's rule ready to edit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Response, Template
from sqlalchemy import select

from app.db.models import Job
from app.domain.hotspots import (
    SCAN_KIND,
    draft_spec_fix,
    list_hotspots,
    named_hotspot,
    queue_scan,
    set_hotspot_status,
)
from app.domain.outbox import PENDING_STATUSES
from app.domain.specs import list_specs
from app.web.auth import LEAD
from app.web.controllers.forms import FormData
from app.web.controllers.projects import reachable_project
from app.web.deps import CurrentViewer, Db
from app.web.htmx import page_or_partial, redirect_after_post

POLL_SECONDS = 2


class HotspotPagesController(Controller):
    """Hotspot list, detail, scans and triage."""

    path = "/projects/{slug:str}/hotspots"
    opt = LEAD

    @get("/", sync_to_thread=True)
    def hotspots(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        gone: FromQuery[int] = 0,
    ) -> Template:
        """The ranked hotspots (``gone=1``: also those later scans no longer find)."""
        project = reachable_project(db, viewer, slug)
        scan = db.scalars(
            select(Job)
            .where(Job.kind == SCAN_KIND, Job.project_id == project.id)
            .order_by(Job.created_at.desc())
            .limit(1)
        ).first()
        context = {
            "viewer": viewer,
            "project": project,
            "rows": list_hotspots(db, project, include_gone=bool(gone)),
            "gone": bool(gone),
            "scan": scan,
            "scanning": scan is not None and scan.status in PENDING_STATUSES,
            "poll_seconds": POLL_SECONDS,
            "is_lead": True,
        }
        return page_or_partial(request, "hotspots/list.html", "hotspots/_list.html", context)

    @post("/scan", sync_to_thread=True)
    def scan(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, slug: FromPath[str]
    ) -> Response[Any]:
        """Queue a scan now; the list polls until it is done."""
        project = reachable_project(db, viewer, slug)
        queue_scan(db, project, actor_id=viewer.user.id)
        db.commit()
        request.app.state.jobs.relay_now()
        return redirect_after_post(request, f"/projects/{slug}/hotspots/")

    @get("/{hotspot_id:int}", sync_to_thread=True)
    def hotspot(
        self, db: Db, viewer: CurrentViewer, slug: FromPath[str], hotspot_id: FromPath[int]
    ) -> Template:
        """One hotspot: verdict, reason, evidence and what to do about it."""
        project = reachable_project(db, viewer, slug)
        row, tag, handle = named_hotspot(db, project, hotspot_id)
        published = [s.number for s in list_specs(db, project) if s.status == "published"]
        return Template(
            "hotspots/detail.html",
            context={
                "viewer": viewer,
                "project": project,
                "h": row,
                "tag": tag,
                "handle": handle,
                "published": sorted(published, reverse=True),
                "errors": {},
                "is_lead": True,
            },
        )

    @post("/{hotspot_id:int}/status", sync_to_thread=True)
    def triage(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        hotspot_id: FromPath[int],
        data: FormData,
    ) -> Response[Any]:
        """Acknowledge, address, dismiss (with a reason) or reopen."""
        project = reachable_project(db, viewer, slug)
        number = str(data.get("spec_version", "")).strip()
        set_hotspot_status(
            db,
            project,
            hotspot_id,
            str(data.get("status", "")),
            actor=viewer.user,
            reason=str(data.get("reason", "")),
            number=int(number) if number.isdigit() else None,
        )
        db.commit()
        return redirect_after_post(request, f"/projects/{slug}/hotspots/{hotspot_id}")

    @post("/{hotspot_id:int}/draft-fix", sync_to_thread=True)
    def draft_fix(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        hotspot_id: FromPath[int],
    ) -> Response[Any]:
        """Open (or reuse) the draft and go to its form with the tag's rule in focus."""
        project = reachable_project(db, viewer, slug)
        _, tag, _ = named_hotspot(db, project, hotspot_id)
        draft = draft_spec_fix(db, project, hotspot_id, actor=viewer.user)
        db.commit()
        # No #fragment: a page opened at a fragment skips autofocus.
        where = quote(tag or "", safe="")
        return redirect_after_post(
            request, f"/projects/{slug}/specs/{draft.number}/edit?focus={where}"
        )
