"""The JSON API under /api/v1 (bearer tokens, JSON errors, OpenAPI)."""

from app.web.api.agreement import AgreementApi
from app.web.api.campaigns import CampaignsApi
from app.web.api.export import ExportApi
from app.web.api.gold import GoldApi
from app.web.api.hotspots import HotspotsApi
from app.web.api.items import ItemsApi
from app.web.api.jobs import JobsApi
from app.web.api.projects import ProjectsApi
from app.web.api.roster import RosterApi
from app.web.api.snapshots import SnapshotsApi
from app.web.api.specs import SpecsApi
from app.web.api.tasks import TasksApi
from app.web.api.workforce import WorkforceApi

API_CONTROLLERS = [
    AgreementApi,
    CampaignsApi,
    ExportApi,
    GoldApi,
    HotspotsApi,
    ItemsApi,
    JobsApi,
    ProjectsApi,
    RosterApi,
    SnapshotsApi,
    SpecsApi,
    TasksApi,
    WorkforceApi,
]
