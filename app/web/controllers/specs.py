"""``/projects/{slug}/specs``: spec versions in the browser.

Everyone on the project reads published versions and their diffs; leads also see drafts, open
one, edit it (an HTMX form that works as a plain form too: rows are added with a submit button
and removed with a checkbox) and publish it after a confirmation page.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy.orm import Session

from app.db.models import Project, SpecVersion
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.impact import spec_impact
from app.domain.projects import current_spec
from app.domain.specs import (
    create_draft,
    diff_specs,
    get_spec,
    list_specs,
    open_draft,
    publish_spec,
    spec_snapshot,
    update_draft,
)
from app.web.auth import ANY_USER, LEAD, Viewer
from app.web.controllers.forms import FormData, field, text_block
from app.web.controllers.projects import reachable_project
from app.web.deps import CurrentViewer, Db
from app.web.htmx import is_htmx, page_or_partial, redirect_after_post

BLANK_ROWS = 2  # empty label and rule rows offered below the filled ones
MAX_FORM_ROWS = 80


def _is_lead(viewer: Viewer) -> bool:
    return viewer.user.role in ("lead", "admin")


def _viewable(db: Session, viewer: Viewer, project: Project, number: int) -> SpecVersion:
    """The version if the viewer may see it: drafts are for leads only."""
    spec = get_spec(db, project, number)
    if spec.status == "draft" and not _is_lead(viewer):
        raise NotFound(f"project {project.slug!r} has no spec v{number}")
    return spec


def _blank_label(order: int) -> dict[str, Any]:
    return {"key": "", "name": "", "description": "", "hotkey": "", "order": str(order)}


def _blank_rule() -> dict[str, Any]:
    return {"tag": "", "text": ""}


def _form_from_spec(db: Session, spec: SpecVersion) -> dict[str, Any]:
    """The edit form's values for a saved draft, with a few blank rows to add to."""
    snapshot = spec_snapshot(db, spec)
    labels: list[dict[str, Any]] = [
        {**label, "hotkey": label["hotkey"] or "", "order": str(label["order"] + 1)}
        for label in snapshot["labels"]
    ]
    labels += [_blank_label(len(labels) + i + 1) for i in range(BLANK_ROWS)]
    rules: list[dict[str, Any]] = [dict(rule) for rule in snapshot["rules"]]
    rules += [_blank_rule() for _ in range(BLANK_ROWS)]
    scale = snapshot["scale"]
    return {
        "edit_version": spec.edit_version,
        "guidelines": spec.guidelines,
        "changelog": spec.changelog,
        "labels": labels,
        "rules": rules,
        "scale": (
            {"min": f"{scale['min']:g}", "max": f"{scale['max']:g}", "step": f"{scale['step']:g}"}
            if scale
            else {"min": "", "max": "", "step": ""}
        ),
    }


