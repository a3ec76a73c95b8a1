"""Export snapshots: an export frozen once, with its SHA-256 and a manifest, identical forever.

Requesting one records a pending snapshot and a ``create_snapshot`` job in one transaction; the
job builds the export with the stored parameters and writes bytes, hash, row count and manifest
in the job's own transaction, so a snapshot is either whole or still pending, and a second
delivery of the job finds it ready and changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import __version__
from app.db.base import utcnow
from app.db.bulk_read import bulk_reads
from app.db.models import Assignment, Job, Project, Snapshot, User
from app.domain.agreement import agreement_report, slice_json, tag_slices
from app.domain.audit import record_event
from app.domain.errors import NotFound
from app.domain.export import ExportRequest, parse_export_request
from app.domain.export_files import serialize
from app.domain.export_rows import expected_rows, export_rows
from app.domain.outbox import enqueue_job
from app.domain.projects import current_spec


def request_snapshot(
    session: Session, project: Project, parameters: Mapping[str, str], *, actor: User
) -> tuple[Snapshot, Job]:
    """Validate the export parameters now (422 naming any bad one) and queue the snapshot."""
    wanted = parse_export_request(session, project, parameters)
    snapshot = Snapshot(
        project_id=project.id,
        status="pending",
        format=wanted.format,
        parameters=dict(parameters),
        created_by_id=actor.id,
    )
    session.add(snapshot)
    session.flush()
    job = enqueue_job(
        session,
        "create_snapshot",
        {"snapshot_id": snapshot.id},
        project_id=project.id,
        created_by_id=actor.id,
    )
    snapshot.job_id = job.id
    record_event(
        session,
        "snapshot.requested",
        actor_id=actor.id,
        project_id=project.id,
        subject_type="snapshot",
        subject_id=snapshot.id,
        format=wanted.format,
    )
    return snapshot, job


def create_snapshot_job(session: Session, job: Job) -> dict[str, Any]:
    """Outbox handler for ``create_snapshot``: build, hash and store the snapshot."""
    snapshot = session.get(Snapshot, job.payload["snapshot_id"])
    if snapshot is None:
        raise NotFound(f"snapshot {job.payload['snapshot_id']} no longer exists")
    if snapshot.status == "ready":
        return _summary(snapshot)
    project = session.get(Project, snapshot.project_id)
    assert project is not None  # the foreign key guarantees it
    wanted = parse_export_request(session, project, snapshot.parameters)
    # This transaction has only marked the job running: the rows it reads are all committed.
    with bulk_reads(session, rows=expected_rows(session, project), despite_own_writes=True):
        frame = export_rows(session, project, wanted)
        content = b"".join(serialize(frame, wanted.format))
        snapshot.content = content
        snapshot.sha256 = hashlib.sha256(content).hexdigest()
        snapshot.n_rows = frame.height
        snapshot.n_bytes = len(content)
        snapshot.finished_at = utcnow()
        snapshot.manifest = _manifest(session, project, snapshot, wanted, frame.columns, frame)
    snapshot.status = "ready"
    session.flush()
    return _summary(snapshot)


def _summary(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "snapshot_id": snapshot.id,
        "sha256": snapshot.sha256,
        "n_rows": snapshot.n_rows,
        "n_bytes": snapshot.n_bytes,
    }


def _manifest(
    session: Session,
    project: Project,
    snapshot: Snapshot,
    wanted: ExportRequest,
    columns: list[str],
    frame: Any,
) -> dict[str, Any]:
    # The tags' slices are those the rows were flagged with; the overall figure is the
    # dashboard's (it reads every label, which the rows never needed).
    tags = tag_slices(session, project)
    overall = agreement_report(session, project).overall
    leases = dict(
        session.execute(
            select(Assignment.state, func.count())
            .where(Assignment.project_id == project.id)
            .group_by(Assignment.state)
        ).all()
    )
    annotators: set[str] = set()
    if "annotators" in columns:
        for ids in frame["annotators"].to_list():
            annotators.update(ids or [])
    elif "annotator" in columns:
        annotators.update(frame["annotator"].to_list())
    versions = sorted(set(frame["spec_version"].to_list())) if "spec_version" in columns else []
    return {
        "snapshot_id": snapshot.id,
        "project": project.slug,
        "created_at": (snapshot.finished_at or utcnow()).isoformat(),
        "accord_version": __version__,
        "format": wanted.format,
        "parameters": {
            "spec_version": wanted.spec_version,
            "split": wanted.split,
            "consensus": wanted.consensus,
            "min_alpha": wanted.min_alpha,
            "min_item_agreement": wanted.min_item_agreement,
            "tags": list(wanted.tags),
            "include_stale": wanted.include_stale,
            "include_leak_risk": wanted.include_leak_risk,
        },
        "sha256": snapshot.sha256,
        "n_rows": snapshot.n_rows,
        "n_bytes": snapshot.n_bytes,
        "columns": columns,
        "k": project.overlap,
        "current_spec_version": current_spec(session, project).number,
        "spec_versions_in_rows": versions,
        "agreement": {
            "level": tags.measure,
            "overall": slice_json(overall),
            "tags": [slice_json(g) for g in tags.groups],
        },
        "annotators": {"n": len(annotators)},
        "assignments": {state: int(n) for state, n in sorted(leases.items())},
    }


def get_snapshot(session: Session, snapshot_id: int) -> Snapshot:
    """The snapshot with this id, or NotFound."""
    snapshot = session.get(Snapshot, snapshot_id)
    if snapshot is None:
        raise NotFound(f"no snapshot {snapshot_id}")
    return snapshot


def list_snapshots(session: Session, project: Project) -> list[Snapshot]:
    """The project's snapshots, newest first."""
    return list(
        session.scalars(
            select(Snapshot)
            .where(Snapshot.project_id == project.id)
            .order_by(Snapshot.created_at.desc(), Snapshot.id.desc())
        )
    )


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot as the API shows it (the manifest once ready)."""
    return {
        "id": snapshot.id,
        "status": snapshot.status,
        "format": snapshot.format,
        "sha256": snapshot.sha256,
        "n_rows": snapshot.n_rows,
        "n_bytes": snapshot.n_bytes,
        "created_at": snapshot.created_at.isoformat(),
        "job_id": snapshot.job_id,
        "manifest": snapshot.manifest,
    }
