"""The JSON API under /api/v1 (bearer tokens, JSON errors, OpenAPI)."""

from app.web.api.agreement import AgreementApi
from app.web.api.campaigns import CampaignsApi
from app.web.api.export import ExportApi
from app.web.api.hotspots import HotspotsApi
from app.web.api.items import ItemsApi
from app.web.api.jobs import JobsApi
from app.web.api.projects import ProjectsApi
from app.web.api.snapshots import SnapshotsApi
from app.web.api.specs import SpecsApi
from app.web.api.tasks import TasksApi

API_CONTROLLERS = [
    AgreementApi,
    CampaignsApi,
    ExportApi,
    HotspotsApi,
    ItemsApi,
    JobsApi,
    ProjectsApi,
    SnapshotsApi,
    SpecsApi,
    TasksApi,
]
