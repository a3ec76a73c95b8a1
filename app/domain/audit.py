"""Appending to the audit log."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from app.db.engine import execute_core
from app.db.models import AuditEvent

_APPEND = insert(cast(Table, AuditEvent.__table__))
"""Built once: events are appended on every lease and submission."""


def record_event(
    session: Session,
    action: str,
    *,
    actor_id: int | None,
    project_id: int | None = None,
    item_id: int | None = None,
    subject_type: str = "",
    subject_id: str | int = "",
    **details: Any,
) -> None:
    """Append one audit event (in the caller's transaction).

    A plain insert rather than an ORM object: events are only ever appended, nothing reads them
    back through the session, and the unit of work would cost several times the insert on the
    labeling loop's hot path. Pending changes are flushed first, so the event lands after the
    change it records and its foreign keys find their rows, as before.
    """
    execute_core(
        session,
        _APPEND,
        {
            "action": action,
            "actor_id": actor_id,
            "project_id": project_id,
            "item_id": item_id,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "details": details,
        },
    )
