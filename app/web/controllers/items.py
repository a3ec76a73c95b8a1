"""Items pages for leads: the list with filters, the upload form, and one item's history."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy.orm import Session

from app.db.models import Project
from app.db.models.items import SPLITS
from app.domain.adjudication import adjudicate_item, item_rulings
from app.domain.errors import Conflict, InvalidInput
from app.domain.import_files import format_for_filename
from app.domain.item_parsing import (
    MAX_EXTERNAL_ID_CHARS,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_ROWS_PER_REQUEST,
    MAX_TEXT_CHARS,
    parse_item_rows,
)
from app.domain.item_queries import (
    STATUS_NAMES,
    ItemDetail,
    ItemFilters,
    item_detail,
    list_items,
)
from app.domain.items import ImportResult, import_items, project_tag_ids
from app.domain.projects import current_spec
from app.web.auth import LEAD, Viewer
from app.web.controllers.forms import FormData, task_value, text_block
from app.web.controllers.projects import reachable_project
from app.web.deps import CurrentViewer, Db
from app.web.htmx import is_htmx, page_or_partial

UploadForm = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


class ItemPagesController(Controller):
    """``/projects/{slug}/items``: leads and admins only."""

    path = "/projects/{slug:str}/items"
    opt = LEAD

    @get("/", sync_to_thread=True)
    def list_items(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        tag: FromQuery[str] = "",
        split: FromQuery[str] = "",
        status: FromQuery[str] = "",
        q: FromQuery[str] = "",
        page: FromQuery[int] = 1,
    ) -> Template:
        """Items with counts per status; the filter form swaps only the results under HTMX."""
        project = reachable_project(db, viewer, slug)
        filters = ItemFilters(tag=tag, split=split, status=status, q=q.strip())
        found = list_items(db, project, filters, page=page)
        query = {k: v for k, v in vars(filters).items() if v}
        return page_or_partial(
            request,
            "items/page.html",
            "items/_results.html",
            {
                "viewer": viewer,
                "project": project,
                "filters": filters,
                "found": found,
                "tags": sorted(project_tag_ids(db, project)),
                "splits": SPLITS,
                "status_names": STATUS_NAMES,
                "base_query": urlencode(query),
                "status_query": urlencode({k: v for k, v in query.items() if k != "status"}),
            },
        )

    @get("/import", sync_to_thread=True)
    def import_page(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        created: FromQuery[int | None] = None,
        unchanged: FromQuery[int] = 0,
        batch: FromQuery[int | None] = None,
    ) -> Template:
        """The upload form; after a plain (no-JS) upload it also shows the result summary."""
        project = reachable_project(db, viewer, slug)
        result = ImportResult(created, unchanged, batch) if created is not None else None
        return Template(
            "items/import.html",
            context=_import_context(request, viewer, project, result=result),
        )

    @post("/import", sync_to_thread=True)
    def upload(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        data: UploadForm,
    ) -> Response[Any]:
        """Import an uploaded file; errors re-render the form naming the line (422)."""
        project = reachable_project(db, viewer, slug)
        db.rollback()  # read and parse the file without holding SQLite's write lock
        upload = data.get("file")
        create_tags = str(data.get("create_tags", "")).lower() in ("on", "true", "1")
        filename = upload.filename if isinstance(upload, UploadFile) else ""
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise InvalidInput("choose a file to upload", field_errors={"file": "required"})
            body = upload.file.read()
            rows = parse_item_rows(body, format_for_filename(filename, body))
            project = reachable_project(db, viewer, slug)
            result = import_items(
                db,
                project,
                rows,
                actor=viewer.user,
                create_tags=create_tags,
                source="browser",
                filename=filename,
            )
        except (InvalidInput, Conflict) as exc:
            db.rollback()
            # 422 even for a clash (409 in the API): htmx swaps 422 into the form, and to the
            # person uploading both mean "this file cannot be imported as it is".
            return page_or_partial(
                request,
                "items/import.html",
                "items/_import_form.html",
                _import_context(
                    request, viewer, project, error=exc, filename=filename, create_tags=create_tags
                ),
                status_code=422,
            )
        db.commit()
        request.app.state.jobs.relay_now()
        if not is_htmx(request):
            query = {"created": result.created, "unchanged": result.unchanged}
            if result.batch_id is not None:
                query["batch"] = result.batch_id
            return Redirect(f"/projects/{slug}/items/import?{urlencode(query)}", status_code=303)
        return Template(
            "items/_import_form.html",
            context=_import_context(request, viewer, project, result=result, filename=filename),
            status_code=201 if result.created else 200,
            headers={"HX-Trigger": "items-imported"},
        )

    @get("/{external_id:str}", sync_to_thread=True)
    def item(
        self, db: Db, viewer: CurrentViewer, slug: FromPath[str], external_id: FromPath[str]
    ) -> Template:
        """One item: text, tags, metadata, annotations so far, rulings and its audit log."""
        project = reachable_project(db, viewer, slug)
        detail = item_detail(db, project, external_id)
        return Template(
            "items/item.html",
            context=_ruling_context(db, viewer, project, detail) | {"detail": detail},
        )

    @post("/{external_id:str}/adjudicate", sync_to_thread=True)
    def adjudicate(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        external_id: FromPath[str],
        data: FormData,
    ) -> Response[Any]:
        """Record a ruling (value and rationale) under the current spec version."""
        project = reachable_project(db, viewer, slug)
        detail = item_detail(db, project, external_id)
        raw = task_value(project, data, "value")
        rationale = text_block(data, "rationale")
        try:
            adjudicate_item(
                db, project, detail.item, value=raw, rationale=rationale, actor=viewer.user
            )
        except InvalidInput as exc:
            db.rollback()
            detail = item_detail(db, project, external_id)
            context = _ruling_context(db, viewer, project, detail) | {
                "detail": detail,
                "ruling_errors": exc.field_errors,
                "ruling_form": {"value": raw, "rationale": rationale},
            }
            return page_or_partial(
                request, "items/item.html", "items/_rulings.html", context, status_code=422
            )
        db.commit()
        if not is_htmx(request):
            return Redirect(f"/projects/{slug}/items/{external_id}", status_code=303)
        detail = item_detail(db, project, external_id)
        context = _ruling_context(db, viewer, project, detail) | {"detail": detail, "saved": True}
        return page_or_partial(
            request, "items/item.html", "items/_rulings.html", context, trigger="item-adjudicated"
        )


def _ruling_context(
    db: Session, viewer: Viewer, project: Project, detail: ItemDetail
) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "project": project,
        "spec": current_spec(db, project),
        "rulings": item_rulings(db, detail.item),
        "ruling_errors": {},
        "ruling_form": {"value": None, "rationale": ""},
        "saved": False,
    }


def _import_context(
    request: Request[Any, Any, Any], viewer: Viewer, project: Project, **extra: Any
) -> dict[str, Any]:
    context = {
        "viewer": viewer,
        "project": project,
        "result": None,
        "error": None,
        "filename": "",
        "create_tags": False,
        "limits": {
            "body_bytes": request.app.state.settings.max_body_bytes,
            "rows": MAX_ROWS_PER_REQUEST,
            "text": MAX_TEXT_CHARS,
            "external_id": MAX_EXTERNAL_ID_CHARS,
            "metadata_depth": MAX_METADATA_DEPTH,
            "metadata_bytes": MAX_METADATA_BYTES,
        },
    }
    context.update(extra)
    return context
