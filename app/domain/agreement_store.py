"""Agreement reports kept in memory and in the database, so that every process shares one
computation.

A report over millions of labels takes seconds. :func:`remembered` serves a report from this
process's memory, else from the database, else computes it and keeps it in both: a web process
that never computed one, a worker building a snapshot or a fresh CLI would otherwise each pay
for it again. The latest report per project
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
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import __version__
from app.analytics.slices import Interval, Slice
from app.db.base import utcnow
from app.db.bulk_read import WROTE, bulk_reads
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
from app.db.per_transaction import per_transaction
from app.domain.projects import current_spec

STORE_MIN_ANNOTATIONS = 50_000
"""Smaller projects compute a report in well under a second: not worth a write."""
_CACHE_SIZE = 64
log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

_cache: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()
_cache_lock = threading.Lock()


def remembered(
    session: Session,
    project: Project,
    parameters: dict[K, str],
    compute: Callable[[list[K]], dict[K, R]],
    decode: Callable[[dict[str, Any]], R],
    *,
    mark: tuple[Any, ...] | None = None,
) -> dict[K, R]:
    """The reports named by ``parameters`` (key -> what the report is computed with, as text)
    under the project's current watermark (or ``mark``: another state they are computed from,
    its first figure the number of annotations they read).

    Each comes from this process's memory, else from the store (``decode`` rebuilds it from its
    stored fields), else from one call of ``compute`` with the keys neither holds; computed
    reports are then kept in both. ``compute`` runs inside :func:`bulk_reads`.
    """
    mark = _mark_or_watermark(session, project, mark)
    found = _recalled(session, project, parameters, decode, mark)
    computed = [key for key in parameters if key not in found]
    if not computed:
        return found
    with bulk_reads(session, rows=mark[0]):
        fresh = compute(computed)
    _keep(session, project, {parameters[key]: fresh[key] for key in computed}, mark)
    return found | fresh


def recalled(
    session: Session,
    project: Project,
    parameters: dict[K, str],
    decode: Callable[[dict[str, Any]], R],
    *,
    mark: tuple[Any, ...] | None = None,
) -> dict[K, R]:
    """Those of the reports named by ``parameters`` that this process's memory or the store
    holds under the project's current watermark or ``mark`` (the others are left out)."""
    return _recalled(
        session,
        project,
        parameters,
        decode,
        _mark_or_watermark(session, project, mark),
    )


def keep(
    session: Session,
    project: Project,
    reports: dict[str, Any],
    *,
    mark: tuple[Any, ...] | None = None,
) -> None:
    """Keep ``reports`` (by what each is computed with, as text), computed from the project's
    state at its current watermark or ``mark``, in this process's memory and in the store."""
    _keep(
        session,
        project,
        reports,
        _mark_or_watermark(session, project, mark),
    )


def _mark_or_watermark(
    session: Session, project: Project, mark: tuple[Any, ...] | None
) -> tuple[Any, ...]:
    return mark if mark is not None else _transaction_watermark(session, project)


def _recalled(
    session: Session,
    project: Project,
    parameters: dict[K, str],
    decode: Callable[[dict[str, Any]], R],
    mark: tuple[Any, ...],
) -> dict[K, R]:
    bind = str(session.get_bind().engine.url)
    found: dict[K, R] = {}
    missing: dict[K, str] = {}
    with _cache_lock:
        for key, text in parameters.items():
            cached = _cache.get((bind, project.id, text))
            if cached is not None and cached[0] == mark:
                found[key] = cached[1]
            else:
                missing[key] = text
    if not missing:
        return found
    stored = _stored_reports(session, project.id, list(missing.values()), watermark_digest(mark))
    known = {key: decode(stored[text]) for key, text in missing.items() if text in stored}
    _memorize(bind, project.id, mark, {missing[key]: report for key, report in known.items()})
    return found | known


def _keep(
    session: Session, project: Project, reports: dict[str, Any], mark: tuple[Any, ...]
) -> None:
    _store_reports(session, project.id, reports, watermark_digest(mark), mark[0])
    _memorize(str(session.get_bind().engine.url), project.id, mark, reports)


def _memorize(bind: str, project_id: int, mark: tuple[Any, ...], reports: dict[str, Any]) -> None:
    with _cache_lock:
        for text, report in reports.items():
            _cache[(bind, project_id, text)] = (mark, report)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def forget_reports() -> None:
    """Empty this process's memory of reports (the stored ones stay)."""
    with _cache_lock:
        _cache.clear()


_MARKS = per_transaction("accord_watermarks")
"""``session.info`` key: each project's watermark, read once per transaction that has not
written (an export asks for its tags' slices and its overall alpha, a snapshot again for its
manifest: about 0.2 s of index counts each on a million items)."""


def _transaction_watermark(session: Session, project: Project) -> tuple[Any, ...]:
    """:func:`watermark`, read once per transaction unless the transaction writes (its own
    writes may move it)."""
    if session.connection().info.get(WROTE):
        return watermark(session, project)
    marks: dict[int, tuple[Any, ...]] = session.info.setdefault(_MARKS, {})
    if project.id not in marks:
        marks[project.id] = watermark(session, project)
    return marks[project.id]


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


def _stored_reports(
    session: Session, project_id: int, parameters: list[str], digest: str
) -> dict[str, dict[str, Any]]:
    """The stored reports for ``parameters`` still valid under ``digest``, as their fields
    (slices rebuilt)."""
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
        if "overall" in fields:
            fields["overall"] = _slice(fields["overall"])
        fields["groups"] = [_slice(g) for g in fields["groups"]]
        found[key] = fields
    return found


def _store_reports(
    session: Session,
    project_id: int,
    reports: dict[str, Any],
    digest: str,
    n_annotations: int,
) -> None:
    """Keep ``reports`` (parameters -> a report dataclass) if worth it and safe (see the module
    docstring), replacing what was stored for the same parameters."""
    if n_annotations < STORE_MIN_ANNOTATIONS or not reports:
        return

    def write(s: Session) -> None:
        for key, report in reports.items():
            _upsert(s, project_id, key, digest, report)

    write_aside(session, write, f"the agreement report of project {project_id}")


def write_aside(session: Session, write: Callable[[Session], None], what: str) -> None:
    """Run ``write`` in a short transaction of its own, if that is safe while ``session`` is
    open (see the module docstring): best effort, a failure is logged as not storing ``what``."""
    bind = session.get_bind()
    connection = session.connection()
    if not isinstance(bind, Engine) or connection.info.get(WROTE):
        return
    writers = sqlite_write_lock(bind)
    if connection.info.get(WRITE_LOCK) or (writers is not None and writers.locked()):
        return
    try:
        with session_scope(make_session_factory(bind, immediate=True), immediate=True) as s:
            write(s)
    except SQLAlchemyError as exc:  # the project may be gone, or the database busy
        log.warning("could not store %s: %s", what, exc)


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
