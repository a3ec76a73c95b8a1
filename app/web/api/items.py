"""``/api/v1/projects/{slug}/items``, ``.../annotations/import`` and
``.../import/label-studio``: bulk imports and the list.

Import bodies are read raw and parsed by Content-Type: ``application/json`` (an array of rows),
``application/x-ndjson`` (JSONL) or ``text/csv``; anything else is a 415. Imports answer 201 when
they created something and 200 when every row was already there unchanged (``batch_id`` is then
null: nothing at all was written). Imports need the ``projects:write`` scope and a lead or admin;
the list needs ``projects:read`` and is for leads and admins too (it shows everyone's progress).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, RawBody
from litestar.response import Response

from app.domain.annotation_import import import_annotations
from app.domain.import_files import MEDIA_TYPES, format_for_media_type
from app.domain.item_parsing import parse_annotation_rows, parse_item_rows
from app.domain.item_queries import ItemFilters, list_items
from app.domain.items import import_items
from app.domain.label_studio import import_label_studio
from app.web.api.projects import project_for, require_lead
from app.web.auth import token_scope
from app.web.deps import Db, Grant


@dataclass
class ItemImportOut:
    """What an items import did; ``batch_id`` is null when nothing was created."""

    created: int
    unchanged: int
    batch_id: int | None


@dataclass
class AnnotationImportOut:
    """What an annotations import did, and which annotators it created (without logins)."""

    created: int
    batch_id: int
    annotators_created: list[str]


@dataclass
class ItemOut:
    """An item in the list, with its status(es) under the current spec version."""

    external_id: str
    text: str
    split: str
    tags: list[str]
    metadata: dict[str, Any]
    statuses: list[str]
    n_annotations: int
    created_at: datetime


@dataclass
class ItemList:
    """One page of items, and the counts per status under the same filters."""

    items: list[ItemOut]
    total: int
    page: int
    limit: int
    pages: int
    counts: dict[str, int]
    spec_version: int | None


def import_format(request: Request[Any, Any, Any]) -> str:
    """The import format named by the Content-Type, or a 415 listing the accepted ones."""
    media_type = request.headers.get("content-type", "")
    fmt = format_for_media_type(media_type)
    if fmt is None:
        raise HTTPException(
            status_code=415,
            detail=f"send the rows as {', '.join(sorted(MEDIA_TYPES))}, "
            f"not {media_type.split(';')[0] or 'no Content-Type'}",
        )
    return fmt


class ItemsApi(Controller):
    """Items and imported annotations through the JSON API."""

    path = "/api/v1/projects/{slug:str}"
    tags = ["items"]
    security = [{"BearerToken": []}]

    @post("/items", opt=token_scope("projects:write"), sync_to_thread=True)
    def import_items(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        body: RawBody,
        create_tags: FromQuery[bool] = False,
    ) -> Response[ItemImportOut]:
        """Import items (JSON array, JSONL or CSV) all-or-nothing; re-sending changes nothing."""
        require_lead(grant, "only leads and admins import items")
        project_for(db, grant, slug)
        db.rollback()  # parse without holding SQLite's write lock
        rows = parse_item_rows(body, import_format(request))
        project = project_for(db, grant, slug)
        result = import_items(db, project, rows, actor=grant.user, create_tags=create_tags)
        db.commit()
        request.app.state.jobs.relay_now()
        return Response(
            ItemImportOut(result.created, result.unchanged, result.batch_id),
            status_code=201 if result.created else 200,
        )

    @get("/items", opt=token_scope("projects:read"), sync_to_thread=True)
    def list_items(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        tag: FromQuery[str] = "",
        split: FromQuery[str] = "",
        status: FromQuery[str] = "",
        q: FromQuery[str] = "",
        page: FromQuery[int] = 1,
        limit: FromQuery[int] = 50,
    ) -> ItemList:
        """Items in import order, filtered by tag, split, status and text (``q``), paginated."""
        project = project_for(db, grant, slug)
        require_lead(grant, "only leads and admins list items")
        found = list_items(
            db,
            project,
            ItemFilters(tag=tag, split=split, status=status, q=q),
            page=page,
            per_page=limit,
        )
        return ItemList(
            items=[
                ItemOut(
                    external_id=s.item.external_id,
                    text=s.item.text,
                    split=s.item.split,
                    tags=s.tags,
                    metadata=s.item.metadata_,
                    statuses=s.statuses,
                    n_annotations=s.n_annotations,
                    created_at=s.item.created_at,
                )
                for s in found.items
            ],
            total=found.total,
            page=found.page,
            limit=found.per_page,
            pages=found.pages,
            counts=found.counts,
            spec_version=found.spec_number,
        )

    @post(
        "/annotations/import",
        opt=token_scope("projects:write"),
        sync_to_thread=True,
        status_code=201,
    )
    def import_annotations(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        body: RawBody,
    ) -> AnnotationImportOut:
        """Import labels made elsewhere, attributed to annotators (created without login)."""
        require_lead(grant, "only leads and admins import annotations")
        project_for(db, grant, slug)
        db.rollback()  # parse without holding SQLite's write lock
        rows = parse_annotation_rows(body, import_format(request))
        project = project_for(db, grant, slug)
        result = import_annotations(db, project, rows, actor=grant.user)
        db.commit()
        request.app.state.jobs.relay_now()
        return AnnotationImportOut(result.created, result.batch_id, result.annotators_created)

    @post(
        "/import/label-studio",
        opt=token_scope("projects:write"),
        sync_to_thread=True,
        status_code=201,
    )
    def import_label_studio(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        body: RawBody,
    ) -> dict[str, Any]:
        """Import a Label Studio JSON export (tasks, choices, annotators) all-or-nothing, with
        a report of what was created and skipped."""
        require_lead(grant, "only leads and admins import Label Studio exports")
        project = project_for(db, grant, slug)
        report = import_label_studio(db, project, body, actor=grant.user)
        db.commit()
        request.app.state.jobs.relay_now()
        return asdict(report)
