"""Hotspots in a project: the scan job that finds them, their lifecycle, and fixing the spec.

The scan (:func:`scan_hotspots`, the ``scan_hotspots`` job) measures the labels in force with
:func:`app.analytics.hotspots.find_hotspots` and keeps one row per finding across scans (keyed
``tag:<name>`` or ``annotator:<user id>``): a later scan refreshes figures and evidence, marks
findings it no longer sees as gone, and never overrides what a lead decided (status). Evidence
adds what only the database knows: "unclear spec" flags and comments on the tag's items, example
items, and the rule in force for the tag.

Lifecycle: ``open`` -> ``acknowledged`` -> ``addressed`` (by spec version N: set by hand, or by
the re-label campaign of a version that changed the tag's rule) or ``dismissed`` (with a reason);
any of them can be reopened. Scans run on demand, and on a schedule after annotation activity
(:func:`queue_due_scans`, called by the outbox relay).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analytics.hotspots import Hotspot as Finding
from app.analytics.hotspots import TagEvidence, find_hotspots
from app.db.base import utcnow
from app.db.models import (
    Annotation,
    Hotspot,
    Item,
    ItemTag,
    Job,
    Project,
    SpecRule,
    SpecVersion,
    Tag,
    User,
)
from app.db.models.hotspots import HOTSPOT_STATUSES
from app.domain.agreement import slice_settings
from app.domain.audit import record_event
from app.domain.errors import Forbidden, InvalidInput, NotFound
from app.domain.outbox import enqueue_job
from app.domain.projects import current_spec
from app.domain.ratings import load_ratings, load_tags
from app.domain.specs import create_draft, open_draft

MAX_COMMENTS = 8
SNIPPET_CHARS = 240
SCAN_KIND = "scan_hotspots"


def queue_scan(session: Session, project: Project, *, actor_id: int | None = None) -> Job:
    """Queue a hotspot scan of the project (one pending scan per project)."""
    return enqueue_job(
        session,
        SCAN_KIND,
        {"project_id": project.id},
        project_id=project.id,
        dedupe_key=f"{SCAN_KIND}:{project.id}",
        created_by_id=actor_id,
    )


def scan_hotspots_job(session: Session, job: Job) -> dict[str, Any]:
    """Outbox handler for ``scan_hotspots``."""
    project = session.get(Project, job.payload["project_id"])
    if project is None:
        raise NotFound(f"project {job.payload['project_id']} no longer exists")
    return scan_hotspots(session, project, job_id=job.id)


def scan_hotspots(
    session: Session, project: Project, *, job_id: str | None = None, resamples: int = 1000
) -> dict[str, Any]:
    """Find the project's hotspots now and store them; returns a summary (the job's result)."""
    ratings = load_ratings(session, project, "current")
    handles = dict(
        session.execute(
            select(User.id, User.handle).where(User.id.in_(ratings["annotator"].unique().to_list()))
        ).all()
    )
    frame = ratings.select(
        "item",
        pl.col("annotator").replace_strict(handles, return_dtype=pl.String),
        "value",
    )
    settings = slice_settings(session, project, frame, resamples=resamples)
    findings = find_hotspots(frame, load_tags(session, project, ratings), settings)
    spec = current_spec(session, project)
    user_ids = {handle: user_id for user_id, handle in handles.items()}
    tag_ids = dict(
        session.execute(select(Tag.name, Tag.id).where(Tag.project_id == project.id)).all()
    )
    now = utcnow()
    seen: set[str] = set()
    for finding in findings:
        user_id = user_ids.get(finding.annotator or "")
        key = f"annotator:{user_id}" if finding.scope == "annotator" else finding.key
        seen.add(key)
        row = session.scalar(
            select(Hotspot).where(Hotspot.project_id == project.id, Hotspot.key == key)
        )
        if row is None:
            row = Hotspot(project_id=project.id, key=key, status="open", first_seen_at=now)
            session.add(row)
        row.scope = finding.scope
        row.tag_id = tag_ids.get(finding.tag) if finding.tag else None
        row.user_id = user_id
        row.labels = list(finding.labels)
        row.verdict = finding.verdict
        row.alpha, row.ci_low, row.ci_high = finding.alpha, finding.ci.low, finding.ci.high
        row.n_items, row.n_pairable, row.score = finding.n_items, finding.n_pairable, finding.score
        row.evidence = _evidence(session, spec, finding, row.tag_id)
        row.spec_version_id = spec.id
        row.present, row.last_seen_at, row.last_scan_job_id = True, now, job_id
    for row in session.scalars(
        select(Hotspot).where(Hotspot.project_id == project.id, Hotspot.present.is_(True))
    ):
        if row.key not in seen:
            row.present = False
    session.flush()
    return {
        "project_id": project.id,
        "n_annotations": ratings.height,
        "max_annotation_id": session.scalar(
            select(func.max(Annotation.id)).where(Annotation.project_id == project.id)
        ),
        "keys": [f.key for f in findings],
        "verdicts": {f.key: f.verdict for f in findings},
    }


def _evidence(
    session: Session, spec: SpecVersion, finding: Finding, tag_id: int | None
) -> dict[str, Any]:
    plain = finding.as_dict()
    evidence: dict[str, Any] = {"reason": finding.reason, **plain["evidence"]}
    if tag_id is None:
        return evidence
    evidence["rule"] = session.scalar(
        select(SpecRule.text).where(SpecRule.spec_version_id == spec.id, SpecRule.tag_id == tag_id)
    )
    evidence["spec_version"] = spec.number
    on_tag = (
        select(Annotation.id)
        .join(ItemTag, (ItemTag.item_id == Annotation.item_id) & (ItemTag.tag_id == tag_id))
        .join(Item, (Item.id == Annotation.item_id) & (Item.label_round == Annotation.label_round))
        .where(Annotation.retracted_at.is_(None), Annotation.unclear.is_(True))
    )
    evidence["n_unclear"] = session.scalar(select(func.count()).select_from(on_tag.subquery()))
    comments = session.execute(
        select(User.handle, Annotation.comment, Item.external_id)
        .join(User, User.id == Annotation.user_id)
        .join(Item, Item.id == Annotation.item_id)
        .where(Annotation.id.in_(on_tag), Annotation.comment != "")
        .order_by(Annotation.id.desc())
        .limit(MAX_COMMENTS)
    )
    evidence["comments"] = [
        {"annotator": who, "comment": text, "external_id": eid} for who, text, eid in comments
    ]
    examples = finding.evidence.examples if isinstance(finding.evidence, TagEvidence) else ()
    ids = [int(i) for i in examples if str(i).isdigit()]  # units are item ids
    items = session.execute(select(Item.id, Item.external_id, Item.text).where(Item.id.in_(ids)))
    by_id = {i: (eid, text) for i, eid, text in items}
    evidence["example_items"] = [
        {"external_id": by_id[i][0], "text": by_id[i][1][:SNIPPET_CHARS]} for i in ids if i in by_id
    ]
    return evidence


# --- reading and the lifecycle ----------------------------------------------------------------


NamedHotspot = tuple[Hotspot, str | None, str | None]
"""A hotspot with its tag's name and its annotator's handle (either may be None)."""


def _named(project: Project) -> Any:
    return (
        select(Hotspot, Tag.name, User.handle)
        .outerjoin(Tag, Tag.id == Hotspot.tag_id)
        .outerjoin(User, User.id == Hotspot.user_id)
        .where(Hotspot.project_id == project.id)
    )


def list_hotspots(
    session: Session, project: Project, *, include_gone: bool = False
) -> list[NamedHotspot]:
    """The project's hotspots, present ones first, best score first, with tag and handle."""
    query = _named(project).order_by(Hotspot.present.desc(), Hotspot.score.desc(), Hotspot.key)
    if not include_gone:
        query = query.where(Hotspot.present.is_(True))
    return [(row, tag, handle) for row, tag, handle in session.execute(query)]


