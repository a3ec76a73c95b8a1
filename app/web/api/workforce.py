"""``/api/v1/projects/{slug}/workforce``: the lead's workforce report as JSON, and the weekly
metrics as CSV or Parquet for their own reporting."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.params import FromPath, FromQuery
from sqlalchemy.orm import Session

from app.db.models import Project
from app.domain.export_files import serialize
from app.domain.workforce import MemberReport, WorkforceReport, workforce_report
from app.domain.workforce_export import parse_weekly_request, weekly_metrics
from app.web.api.projects import project_for, require_lead
from app.web.auth import token_scope
from app.web.deps import Db, Grant

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def weekly_download(db: Session, project: Project, fmt: str, weeks: int | str) -> Response[bytes]:
    """The weekly metrics file (validated parameters; 422 naming a bad one)."""
    fmt, n = parse_weekly_request(fmt, weeks)
    frame = weekly_metrics(db, project, weeks=n)
    return Response(
        b"".join(serialize(frame, fmt)),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{project.slug}-workforce-weekly.{fmt}"'
        },
    )


def _member_json(m: MemberReport) -> dict[str, Any]:
    user, membership, pace, a = m.row.user, m.row.membership, m.pace, m.agreement
    return {
        "handle": user.handle,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "status": membership.status,
        "paused_reason": membership.paused_reason or None,
        "paused_by": m.row.paused_by_name or None,
        "daily_quota": membership.daily_quota,
        "qualification": m.qualification,
        "pending_spec": m.pending_spec,
        "online": m.online,
        "labels": pace.n_labels if pace else 0,
        "items_per_hour": pace.items_per_hour if pace else None,
        "median_seconds": pace.median_seconds if pace else None,
        "p90_seconds": pace.p90_seconds if pace else None,
        "skip_rate": pace.skip_rate if pace else None,
        "unclear_rate": pace.unclear_rate if pace else None,
        "gold": {"n": m.gold.n, "correct": m.gold.correct, "accuracy": m.gold.accuracy}
        if m.gold is not None
        else None,
        "agreement": {
            "alpha": a.alpha,
            "ci": {"low": a.ci.low, "high": a.ci.high} if a.ci else None,
            "n_pairable": a.n_pairable,
            "alpha_without": a.extra.get("alpha_without"),
            "loo_effect": a.extra.get("loo_effect"),
        }
        if a is not None
        else None,
        "weekly": [
            {"week_start": week.isoformat(), "labels": n}
            for week, n in (pace.weekly if pace else [])
        ],
        "needs_help": m.needs_help,
    }


def report_json(report: WorkforceReport) -> dict[str, Any]:
    """The workforce report in the API's shape."""
    work = report.work
    return {
        "project": report.project.slug,
        "at": report.at.isoformat(),
        "throughput": {
            "per_day": [{"day": day.isoformat(), "labels": n} for day, n in work.per_day],
            "labels_done": work.slots_done,
            "labels_needed": work.slots_needed,
            "backlog": work.slots_needed - work.slots_done,
            "eta_days": work.eta_days,
        },
        "slo_import_to_k": {
            "n_items": report.slo.n_items,
            "median_hours": report.slo.median_hours,
            "p90_hours": report.slo.p90_hours,
        },
        "active_leases": report.active_leases,
        "online": report.online,
        "people": [_member_json(m) for m in report.members],
    }


class WorkforceApi(Controller):
    """Workforce figures for leads."""

    path = "/api/v1/projects/{slug:str}/workforce"
    tags = ["workforce"]
    security = [{"BearerToken": []}]

    @get("/", opt=token_scope("projects:read"), sync_to_thread=True)
    def report(self, db: Db, grant: Grant, slug: FromPath[str]) -> dict[str, Any]:
        """Throughput, backlog, SLO, leases, who is online, and per person their figures and
        why they may need help."""
        project = project_for(db, grant, slug)
        require_lead(grant, "only leads and admins read workforce figures")
        return report_json(workforce_report(db, project))

    @get("/weekly", opt=token_scope("projects:read"), sync_to_thread=True)
    def weekly(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        format: FromQuery[str] = "csv",
        weeks: FromQuery[str] = "8",
    ) -> Response[bytes]:
        """Per person and week: labels, times, skip and unclear rates, gold accuracy."""
        project = project_for(db, grant, slug)
        require_lead(grant, "only leads and admins read workforce figures")
        return weekly_download(db, project, format, weeks)
