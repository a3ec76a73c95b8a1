"""``GET /api/v1/projects/{slug}/agreement``: Krippendorff's alpha with confidence intervals.

Overall, and with ``by=tag|label|annotator`` per group; ``spec_version`` is a published version's
number, ``current`` (default) or ``all``. Needs the ``agreement:read`` scope and a lead or admin
(annotators never see others' agreement figures). Always reflects every committed annotation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from app.domain.agreement import DEFAULT_RESAMPLES, agreement_report, report_json
from app.web.api.projects import project_for, require_lead
from app.web.auth import token_scope
from app.web.deps import Db, Grant


@dataclass
class IntervalOut:
    """A bootstrap confidence interval (items resampled, seeded)."""

    low: float
    high: float
    confidence: float
    resamples: int


@dataclass
class GroupOut:
    """One group: a tag, a label (yes/no agreement on it) or an annotator (by handle).

    ``why`` says what keeps the slice from being judged reliable. Annotator groups also carry
    ``alpha_without`` (everyone else's alpha), ``loo_effect`` (overall minus that) and
    ``accuracy`` against the ruling in force on their ``n_adjudicated`` adjudicated labels.
    """

    key: str
    alpha: float | None
    ci: IntervalOut | None
    n_items: int
    n_pairable: int
    n_annotations: int
    reliable: bool
    why: str | None
    name: str | None = None
    alpha_without: float | None = None
    loo_effect: float | None = None
    n_own: int | None = None
    accuracy: float | None = None
    n_adjudicated: int | None = None


@dataclass
class AgreementOut:
    """Overall agreement and its groups (PRODUCT.md's agreement document)."""

    level: str
    spec_version: str
    alpha: float | None
    ci: IntervalOut | None
    n_items: int
    n_pairable: int
    n_annotations: int
    reliable: bool
    why: str | None
    by: str | None
    groups: list[GroupOut] = field(default_factory=list)


def _interval(raw: dict[str, Any] | None) -> IntervalOut | None:
    return IntervalOut(**raw) if raw else None


class AgreementApi(Controller):
    """Agreement figures through the JSON API."""

    path = "/api/v1/projects/{slug:str}/agreement"
    tags = ["agreement"]
    security = [{"BearerToken": []}]

    @get("/", opt=token_scope("agreement:read"), sync_to_thread=True)
    def read(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        spec_version: FromQuery[str] = "current",
        by: FromQuery[str | None] = None,
        resamples: FromQuery[int] = DEFAULT_RESAMPLES,
        confidence: FromQuery[float] = 0.95,
    ) -> AgreementOut:
        """Alpha, CI, n_items and n_pairable overall and per group; 422 names a bad parameter."""
        project = project_for(db, grant, slug)
        require_lead(grant, "agreement figures are for leads and admins")
        report = report_json(
            agreement_report(
                db,
                project,
                spec_version=spec_version,
                by=by,
                resamples=resamples,
                confidence=confidence,
            )
        )
        groups = [GroupOut(**{**g, "ci": _interval(g["ci"])}) for g in report.pop("groups")]
        return AgreementOut(**{**report, "ci": _interval(report["ci"]), "groups": groups})
