"""``/api/v1/projects/{slug}``: invites, the roster (pause, resume, remove, quotas) and the
project's workforce rules, for the project's leads.

Every route needs a token that reaches the project (404 otherwise, like the rest of the API)
and a lead or admin behind it (403); reads need ``projects:read``, changes ``projects:write``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from sqlalchemy.orm import Session

from app.db.models import Invite, Project
from app.domain.errors import InvalidInput
from app.domain.invites import DEFAULT_VALID_DAYS, create_invite, list_invites, revoke_invite
from app.domain.roster import (
    RosterRow,
    get_membership,
    list_roster,
    parse_quota,
    pause_member,
    remove_member,
    resume_member,
    set_member_quota,
)
from app.domain.tokens import TokenGrant
from app.domain.workforce_rules import RULES_BY_NAME, set_workforce_rules, workforce_rules
from app.web.api.projects import project_for, require_lead
from app.web.auth import token_scope
from app.web.deps import Db, Grant

READ = token_scope("projects:read")
WRITE = token_scope("projects:write")
REFUSAL = "only the project's leads and admins manage its people"


@dataclass
class InviteIn:
    """``POST /projects/{slug}/invites``: whom to invite, as what, for how many days."""

    email: str
    role: str = "annotator"
    valid_days: int = DEFAULT_VALID_DAYS


@dataclass
class InviteOut:
    """An invite as served (never its token)."""

    id: int
    email: str
    role: str
    status: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None


@dataclass
class InviteCreated:
    """The new invite and its link, shown only in this response."""

    invite: InviteOut
    url: str


@dataclass
class InviteList:
    """``GET /projects/{slug}/invites``, newest first."""

    invites: list[InviteOut]


@dataclass
class PauseIn:
    """``POST .../members/{user_id}/pause``: why (shown to the person)."""

    reason: str = ""


@dataclass
class QuotaIn:
    """``PATCH .../members/{user_id}``: the person's labels-per-day limit (null: the project's
    default applies)."""

    daily_quota: int | None


@dataclass
class RosterMemberOut:
    """A member with their status, who paused them and why, and their own quota."""

    user_id: int
    handle: str
    name: str
    email: str | None
    role: str
    status: str
    paused_at: datetime | None
    paused_reason: str
    paused_by: str
    daily_quota: int | None


@dataclass
class RosterOut:
    """``GET /projects/{slug}/roster``."""

    members: list[RosterMemberOut]


@dataclass
class MemberEnvelope:
    """``{"member": ...}``."""

    member: RosterMemberOut


def invite_out(invite: Invite, status: str) -> InviteOut:
    """Serialize an invite."""
    return InviteOut(
        invite.id,
        invite.email,
        invite.role,
        status,
        invite.created_at,
        invite.expires_at,
        invite.accepted_at,
    )


def roster_member_out(row: RosterRow) -> RosterMemberOut:
    """Serialize a roster row."""
    m = row.membership
    return RosterMemberOut(
        user_id=row.user.id,
        handle=row.user.handle,
        name=row.user.name,
        email=row.user.email,
        role=row.user.role,
        status=m.status,
        paused_at=m.paused_at,
        paused_reason=m.paused_reason,
        paused_by=row.paused_by_name,
        daily_quota=m.daily_quota,
    )


def _lead_project(db: Session, grant: TokenGrant, slug: str) -> Project:
    """The project if the token reaches it (else 404) and its user leads (else 403)."""
    project = project_for(db, grant, slug)
    require_lead(grant, REFUSAL)
    return project


def _member(db: Session, project: Project, user_id: int) -> MemberEnvelope:
    """One member's roster entry, as served after a change."""
    get_membership(db, project, user_id)  # NotFound for non-members
    (row,) = [r for r in list_roster(db, project) if r.user.id == user_id]
    return MemberEnvelope(roster_member_out(row))