def named_hotspot(session: Session, project: Project, hotspot_id: int) -> NamedHotspot:
    """The project's hotspot with this id, with tag and handle, or NotFound."""
    found = session.execute(_named(project).where(Hotspot.id == hotspot_id)).first()
    if found is None:
        raise NotFound(f"project {project.slug!r} has no hotspot {hotspot_id}")
    row, tag, handle = found
    return row, tag, handle


def get_hotspot(session: Session, project: Project, hotspot_id: int) -> Hotspot:
    """The project's hotspot with this id, or NotFound."""
    row = session.get(Hotspot, hotspot_id)
    if row is None or row.project_id != project.id:
        raise NotFound(f"project {project.slug!r} has no hotspot {hotspot_id}")
    return row


def hotspot_json(row: Hotspot, tag: str | None, handle: str | None) -> dict[str, Any]:
    """A hotspot as PRODUCT.md's hotspots document has it (plus scope, annotator, lifecycle)."""
    return {
        "id": row.id,
        "key": row.key,
        "scope": row.scope,
        "tag": tag,
        "annotator": handle,
        "labels": row.labels,
        "verdict": row.verdict,
        "alpha": row.alpha,
        "ci": {"low": row.ci_low, "high": row.ci_high},
        "n_items": row.n_items,
        "n_pairable": row.n_pairable,
        "score": row.score,
        "status": row.status,
        "status_reason": row.status_reason or None,
        "addressed_by_spec_version": row.addressed_by_number,
        "present": row.present,
        "first_seen_at": row.first_seen_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "evidence": row.evidence,
    }


