"""``/projects/{slug}/agreement``: the lead's disagreement dashboards.

The overview answers "how much do people agree, and where not": overall alpha with its interval
and a verdict in words, agreement per edge-case tag as a chart (point and CI whisker, threshold
lines, thin slices greyed) with a sortable table beside it, per label and per annotator. A tag's
page shows the evidence behind its number (see :mod:`app.domain.agreement_views`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.analytics.slices import Slice
from app.domain.agreement import agreement_report, agreement_reports, parse_spec_version
from app.domain.agreement_views import tag_drilldown
from app.domain.hotspots import list_hotspots
from app.domain.specs import list_specs
from app.domain.work_stats import work_stats
from app.web.auth import LEAD
from app.web.controllers.projects import reachable_project
from app.web.deps import CurrentViewer, Db
from app.web.htmx import page_or_partial

SORTS = {
    "alpha": lambda s: (s.alpha is None, s.alpha if s.alpha is not None else 0.0, s.key),
    "tag": lambda s: (s.key,),
    "n": lambda s: (-s.n_pairable, s.key),
}


def _effect_order(s: Slice) -> tuple[bool, float, str]:
    """Annotators who pull agreement down most first; those without an effect last."""
    effect = s.extra.get("loo_effect")
    return (not isinstance(effect, float), effect if isinstance(effect, float) else 0.0, s.key)


def verdict(alpha: float | None, threshold: float) -> str:
    """Krippendorff's reading of an alpha, in words."""
    if alpha is None:
        return "not measurable yet"
    if alpha >= 0.8:
        return "reliable"
    if alpha >= threshold:
        return "tentative: good enough for tentative conclusions only"
    return "unreliable: labels this inconsistent make noisy training data"


class AgreementPagesController(Controller):
    """Agreement overview and tag drill-down, for leads."""

    path = "/projects/{slug:str}/agreement"
    opt = LEAD

    @get("/", sync_to_thread=True)
    def overview(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        spec_version: FromQuery[str] = "current",
        sort: FromQuery[str] = "alpha",
    ) -> Template:
        """Overall, by tag (chart and table), by label and by annotator."""
        project = reachable_project(db, viewer, slug)
        reports = agreement_reports(
            db, project, spec_version=spec_version, groupings=("tag", "label", "annotator")
        )
        by_tag, by_label, by_annotator = reports["tag"], reports["label"], reports["annotator"]
        tags: list[Slice] = sorted(by_tag.groups, key=SORTS.get(sort, SORTS["alpha"]))
        published = [s for s in list_specs(db, project) if s.status == "published"]
        over_versions = [
            replace(
                agreement_report(db, project, spec_version=str(v.number)).overall,
                key=f"v{v.number}",
            )
            for v in sorted(published, key=lambda v: v.number)
        ]
        work = work_stats(db, project)
        return page_or_partial(
            request,
            "agreement/page.html",
            "agreement/_tags.html",
            {
                "viewer": viewer,
                "project": project,
                "is_lead": True,
                "versions": published,
                "over_versions": over_versions,
                "work": work,
                "hotspots": list_hotspots(db, project),
                "pace": {p.handle: p for p in work.people},
                "spec_version": spec_version,
                "sort": sort if sort in SORTS else "alpha",
                "overall": by_tag.overall,
                "measure": by_tag.measure,
                "verdict": verdict(by_tag.overall.alpha, project.alpha_threshold),
                "tags": tags,
                "labels": by_label.groups,
                "label_names": by_label.names,
                "annotators": sorted(by_annotator.groups, key=_effect_order),
            },
        )

    @get("/tags/{tag:str}", sync_to_thread=True)
    def tag(
        self,
        db: Db,
        viewer: CurrentViewer,
        slug: FromPath[str],
        tag: FromPath[str],
        spec_version: FromQuery[str] = "current",
    ) -> Template:
        """One tag: its alpha, coincidences, annotator x label table, flags, rules, items."""
        project = reachable_project(db, viewer, slug)
        number = parse_spec_version(db, project, spec_version)
        report = agreement_report(db, project, spec_version=spec_version, by="tag")
        slice_ = next((g for g in report.groups if g.key == tag), None)
        return Template(
            "agreement/tag.html",
            context={
                "viewer": viewer,
                "project": project,
                "is_lead": True,
                "spec_version": spec_version,
                "slice": slice_,
                "overall": report.overall,
                "view": tag_drilldown(db, project, tag, number),
            },
        )
