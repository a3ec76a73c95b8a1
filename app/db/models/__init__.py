"""All ORM models; importing this package registers every table on ``Base.metadata``."""

from app.db.models.agreement import KeptTaggedLabels, StoredAgreementReport
from app.db.models.audit import AuditEvent
from app.db.models.campaigns import RelabelCampaign, RelabelItem
from app.db.models.hotspots import Hotspot
from app.db.models.items import ImportBatch, Item, ItemTag
from app.db.models.jobs import Job, ProjectStats
from app.db.models.people import ApiToken, ApiTokenProject, LoginAttempt, User, WebSession
from app.db.models.projects import Membership, Project, Tag
from app.db.models.snapshots import Snapshot
from app.db.models.specs import SpecAcknowledgement, SpecLabel, SpecRule, SpecVersion
from app.db.models.work import Adjudication, Annotation, AnnotationTag, Assignment
from app.db.models.workforce import (
    GoldItem,
    Invite,
    Notice,
    QualificationAnswer,
    QualificationAttempt,
)

__all__ = [
    "Adjudication",
    "Annotation",
    "AnnotationTag",
    "ApiToken",
    "ApiTokenProject",
    "Assignment",
    "AuditEvent",
    "GoldItem",
    "Hotspot",
    "ImportBatch",
    "Invite",
    "Item",
    "ItemTag",
    "Job",
    "KeptTaggedLabels",
    "LoginAttempt",
    "Membership",
    "Notice",
    "Project",
    "ProjectStats",
    "QualificationAnswer",
    "QualificationAttempt",
    "RelabelCampaign",
    "RelabelItem",
    "Snapshot",
    "SpecAcknowledgement",
    "SpecLabel",
    "SpecRule",
    "SpecVersion",
    "StoredAgreementReport",
    "Tag",
    "User",
    "WebSession",
]
