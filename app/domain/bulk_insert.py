"""Fast multi-row inserts for imports: COPY on PostgreSQL, one executemany on SQLite.

SQLAlchemy's own bulk paths are fine on SQLite but slow on PostgreSQL for 10,000+ rows (one
round trip per row in pipeline mode, or psycopg re-parsing very long multi-VALUES statements);
``COPY ... FROM STDIN`` is several times faster. Rows are dicts keyed by column name; the caller
reads generated ids back afterwards (e.g. by ``import_batch_id``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import JSON, Table, insert
from sqlalchemy.orm import Session

from app.db.base import Base
from app.db.engine import is_sqlite
from app.domain.errors import Conflict


def bulk_insert(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into ``model``'s table in the session's transaction (same keys per row).

    On PostgreSQL a unique-constraint violation becomes a Conflict (SQLite raises SQLAlchemy's
    IntegrityError); run it inside ``session.begin_nested()`` to keep the transaction usable.
    """
    if not rows:
        return
    table = cast(Table, model.__table__)
    if is_sqlite(session):
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    names = ", ".join(f'"{name}"' for name in columns)
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # the only PostgreSQL driver Accord uses
    try:
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(
                    [json.dumps(row[c]) if c in json_columns else row[c] for c in columns]
                )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(
            "another import added some of these rows at the same time; nothing was imported, "
            "send the file again",
            details={"constraint": exc.diag.constraint_name},
        ) from None