def _rows(data: dict[str, Any], prefix: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    count = field(data, f"{prefix}_rows", "0")
    n = min(int(count), MAX_FORM_ROWS) if count.isdigit() else 0
    rows = []
    for i in range(n):
        row: dict[str, Any] = {name: field(data, f"{prefix}-{i}-{name}") for name in names}
        row["remove"] = bool(field(data, f"{prefix}-{i}-remove"))
        rows.append(row)
    return rows


def _form_from_post(data: dict[str, Any]) -> dict[str, Any]:
    """The edit form's values as posted (text areas keep their own whitespace)."""
    version = field(data, "edit_version")
    return {
        "edit_version": int(version) if version.isdigit() else 0,
        "guidelines": text_block(data, "guidelines"),
        "changelog": text_block(data, "changelog").strip(),
        "labels": _rows(data, "labels", ("key", "name", "description", "hotkey", "order")),
        "rules": _rows(data, "rules", ("tag", "text")),
        "scale": {name: field(data, f"scale-{name}") for name in ("min", "max", "step")},
    }


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _changes(project: Project, form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Domain changes from the form, and how to rename domain field names to form field ids."""
    renames: dict[str, str] = {}
    labels: list[dict[str, Any]] = []
    for row_index, row in enumerate(form["labels"]):
        blank = not any(row[name] for name in ("key", "name", "description", "hotkey"))
        if row["remove"] or blank:
            continue
        i = len(labels)
        for name in ("key", "name", "description", "hotkey", "order"):
            renames[f"labels[{i}].{name}"] = f"labels-{row_index}-{name}"
        order = row["order"]
        labels.append(
            {
                "key": row["key"],
                "name": row["name"],
                "description": row["description"],
                "hotkey": row["hotkey"] or None,
                "order": int(order) if order.lstrip("-").isdigit() else (order or None),
            }
        )
    rules: list[dict[str, Any]] = []
    for row_index, row in enumerate(form["rules"]):
        if row["remove"] or not (row["tag"] or row["text"]):
            continue
        for name in ("tag", "text"):
            renames[f"rules[{len(rules)}].{name}"] = f"rules-{row_index}-{name}"
        rules.append({"tag": row["tag"], "text": row["text"]})
    changes: dict[str, Any] = {
        "guidelines": form["guidelines"],
        "changelog": form["changelog"],
        "rules": rules,
    }
    if project.kind == "numeric":
        changes["scale"] = {name: _number(value) for name, value in form["scale"].items()}
    else:
        changes["labels"] = labels
    return changes, renames


class SpecPagesController(Controller):
    """``/projects/{slug}/specs``."""

    path = "/projects/{slug:str}/specs"

    @get("/", opt=ANY_USER, sync_to_thread=True)
    def versions(self, db: Db, viewer: CurrentViewer, slug: FromPath[str]) -> Template:
        """Every version with its status; leads also see the open draft and start new ones."""
        project = reachable_project(db, viewer, slug)
        is_lead = _is_lead(viewer)
        return Template(
            "specs/list.html",
            context={
                "viewer": viewer,
                "project": project,
                "specs": list_specs(db, project, include_drafts=is_lead),
                "draft": open_draft(db, project) if is_lead else None,
                "is_lead": is_lead,
            },
        )

    @post("/", opt=LEAD, sync_to_thread=True)
    def new_draft(
        self, db: Db, viewer: CurrentViewer, slug: FromPath[str], data: FormData
    ) -> Redirect:
        """Open a draft copying the current version (or the one chosen), then edit it."""
        project = reachable_project(db, viewer, slug)
        source = field(data, "from_number")
        draft = create_draft(
            db,
            project,
            actor=viewer.user,
            from_number=int(source) if source.isdigit() else None,
        )
        db.commit()
        return Redirect(f"/projects/{slug}/specs/{draft.number}/edit", status_code=303)

    @get("/{number:int}", opt=ANY_USER, sync_to_thread=True)
    def view(
        self,
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        number: FromPath[int],
        published: FromQuery[int] = 0,
    ) -> Template:
        """One version: labels, rules per tag, guidelines and changelog."""
        project = reachable_project(db, viewer, slug)
        spec = _viewable(db, viewer, project, number)
        return Template(
            "specs/view.html",
            context={
                "viewer": viewer,
                "project": project,
                "spec": spec,
                "snapshot": spec_snapshot(db, spec),
                "is_lead": _is_lead(viewer),
                "just_published": bool(published) and spec.is_current,
            },
        )

    @get("/{number:int}/edit", opt=LEAD, sync_to_thread=True)
    def edit_form(
        self,
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        number: FromPath[int],
        saved: FromQuery[int] = 0,
        focus: FromQuery[str] = "",
    ) -> Template:
        """The draft's edit form (``focus``: a tag whose rule to put the cursor in, from a
        hotspot's "Draft a spec fix"; a row for it is added if it has no rule yet)."""
        project = reachable_project(db, viewer, slug)
        spec = get_spec(db, project, number)
        if spec.status != "draft":
            raise Conflict(
                f"v{number} is published and published spec versions are immutable; "
                "open a new draft to change it"
            )
        form = _form_from_spec(db, spec)
        if focus and all(rule["tag"] != focus for rule in form["rules"]):
            form["rules"].insert(0, {"tag": focus, "text": ""})
        return Template(
            "specs/edit.html",
            context=self._form_context(viewer, project, spec, form)
            | {"saved": bool(saved), "focus_tag": focus},
        )

    @post("/{number:int}/edit", opt=LEAD, sync_to_thread=True)
    def save(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        number: FromPath[int],
        data: FormData,
    ) -> Response[Any]:
        """Save the draft (422 with the fields marked), or add a blank row without saving."""
        project = reachable_project(db, viewer, slug)
        spec = get_spec(db, project, number)
        form = _form_from_post(data)
        action = field(data, "action", "save")
        if action in ("add_label", "add_rule"):
            kind = "labels" if action == "add_label" else "rules"
            form[kind].append(
                _blank_label(len(form["labels"]) + 1) if kind == "labels" else _blank_rule()
            )
            context = self._form_context(viewer, project, spec, form)
            return page_or_partial(request, "specs/edit.html", "specs/_edit_form.html", context)
        changes, renames = _changes(project, form)
        try:
            spec = update_draft(
                db,
                project,
                number,
                changes,
                expected_edit_version=form["edit_version"],
                actor=viewer.user,
            )
        except InvalidInput as exc:
            errors = {renames.get(name, name): text for name, text in exc.field_errors.items()}
            context = self._form_context(viewer, project, spec, form) | {"errors": errors}
            return page_or_partial(
                request, "specs/edit.html", "specs/_edit_form.html", context, status_code=422
            )
        except Conflict as exc:
            # Keep what this lead typed; after a stale edit the next save (deliberately)
            # replaces the other one, after a publish there is nothing left to save to.
            db.rollback()
            spec = get_spec(db, project, number)
            form["edit_version"] = spec.edit_version
            context = self._form_context(viewer, project, spec, form) | {
                "stale": exc.code == "stale_version",
                "conflict": exc.message,
            }
            # htmx swaps only 2xx and 422 responses, so the fragment is a 422; pages get 409.
            status = 422 if is_htmx(request) else 409
            return page_or_partial(
                request, "specs/edit.html", "specs/_edit_form.html", context, status_code=status
            )
        db.commit()
        if not is_htmx(request):
            return Redirect(f"/projects/{slug}/specs/{number}/edit?saved=1", status_code=303)
        context = self._form_context(viewer, project, spec, _form_from_spec(db, spec))
        return page_or_partial(
            request,
            "specs/edit.html",
            "specs/_edit_form.html",
            context | {"saved": True},
            trigger="spec-saved",
        )

    @get("/{number:int}/diff/{other:int}", opt=ANY_USER, sync_to_thread=True)
    def diff(
        self,
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        number: FromPath[int],
        other: FromPath[int],
    ) -> Template:
        """What changed going from v``number`` to v``other``, side by side."""
        project = reachable_project(db, viewer, slug)
        old = _viewable(db, viewer, project, number)
        new = _viewable(db, viewer, project, other)
        return Template(
            "specs/diff.html",
            context={
                "viewer": viewer,
                "project": project,
                "diff": diff_specs(db, old, new),
                "is_lead": _is_lead(viewer),
            },
        )

    @get("/{number:int}/publish", opt=LEAD, sync_to_thread=True)
    def confirm_publish(
        self, db: Db, viewer: CurrentViewer, slug: FromPath[str], number: FromPath[int]
    ) -> Template:
        """The confirmation step: what publishing this draft changes for annotators."""
        project = reachable_project(db, viewer, slug)
        spec = get_spec(db, project, number)
        if spec.status != "draft":
            raise Conflict(f"spec v{number} is already published")
        current = current_spec(db, project)
        diff = diff_specs(db, current, spec)
        return Template(
            "specs/publish.html",
            context={
                "viewer": viewer,
                "project": project,
                "spec": spec,
                "current": current,
                "diff": diff,
                "impact": spec_impact(db, project, current, spec, diff),
                "is_lead": True,
            },
        )

    @post("/{number:int}/publish", opt=LEAD, sync_to_thread=True)
    def publish(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        number: FromPath[int],
    ) -> Response[Any]:
        """Publish the draft; it becomes the current version."""
        project = reachable_project(db, viewer, slug)
        publish_spec(db, project, number, actor=viewer.user)
        db.commit()
        request.app.state.jobs.relay_now()
        target = f"/projects/{slug}/specs/{number}?published=1"
        return redirect_after_post(request, target)

    @staticmethod
    def _form_context(
        viewer: Viewer, project: Project, spec: SpecVersion, form: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "viewer": viewer,
            "project": project,
            "spec": spec,
            "form": form,
            "errors": {},
            "saved": False,
            "stale": False,
            "conflict": None,
            "focus_tag": "",
            "is_lead": True,
        }
