"""``GET /api/v1/projects/{slug}/export``: labels for training jobs, with full provenance.

Needs the ``export:read`` scope on a token that reaches the project (a token scoped to another
project gets 404, as for every project route). ``format=jsonl|csv|parquet`` and the filters and
policies of :mod:`app.domain.export`; an unknown parameter or value is a 422 naming it. JSONL
and CSV stream range by range of items (flat memory, read in a transaction of their own once
the request is checked); Parquet is written whole and says its row count in ``X-Accord-Rows``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Stream
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import session_scope
from app.db.models import Project
from app.domain.export import FORMATS, ExportRequest, parse_export_request
from app.domain.export_files import serialize
from app.domain.export_rows import export_frames, export_rows
from app.web.api.projects import project_for
from app.web.auth import token_scope
from app.web.deps import Db, Grant


class ExportApi(Controller):
    """The training export."""

    path = "/api/v1/projects/{slug:str}/export"
    tags = ["export"]
    security = [{"BearerToken": []}]

    @get("/", opt=token_scope("export:read"), sync_to_thread=True)
    def export(
        self, request: Request[Any, Any, Any], db: Db, grant: Grant, slug: FromPath[str]
    ) -> Stream:
        """Stream the export (see the module docstring for the parameters)."""
        project = project_for(db, grant, slug)
        wanted = parse_export_request(db, project, dict(request.query_params.items()))
        headers = {"Content-Disposition": f'attachment; filename="{slug}.{wanted.format}"'}
        if wanted.format == "parquet":
            frame = export_rows(db, project, wanted)
            headers["X-Accord-Rows"] = str(frame.height)
            parquet = serialize(frame, "parquet")
            return Stream(parquet, media_type=FORMATS["parquet"], headers=headers)
        return Stream(
            _streamed(request.app.state.session_factory, project.id, wanted),
            media_type=FORMATS[wanted.format],
            headers=headers,
        )


def _streamed(
    factory: sessionmaker[Session], project_id: int, wanted: ExportRequest
) -> Iterator[bytes]:
    """JSONL or CSV, range by range, read in a session of the stream's own (the request's
    session is gone by the time the response body is sent)."""
    with session_scope(factory) as session:
        project = session.get(Project, project_id)
        assert project is not None  # checked by the handler a moment ago
        first = True
        for frame in export_frames(session, project, wanted):
            if frame.height or first:  # an empty first range still gives CSV its header
                yield from serialize(frame, wanted.format, header=first)
                first = False
