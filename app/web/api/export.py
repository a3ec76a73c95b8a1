"""``GET /api/v1/projects/{slug}/export``: labels for training jobs, with full provenance.

Needs the ``export:read`` scope on a token that reaches the project (a token scoped to another
project gets 404, as for every project route). ``format=jsonl|csv|parquet`` and the filters and
policies of :mod:`app.domain.export`; an unknown parameter or value is a 422 naming it. The
response streams (Parquet is written whole), with ``X-Accord-Rows`` and a file name.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Stream

from app.domain.export import FORMATS, export_rows, parse_export_request
from app.domain.export_files import serialize
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
        query = {key: value for key, value in request.query_params.items()}
        wanted = parse_export_request(db, project, query)
        frame = export_rows(db, project, wanted)
        extension = "jsonl" if wanted.format == "jsonl" else wanted.format
        return Stream(
            serialize(frame, wanted.format),
            media_type=FORMATS[wanted.format],
            headers={
                "X-Accord-Rows": str(frame.height),
                "Content-Disposition": f'attachment; filename="{project.slug}.{extension}"',
            },
        )
