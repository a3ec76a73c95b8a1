"""Re-label campaigns: publishing a spec version sends exactly the affected items back.

Publishing writes the version and a ``spec_published`` outbox job in one transaction; the job
(:func:`spec_published_job`) creates the campaign in one more: for each affected item (see
:mod:`app.domain.impact`) a :class:`RelabelItem` row, the item moved into a new labeling round with
the re-label priority, so the assignment engine opens its ``k`` re-label slots under the new
version ahead of other work. Earlier labels stay, stale (their round is over). Unaffected items
keep their round, their labels and their place.

Exactly once: the campaign is unique per spec version and its items per (campaign, item); the
job's effects commit together with the job's "done", so a worker killed half-way leaves nothing
and a second delivery finds the campaign there. Slots are unique per (item, round, slot) in the
database, so no item ever gets more than ``k`` re-label assignments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.analytics.slices import Slice, measure_slice
from app.db.models import (
    Annotation,
    Assignment,
    Item,
    Job,
    Project,
    RelabelCampaign,
    RelabelItem,
    SpecVersion,
)
from app.domain.agreement import slice_json, slice_settings
from app.domain.audit import record_event
from app.domain.bulk_insert import bulk_insert
from app.domain.candidates import KIND_PRIORITY
from app.domain.errors import NotFound
from app.domain.hotspots import mark_addressed
from app.domain.impact import SpecImpact, spec_impact
from app.domain.ratings import ratings_frame
from app.domain.spec_diff import summarize_diff
from app.domain.specs import diff_specs, get_spec
from app.domain.stats import queue_recount


def previous_published(session: Session, spec: SpecVersion) -> SpecVersion | None:
    """The version published before ``spec`` (for a draft: the current one)."""
    query = select(SpecVersion).where(
        SpecVersion.project_id == spec.project_id, SpecVersion.status == "published"
    )
    if spec.status == "published":
        query = query.where(SpecVersion.number < spec.number)
    return session.scalars(query.order_by(SpecVersion.number.desc()).limit(1)).first()


def impact_of(session: Session, project: Project, number: int) -> SpecImpact:
    """What publishing spec ``number`` does (or did) against the version before it."""
    spec = get_spec(session, project, number)
    before = previous_published(session, spec)
    return spec_impact(session, project, before, spec, diff_specs(session, before or spec, spec))


def spec_published_job(session: Session, job: Job) -> dict[str, Any]:
    """Outbox handler for ``spec_published``: create the version's re-label campaign."""
    spec = session.get(SpecVersion, job.payload["spec_version_id"])
    project = session.get(Project, job.payload["project_id"])
    if spec is None or project is None or spec.project_id != project.id:
        raise NotFound(f"spec version {job.payload['spec_version_id']} no longer exists")
    existing = session.scalar(
        select(RelabelCampaign).where(RelabelCampaign.spec_version_id == spec.id)
    )
    if existing is not None:
        return _result(existing)
    previous_number = int(job.payload["previous_number"])
    previous = get_spec(session, project, previous_number) if previous_number else None
    diff = diff_specs(session, previous or spec, spec)
    impact = spec_impact(session, project, previous, spec, diff)
    campaign = RelabelCampaign(
        project_id=project.id,
        spec_version_id=spec.id,
        previous_spec_version_id=previous.id if previous is not None else None,
        job_id=job.id,
        n_items=impact.n_items,
        overlap=project.overlap,
        impact={**impact.as_dict(), "changes": dict(summarize_diff(diff))},
    )
    session.add(campaign)
    session.flush()
    _send_back(session, campaign, spec, impact)
    record_event(
        session,
        "campaign.created",
        actor_id=job.created_by_id,
        project_id=project.id,
        subject_type="relabel_campaign",
        subject_id=campaign.id,
        number=spec.number,
        n_items=impact.n_items,
    )
    mark_addressed(session, project, spec.number, impact.rules_changed)
    queue_recount(session, project.id, actor_id=job.created_by_id)
    return _result(campaign)


