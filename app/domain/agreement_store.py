"""Agreement reports kept in the database, so that every process shares one computation.

A report over millions of labels takes seconds; each process also keeps its own reports in
memory (:mod:`app.domain.agreement`), but a web process that never computed one, a worker
building a snapshot or a fresh CLI would each pay for it again. The latest report per project
and parameters is stored with a digest of the watermark it was computed under (and of Accord's
version, whose code computed it) and read back only while that digest still matches: a moved
watermark (a new label, a retraction, a ruling, a spec change) makes it stale at once.

Only reports worth sharing are stored (projects of at least :data:`STORE_MIN_ANNOTATIONS`
annotations), only from transactions that have not written (their rows are not committed yet)
and never while this process holds SQLite's write lock: storing is best effort, in a short
transaction of its own, and a failure to store costs a recomputation later, nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import __version__
from app.analytics.slices import Interval, Slice
from app.db.base import utcnow
from app.db.bulk_read import WROTE
from app.db.engine import (
    WRITE_LOCK,
    dialect_insert,
    make_session_factory,
    session_scope,
    sqlite_write_lock,
)
from app.db.models import (
    Adjudication,
    Annotation,
    ItemTag,
    Project,
    RelabelCampaign,
    StoredAgreementReport,
    Tag,
)
from app.domain.projects import current_spec

STORE_MIN_ANNOTATIONS = 50_000
"""Smaller projects compute a report in well under a second: not worth a write."""
log = logging.getLogger(__name__)


def watermark(session: Session, project: Project) -> tuple[Any, ...]:
    """What a project's reports are computed from, in counts and latest ids and times."""
    # Annotations, item tags and rulings are only ever added (an annotation is retracted, not
    # deleted), so counts catch every insert, even one that commits after a later id; the
    # retractions' count and latest time come from a small partial index. Nothing here reads
    # the annotations themselves: a cached report costs index counts, not a scan.
    annotations = session.scalar(
        select(func.count()).select_from(Annotation).where(Annotation.project_id == project.id)
    )
    retractions = session.execute(
        select(func.count(), func.max(Annotation.retracted_at)).where(
            Annotation.project_id == project.id, Annotation.retracted_at.is_not(None)
        )
    ).one()
    tags = session.execute(
        select(func.count(), func.max(ItemTag.added_at)).where(
            ItemTag.tag_id.in_(select(Tag.id).where(Tag.project_id == project.id))
        )
    ).one()
    rulings = session.execute(
        select(func.count(), func.max(Adjudication.id)).where(Adjudication.project_id == project.id)
    ).one()
    current = current_spec(session, project)
    # A re-label campaign moves items into a new round (their labels stop counting) with no
    # new annotation: campaigns are part of the mark.
    campaign = session.scalar(
        select(func.max(RelabelCampaign.id)).where(RelabelCampaign.project_id == project.id)
    )
    return (
        annotations,
        *retractions,
        *tags,
        *rulings,
        campaign,
        current.id,
        project.min_pairable,
        project.alpha_threshold,
    )


def watermark_digest(mark: tuple[Any, ...]) -> str:
    """What a stored report must have been computed under to be served."""
    return hashlib.sha256(repr((__version__, mark)).encode()).hexdigest()


def stored_reports(
    session: Session, project_id: int, parameters: list[str], digest: str
) -> dict[str, dict[str, Any]]:
    """The stored reports for ``parameters`` still valid under ``digest``, as the fields of an
    ``AgreementReport`` (slices rebuilt)."""
    rows = session.execute(
        select(StoredAgreementReport.parameters, StoredAgreementReport.report).where(
            StoredAgreementReport.project_id == project_id,
            StoredAgreementReport.parameters.in_(parameters),
            StoredAgreementReport.watermark == digest,
        )
    )
    found = {}
    for key, text in rows:
        fields = json.loads(text)
        fields["overall"] = _slice(fields["overall"])
        fields["groups"] = [_slice(g) for g in fields["groups"]]
        found[key] = fields
    return found


def store_reports(
    session: Session,
    project_id: int,
    reports: dict[str, Any],
    digest: str,
    n_annotations: int,
) -> None:
    """Keep ``reports`` (parameters -> ``AgreementReport``) if worth it and safe (see the module
    docstring), replacing what was stored for the same parameters."""
    if n_annotations < STORE_MIN_ANNOTATIONS or not reports:
        return
    bind = session.get_bind()
    connection = session.connection()
    if not isinstance(bind, Engine) or connection.info.get(WROTE):
        return
    writers = sqlite_write_lock(bind)
    if connection.info.get(WRITE_LOCK) or (writers is not None and writers.locked()):
        return
    try:
        with session_scope(make_session_factory(bind, immediate=True), immediate=True) as s:
            for key, report in reports.items():
                _upsert(s, project_id, key, digest, report)
    except SQLAlchemyError as exc:  # the project may be gone, or the database busy
        log.warning("could not store the agreement report of project %s: %s", project_id, exc)


def _upsert(session: Session, project_id: int, key: str, digest: str, report: Any) -> None:
    values = {
        "project_id": project_id,
        "parameters": key,
        "watermark": digest,
        "report": json.dumps(dataclasses.asdict(report)),
        "computed_at": utcnow(),
    }
    statement = dialect_insert(session)(StoredAgreementReport).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[StoredAgreementReport.project_id, StoredAgreementReport.parameters],
            set_={
                name: statement.excluded[name] for name in ("watermark", "report", "computed_at")
            },
        )
    )


def _slice(fields: dict[str, Any]) -> Slice:
    ci = fields["ci"]
    return Slice(**{**fields, "ci": Interval(**ci) if ci is not None else None})
