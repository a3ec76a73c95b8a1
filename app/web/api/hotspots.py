"""``/api/v1/projects/{slug}/hotspots``: spec-ambiguity hotspots, scans and triage (leads).

``GET`` lists the hotspots the latest scans found (``include_gone=true`` adds those a later scan
no longer sees) with their evidence; ``POST .../scan`` queues a scan (202 + job);
``PATCH .../hotspots/{id}`` moves one through its lifecycle (``acknowledged``, ``addressed`` with
``spec_version``, ``dismissed`` with ``reason``, or ``open`` again).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from app.domain.hotspots import (
    hotspot_json,
    list_hotspots,
    named_hotspot,
    queue_scan,
    set_hotspot_status,
)
from app.web.api.projects import project_for, require_lead
from app.web.api.schemas import JobRef, job_out
from app.web.auth import token_scope
from app.web.deps import Db, Grant

REFUSAL = "hotspots are for leads and admins"


@dataclass
class HotspotStatusIn:
    """``PATCH .../hotspots/{id}``: the new status, and why (required to dismiss)."""

    status: str
    reason: str = ""
    spec_version: int | None = None


class HotspotsApi(Controller):
    """Hotspots through the JSON API."""

    path = "/api/v1/projects/{slug:str}/hotspots"
    tags = ["hotspots"]
    security = [{"BearerToken": []}]

    @get("/", opt=token_scope("agreement:read"), sync_to_thread=True)
    def hotspots(
        self, db: Db, grant: Grant, slug: FromPath[str], include_gone: FromQuery[bool] = False
    ) -> dict[str, Any]:
        """The project's hotspots, ranked, with verdict, figures, status and evidence."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        rows = list_hotspots(db, project, include_gone=include_gone)
        return {"hotspots": [hotspot_json(row, tag, handle) for row, tag, handle in rows]}

    @post("/scan", opt=token_scope("jobs:write"), sync_to_thread=True, status_code=202)
    def scan(
        self, request: Request[Any, Any, Any], db: Db, grant: Grant, slug: FromPath[str]
    ) -> JobRef:
        """Queue a scan now (one pending scan per project: asking twice returns the same job)."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        job = queue_scan(db, project, actor_id=grant.user.id)
        db.commit()
        request.app.state.jobs.relay_now()
        return JobRef(job=asdict(job_out(job)))

    @patch("/{hotspot_id:int}", opt=token_scope("projects:write"), sync_to_thread=True)
    def triage(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        hotspot_id: FromPath[int],
        data: JSONBody[HotspotStatusIn],
    ) -> dict[str, Any]:
        """Acknowledge, address (by a published ``spec_version``), dismiss or reopen."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        set_hotspot_status(
            db,
            project,
            hotspot_id,
            data.status,
            actor=grant.user,
            reason=data.reason,
            number=data.spec_version,
        )
        db.commit()
        return hotspot_json(*named_hotspot(db, project, hotspot_id))