class RosterApi(Controller):
    """Invites, roster and workforce rules through the JSON API."""

    path = "/api/v1/projects/{slug:str}"
    tags = ["roster"]
    security = [{"BearerToken": []}]

    @post("/invites", opt=WRITE, sync_to_thread=True, status_code=201)
    def invite(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        data: JSONBody[InviteIn],
    ) -> InviteCreated:
        """Invite a person by email; the link in ``url`` is shown only this once."""
        project = _lead_project(db, grant, slug)
        invite, raw = create_invite(
            db, project, data.email, data.role, actor=grant.user, valid_days=data.valid_days
        )
        db.commit()
        url = str(request.base_url).rstrip("/") + f"/invites/{raw}"
        return InviteCreated(invite_out(invite, "pending"), url)

    @get("/invites", opt=READ, sync_to_thread=True)
    def invites(self, db: Db, grant: Grant, slug: FromPath[str]) -> InviteList:
        """The project's invites with their status: pending, accepted, expired or revoked."""
        project = _lead_project(db, grant, slug)
        return InviteList([invite_out(r.invite, r.status) for r in list_invites(db, project)])

    @delete("/invites/{invite_id:int}", opt=WRITE, sync_to_thread=True, status_code=204)
    def revoke(self, db: Db, grant: Grant, slug: FromPath[str], invite_id: FromPath[int]) -> None:
        """Withdraw an invite: its link stops working (409 if it was already accepted)."""
        project = _lead_project(db, grant, slug)
        revoke_invite(db, project, invite_id, actor_id=grant.user.id)
        db.commit()

    @get("/roster", opt=READ, sync_to_thread=True)
    def roster(self, db: Db, grant: Grant, slug: FromPath[str]) -> RosterOut:
        """Every member with their user id, status, pause reason and quota."""
        project = _lead_project(db, grant, slug)
        return RosterOut([roster_member_out(r) for r in list_roster(db, project)])

    @post("/members/{user_id:int}/pause", opt=WRITE, sync_to_thread=True, status_code=200)
    def pause(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        user_id: FromPath[int],
        data: JSONBody[PauseIn | None] = None,
    ) -> MemberEnvelope:
        """Pause a member: they lose access to the project and their leases are released."""
        project = _lead_project(db, grant, slug)
        reason = data.reason if data is not None else ""
        pause_member(db, project, user_id, reason, actor_id=grant.user.id)
        db.commit()
        return _member(db, project, user_id)

    @post("/members/{user_id:int}/resume", opt=WRITE, sync_to_thread=True, status_code=200)
    def resume(
        self, db: Db, grant: Grant, slug: FromPath[str], user_id: FromPath[int]
    ) -> MemberEnvelope:
        """Reinstate a paused member."""
        project = _lead_project(db, grant, slug)
        resume_member(db, project, user_id, actor_id=grant.user.id)
        db.commit()
        return _member(db, project, user_id)

    @delete("/members/{user_id:int}", opt=WRITE, sync_to_thread=True, status_code=204)
    def remove(self, db: Db, grant: Grant, slug: FromPath[str], user_id: FromPath[int]) -> None:
        """Take a person off the project (their annotations stay; their leases are released)."""
        project = _lead_project(db, grant, slug)
        remove_member(db, project, user_id, actor_id=grant.user.id)
        db.commit()

    @patch("/members/{user_id:int}", opt=WRITE, sync_to_thread=True)
    def set_quota(
        self,
        db: Db,
        grant: Grant,
        slug: FromPath[str],
        user_id: FromPath[int],
        data: JSONBody[QuotaIn],
    ) -> MemberEnvelope:
        """Set the member's daily quota (null: the project's default applies)."""
        project = _lead_project(db, grant, slug)
        quota = parse_quota(data.daily_quota)
        set_member_quota(db, project, user_id, quota, actor_id=grant.user.id)
        db.commit()
        return _member(db, project, user_id)

    @get("/workforce-rules", opt=READ, sync_to_thread=True)
    def rules(self, db: Db, grant: Grant, slug: FromPath[str]) -> dict[str, Any]:
        """The project's workforce rules: qualification, gold checks, quotas and caps."""
        project = _lead_project(db, grant, slug)
        return workforce_rules(project)

    @patch("/workforce-rules", opt=WRITE, sync_to_thread=True)
    def set_rules(
        self, db: Db, grant: Grant, slug: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        """Change some workforce rules; 422 names every bad field and nothing changes."""
        project = _lead_project(db, grant, slug)
        unknown = sorted(set(data) - set(RULES_BY_NAME))
        if unknown:
            raise InvalidInput(
                "the workforce rules were not saved",
                field_errors={name: "not a workforce rule" for name in unknown},
            )
        set_workforce_rules(db, project, actor_id=grant.user.id, **data)
        db.commit()
        return workforce_rules(project)