def _result(campaign: RelabelCampaign) -> dict[str, Any]:
    """The job's result: the campaign, and ``summary``, what changed (a diff summary)."""
    impact = dict(campaign.impact)
    return {
        "campaign_id": campaign.id,
        "spec_version_id": campaign.spec_version_id,
        "number": impact.get("to_version"),
        "previous_number": impact.get("from_version"),
        "n_items": campaign.n_items,
        "n_assignments": campaign.n_items * campaign.overlap,
        "summary": impact.pop("changes", None),
        "impact": impact,
    }


def _send_back(
    session: Session, campaign: RelabelCampaign, spec: SpecVersion, impact: SpecImpact
) -> None:
    """Move the affected items into a new round, ahead of other work.

    Set-based: one bulk insert of the campaign's items, then one statement per change joined to
    them (per-chunk statements with thousands of bound ids cost several times more).
    """
    rounds = dict(
        session.execute(
            select(Item.id, Item.label_round).where(Item.project_id == campaign.project_id)
        ).all()
    )
    bulk_insert(
        session,
        RelabelItem,
        [
            {
                "campaign_id": campaign.id,
                "item_id": item_id,
                "stale_round": rounds[item_id],
                "reasons": reasons,
            }
            for item_id, reasons in sorted(impact.affected.items())
        ],
    )
    in_campaign = select(RelabelItem.item_id).where(RelabelItem.campaign_id == campaign.id)

    def stale_round_of(item_id: Any) -> Any:
        return (
            select(RelabelItem.stale_round)
            .where(RelabelItem.campaign_id == campaign.id, RelabelItem.item_id == item_id)
            .scalar_subquery()
        )

    # Locks the items (PostgreSQL): a claimer waiting on one reads its new round after.
    session.execute(
        update(Item)
        .where(Item.id.in_(in_campaign))
        .values(label_round=Item.label_round + 1, priority=KIND_PRIORITY["relabel"], is_full=False)
        .execution_options(synchronize_session=False)
    )
    # Work already done under the new version (between publish and now) stays valid.
    for model in (Assignment, Annotation):
        session.execute(
            update(model)
            .where(
                model.spec_version_id == spec.id,
                model.item_id.in_(in_campaign),
                model.label_round == stale_round_of(model.item_id),
            )
            .values(label_round=model.label_round + 1)
            .execution_options(synchronize_session=False)
        )
    # Leases still open under an older version end: their rules just changed.
    session.execute(
        update(Assignment)
        .where(
            Assignment.project_id == campaign.project_id,
            Assignment.state == "leased",
            Assignment.spec_version_id != spec.id,
            Assignment.item_id.in_(in_campaign),
            Assignment.label_round == stale_round_of(Assignment.item_id),
        )
        .values(state="cancelled", finished_at=func.now())
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class CampaignProgress:
    """How far a campaign got, and whether the spec fix worked on the tags it changed."""

    campaign: RelabelCampaign
    number: int
    n_items: int
    n_slots: int
    n_done: int
    n_items_done: int
    n_leased: int
    before: list[Slice]
    after: list[Slice]

    @property
    def share_done(self) -> float:
        """Re-label assignments submitted, as a share of all the campaign opened."""
        return self.n_done / self.n_slots if self.n_slots else 1.0


def campaign_for(session: Session, project: Project, number: int) -> RelabelCampaign:
    """The campaign spec version ``number`` created, or NotFound."""
    campaign = session.scalar(
        select(RelabelCampaign)
        .join(SpecVersion, SpecVersion.id == RelabelCampaign.spec_version_id)
        .where(RelabelCampaign.project_id == project.id, SpecVersion.number == number)
    )
    if campaign is None:
        raise NotFound(f"spec v{number} of {project.slug!r} has no re-label campaign (yet)")
    return campaign


def list_campaigns(session: Session, project: Project) -> list[tuple[RelabelCampaign, int]]:
    """The project's campaigns, newest first, with their spec version numbers."""
    rows = session.execute(
        select(RelabelCampaign, SpecVersion.number)
        .join(SpecVersion, SpecVersion.id == RelabelCampaign.spec_version_id)
        .where(RelabelCampaign.project_id == project.id)
        .order_by(SpecVersion.number.desc())
    )
    return [(campaign, number) for campaign, number in rows]


def campaign_progress(
    session: Session, project: Project, number: int, *, resamples: int = 1000
) -> CampaignProgress:
    """Progress of spec ``number``'s campaign and alpha before vs after on its changed tags."""
    campaign = campaign_for(session, project, number)
    new_round = RelabelItem.stale_round + 1
    counts = session.execute(
        select(
            func.count().filter(Assignment.state == "submitted"),
            func.count().filter(Assignment.state == "leased"),
        )
        .select_from(RelabelItem)
        .join(
            Assignment,
            (Assignment.item_id == RelabelItem.item_id) & (Assignment.label_round == new_round),
        )
        .where(RelabelItem.campaign_id == campaign.id)
    ).one()
    done_per_item = (
        select(RelabelItem.item_id)
        .join(
            Assignment,
            (Assignment.item_id == RelabelItem.item_id) & (Assignment.label_round == new_round),
        )
        .where(RelabelItem.campaign_id == campaign.id, Assignment.state == "submitted")
        .group_by(RelabelItem.item_id)
        .having(func.count() >= campaign.overlap)
        .subquery()
    )
    items_done = session.scalar(select(func.count()).select_from(done_per_item)) or 0
    before, after = _before_after(session, project, campaign, resamples)
    return CampaignProgress(
        campaign=campaign,
        number=number,
        n_items=campaign.n_items,
        n_slots=campaign.n_items * campaign.overlap,
        n_done=int(counts[0]),
        n_items_done=int(items_done),
        n_leased=int(counts[1]),
        before=before,
        after=after,
    )


def _before_after(
    session: Session, project: Project, campaign: RelabelCampaign, resamples: int
) -> tuple[list[Slice], list[Slice]]:
    """Per changed tag: alpha of the campaign's items on their stale labels and on the new ones."""
    tags = list(campaign.impact.get("rules_changed", []))
    rows = session.execute(
        select(
            RelabelItem.item_id,
            RelabelItem.reasons,
            Annotation.user_id,
            Annotation.value,
            Annotation.label_round == RelabelItem.stale_round,
        )
        .join(Annotation, Annotation.item_id == RelabelItem.item_id)
        .where(
            RelabelItem.campaign_id == campaign.id,
            Annotation.retracted_at.is_(None),
            Annotation.label_round.in_([RelabelItem.stale_round, RelabelItem.stale_round + 1]),
        )
    ).all()
    settings = slice_settings(session, project, resamples=resamples)
    before: list[Slice] = []
    after: list[Slice] = []
    for tag in tags:
        for was_stale, out in ((True, before), (False, after)):
            chosen = [
                (item_id, who, value)
                for item_id, reasons, who, value, stale in rows
                if f"rule:{tag}" in reasons and bool(stale) == was_stale
            ]
            out.append(measure_slice(tag, ratings_frame(chosen, project.kind), settings))
    return before, after


def progress_json(progress: CampaignProgress) -> dict[str, Any]:
    """A campaign's progress as the API serves it."""
    return {
        "spec_version": progress.number,
        "created_at": progress.campaign.created_at.isoformat(),
        "n_items": progress.n_items,
        "n_assignments": progress.n_slots,
        "n_submitted": progress.n_done,
        "n_leased": progress.n_leased,
        "n_items_done": progress.n_items_done,
        "share_done": progress.share_done,
        "impact": {k: v for k, v in progress.campaign.impact.items() if k != "changes"},
        "changes": progress.campaign.impact.get("changes"),
        "tags": [
            {"tag": b.key, "before": slice_json(b), "after": slice_json(a)}
            for b, a in zip(progress.before, progress.after, strict=True)
        ],
    }
