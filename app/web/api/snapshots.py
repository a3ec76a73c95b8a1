"""Export snapshots through the JSON API (``export:read``, on a token that reaches the project).

``POST /api/v1/projects/{slug}/snapshots`` takes the export's parameters as a JSON object (the
same names and values as the export's query) and answers 202 with the job and the snapshot;
``GET /api/v1/snapshots/{id}`` returns its status and manifest, and ``.../download`` its bytes,
identical every time (``X-Accord-SHA256`` and the ETag carry the hash).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy.orm import Session

from app.db.models import Project, Snapshot
from app.domain.errors import Conflict, InvalidInput
from app.domain.export import FORMATS
from app.domain.snapshots import get_snapshot, list_snapshots, request_snapshot, snapshot_json
from app.domain.tokens import TokenGrant
from app.web.api.projects import project_for
from app.web.api.schemas import job_out
from app.web.auth import token_scope
from app.web.deps import Db, Grant


def _reachable_snapshot(db: Session, grant: TokenGrant, snapshot_id: int) -> Snapshot:
    snapshot = get_snapshot(db, snapshot_id)
    project = db.get(Project, snapshot.project_id)
    assert project is not None  # the foreign key guarantees it
    project_for(db, grant, project.slug)  # NotFound for a token that does not reach it
    return snapshot


def _as_parameters(body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        raise InvalidInput(
            "the snapshot request must be a JSON object of export parameters",
            field_errors={"body": 'a JSON object, e.g. {"format": "parquet"}'},
        )
    out: dict[str, str] = {}
    for name, value in body.items():
        if isinstance(value, bool):
            out[str(name)] = "true" if value else "false"
        elif isinstance(value, list):
            out[str(name)] = ",".join(str(v) for v in value)
        elif value is not None:
            out[str(name)] = str(value)
    return out


class SnapshotsApi(Controller):
    """Snapshots: create, list, read, download."""

    path = "/api/v1"
    tags = ["export"]
    security = [{"BearerToken": []}]

    @post(
        "/projects/{slug:str}/snapshots",
        opt=token_scope("export:read"),
        sync_to_thread=True,
        status_code=202,
    )
    def create(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        """Queue a snapshot (202 + job); parameters are validated before anything is queued."""
        project = project_for(db, grant, slug)
        snapshot, job = request_snapshot(db, project, _as_parameters(data), actor=grant.user)
        db.commit()
        request.app.state.jobs.relay_now()
        return {"job": asdict(job_out(job)), "snapshot": snapshot_json(snapshot)}

    @get("/projects/{slug:str}/snapshots", opt=token_scope("export:read"), sync_to_thread=True)
    def snapshots(self, db: Db, grant: Grant, slug: FromPath[str]) -> dict[str, Any]:
        """The project's snapshots, newest first, with their manifests."""
        project = project_for(db, grant, slug)
        return {"snapshots": [snapshot_json(s) for s in list_snapshots(db, project)]}

    @get("/snapshots/{snapshot_id:int}", opt=token_scope("export:read"), sync_to_thread=True)
    def read(self, db: Db, grant: Grant, snapshot_id: FromPath[int]) -> dict[str, Any]:
        """Status, hash, counts and manifest."""
        return snapshot_json(_reachable_snapshot(db, grant, snapshot_id))

    @get(
        "/snapshots/{snapshot_id:int}/download",
        opt=token_scope("export:read"),
        sync_to_thread=True,
    )
    def download(self, db: Db, grant: Grant, snapshot_id: FromPath[int]) -> Response[bytes]:
        """The snapshot's bytes; 409 while it is still being written."""
        snapshot = _reachable_snapshot(db, grant, snapshot_id)
        return snapshot_download(snapshot, f"snapshot-{snapshot.id}.{snapshot.format}")


def snapshot_download(snapshot: Snapshot, filename: str) -> Response[bytes]:
    """A ready snapshot's bytes as a download (409 while it is still being written), with its
    hash in ``X-Accord-SHA256`` and the ETag."""
    if snapshot.status != "ready" or snapshot.content is None:
        raise Conflict(f"snapshot {snapshot.id} is {snapshot.status}", code="not_ready")
    return Response(
        snapshot.content,
        media_type=FORMATS[snapshot.format],
        headers={
            "X-Accord-SHA256": snapshot.sha256 or "",
            "ETag": f'"{snapshot.sha256}"',
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )
