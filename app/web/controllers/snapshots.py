"""``/projects/{slug}/snapshots``: export snapshots in the browser, for leads.

The page lists the project's snapshots with their manifests (hash, rows, parameters, per-tag
alpha) and a form to create one; while any is being written the list refreshes itself (HTMX
polling). Downloads go through the page's own route, with the same bytes as the API's.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Response, Template

from app.domain.errors import NotFound
from app.domain.export import CONSENSUS, FORMATS, SPLIT_CHOICES
from app.domain.snapshots import get_snapshot, list_snapshots, request_snapshot
from app.web.api.snapshots import snapshot_download
from app.web.auth import LEAD
from app.web.controllers.forms import FormData
from app.web.controllers.projects import reachable_project
from app.web.deps import CurrentViewer, Db
from app.web.htmx import page_or_partial, redirect_after_post

POLL_SECONDS = 2


class SnapshotPagesController(Controller):
    """Snapshot list, creation and download."""

    path = "/projects/{slug:str}/snapshots"
    opt = LEAD

    @get("/", sync_to_thread=True)
    def snapshots(
        self, request: Request[Any, Any, Any], db: Db, viewer: CurrentViewer, slug: FromPath[str]
    ) -> Template:
        """The snapshots, newest first, and the form to take one."""
        project = reachable_project(db, viewer, slug)
        rows = list_snapshots(db, project)
        context = {
            "viewer": viewer,
            "project": project,
            "snapshots": rows,
            "busy": any(s.status == "pending" for s in rows),
            "poll_seconds": POLL_SECONDS,
            "formats": list(FORMATS),
            "splits": SPLIT_CHOICES,
            "policies": CONSENSUS,
            "is_lead": True,
        }
        return page_or_partial(request, "snapshots/page.html", "snapshots/_list.html", context)

    @post("/", sync_to_thread=True)
    def create(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        """Queue a snapshot with the form's parameters; the list shows its progress."""
        project = reachable_project(db, viewer, slug)
        wanted = {
            name: str(data[name]).strip()
            for name in ("format", "split", "consensus", "min_alpha")
            if str(data.get(name, "")).strip()
        }
        request_snapshot(db, project, wanted, actor=viewer.user)
        db.commit()
        request.app.state.jobs.relay_now()
        target = f"/projects/{slug}/snapshots/"
        return redirect_after_post(request, target)

    @get("/{snapshot_id:int}/download", sync_to_thread=True)
    def download(
        self, db: Db, viewer: CurrentViewer, slug: FromPath[str], snapshot_id: FromPath[int]
    ) -> Response[bytes]:
        """The snapshot's bytes (the same as the API's download)."""
        project = reachable_project(db, viewer, slug)
        snapshot = get_snapshot(db, snapshot_id)
        if snapshot.project_id != project.id:
            raise NotFound(f"no snapshot {snapshot_id} in {slug!r}")
        return snapshot_download(snapshot, f"{slug}-snapshot-{snapshot.id}.{snapshot.format}")