def set_hotspot_status(
    session: Session,
    project: Project,
    hotspot_id: int,
    status: str,
    *,
    actor: User,
    reason: str = "",
    number: int | None = None,
) -> Hotspot:
    """Move a hotspot through its lifecycle (leads and admins)."""
    if actor.role not in ("lead", "admin"):
        raise Forbidden("only leads and admins triage hotspots")
    row = get_hotspot(session, project, hotspot_id)
    reason = reason.strip()
    errors: dict[str, str] = {}
    if status not in HOTSPOT_STATUSES:
        errors["status"] = f"one of {', '.join(HOTSPOT_STATUSES)}"
    elif status == "dismissed" and not reason:
        errors["reason"] = "say why the hotspot is dismissed"
    elif status == "addressed" and (number is None or not _published(session, project, number)):
        errors["number"] = "the number of the published spec version that addresses it"
    if len(reason) > 2000:
        errors["reason"] = "at most 2000 characters"
    if errors:
        raise InvalidInput("the hotspot was not changed", field_errors=errors)
    row.status, row.status_reason = status, reason
    row.addressed_by_number = number if status == "addressed" else None
    row.status_changed_at, row.status_changed_by_id = utcnow(), actor.id
    session.flush()
    record_event(
        session,
        "hotspot.status_changed",
        actor_id=actor.id,
        project_id=project.id,
        subject_type="hotspot",
        subject_id=row.id,
        status=status,
        reason=reason,
    )
    return row


def _published(session: Session, project: Project, number: int) -> bool:
    status = session.scalar(
        select(SpecVersion.status).where(
            SpecVersion.project_id == project.id, SpecVersion.number == number
        )
    )
    return status == "published"


def mark_addressed(session: Session, project: Project, number: int, tags: list[str]) -> int:
    """Hotspots on ``tags`` still open or acknowledged are addressed by spec ``number``."""
    if not tags:
        return 0
    rows = session.scalars(
        select(Hotspot)
        .join(Tag, Tag.id == Hotspot.tag_id)
        .where(
            Hotspot.project_id == project.id,
            Tag.name.in_(tags),
            Hotspot.status.in_(("open", "acknowledged")),
        )
    ).all()
    now = utcnow()
    for row in rows:
        row.status, row.addressed_by_number, row.status_changed_at = "addressed", number, now
        row.status_reason = f"spec v{number} changed the rule"
    session.flush()
    return len(rows)


def draft_spec_fix(
    session: Session, project: Project, hotspot_id: int, *, actor: User
) -> SpecVersion:
    """The open draft (a new one from the current version if none) to fix a tag hotspot's rule."""
    row = get_hotspot(session, project, hotspot_id)
    if row.tag_id is None:
        raise InvalidInput(
            "only a tag hotspot has a rule to fix",
            field_errors={"hotspot": "an annotator hotspot is about a person, not the spec"},
        )
    draft = open_draft(session, project)
    if draft is None:
        tag = session.scalar(select(Tag.name).where(Tag.id == row.tag_id))
        draft = create_draft(session, project, actor=actor)
        draft.changelog = f"Clarify the rule for {tag}."
        session.flush()
    return draft


def queue_due_scans(session: Session, every: timedelta, now: datetime | None = None) -> list[int]:
    """Queue a scan for each active project with annotations newer than its last scan and no
    scan in the last ``every``; returns the project ids queued."""
    now = now or utcnow()
    queued = []
    for project in session.scalars(select(Project).where(Project.archived_at.is_(None))):
        last = session.scalars(
            select(Job)
            .where(Job.kind == SCAN_KIND, Job.project_id == project.id)
            .order_by(Job.created_at.desc())
            .limit(1)
        ).first()
        if last is not None and (
            last.status in ("queued", "running") or last.created_at > now - every
        ):
            continue
        newest = session.scalar(
            select(func.max(Annotation.id)).where(Annotation.project_id == project.id)
        )
        scanned = (last.result or {}).get("max_annotation_id") if last is not None else None
        if newest is None or newest == scanned:
            continue
        queue_scan(session, project)
        queued.append(project.id)
    return queued
