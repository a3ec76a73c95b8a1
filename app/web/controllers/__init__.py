"""HTML page controllers, one per area."""

from app.web.controllers.admin_jobs import AdminJobsController
from app.web.controllers.admin_tokens import AdminTokensController
from app.web.controllers.admin_users import AdminUsersController
from app.web.controllers.agreement import AgreementPagesController
from app.web.controllers.campaigns import CampaignPagesController
from app.web.controllers.gold import GoldPagesController, QualificationPagesController
from app.web.controllers.health import HealthController
from app.web.controllers.home import HomeController
from app.web.controllers.hotspots import HotspotPagesController
from app.web.controllers.items import ItemPagesController
from app.web.controllers.people import InvitePagesController, PeoplePagesController
from app.web.controllers.projects import ProjectPagesController
from app.web.controllers.session import SessionController
from app.web.controllers.snapshots import SnapshotPagesController
from app.web.controllers.specs import SpecPagesController
from app.web.controllers.work import WorkController
from app.web.controllers.workforce import WorkforcePagesController

PAGE_CONTROLLERS = [
    AdminJobsController,
    AgreementPagesController,
    AdminTokensController,
    AdminUsersController,
    CampaignPagesController,
    GoldPagesController,
    HealthController,
    HomeController,
    HotspotPagesController,
    InvitePagesController,
    ItemPagesController,
    PeoplePagesController,
    ProjectPagesController,
    QualificationPagesController,
    SessionController,
    SnapshotPagesController,
    SpecPagesController,
    WorkController,
    WorkforcePagesController,
]
