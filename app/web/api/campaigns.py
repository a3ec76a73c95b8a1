"""Spec-change impact and re-label campaigns through the JSON API (leads and admins).

``GET /api/v1/projects/{slug}/specs/{n}/impact`` previews what publishing draft ``n`` would send
back for re-labeling (for a published version: what it did). ``GET .../campaigns`` lists the
campaigns and ``GET .../campaigns/{n}`` shows one's progress and agreement before vs after on
the tags it changed. Reads need ``projects:read``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from app.domain.campaigns import campaign_progress, impact_of, list_campaigns, progress_json
from app.domain.errors import InvalidInput
from app.web.api.projects import project_for, require_lead
from app.web.auth import token_scope
from app.web.deps import Db, Grant

REFUSAL = "spec impact and campaigns are for leads and admins"


class CampaignsApi(Controller):
    """Impact previews and re-label campaigns."""

    path = "/api/v1/projects/{slug:str}"
    tags = ["campaigns"]
    security = [{"BearerToken": []}]

    @get("/specs/{number:int}/impact", opt=token_scope("projects:read"), sync_to_thread=True)
    def impact(self, db: Db, grant: Grant, slug: FromPath[str], number: FromPath[int]) -> Any:
        """Changed rules and labels, affected items, assignments to create, annotator-hours."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        return impact_of(db, project, number).as_dict()

    @get("/campaigns", opt=token_scope("projects:read"), sync_to_thread=True)
    def campaigns(self, db: Db, grant: Grant, slug: FromPath[str]) -> dict[str, Any]:
        """The project's re-label campaigns, newest first."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        return {
            "campaigns": [
                {
                    "spec_version": number,
                    "n_items": campaign.n_items,
                    "n_assignments": campaign.n_items * campaign.overlap,
                    "created_at": campaign.created_at.isoformat(),
                }
                for campaign, number in list_campaigns(db, project)
            ]
        }

    @get("/campaigns/{number:int}", opt=token_scope("projects:read"), sync_to_thread=True)
    def read(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        number: FromPath[int],
        resamples: FromQuery[int] = 1000,
    ) -> dict[str, Any]:
        """Progress of spec ``number``'s campaign and alpha before vs after per changed tag."""
        project = project_for(db, grant, slug)
        require_lead(grant, REFUSAL)
        if not 0 <= resamples <= 10_000:
            raise InvalidInput(
                "resamples must be between 0 and 10000", field_errors={"resamples": "0..10000"}
            )
        return progress_json(campaign_progress(db, project, number, resamples=resamples))
