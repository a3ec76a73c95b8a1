"""The JSON API under /api/v1 (bearer tokens, JSON errors, OpenAPI)."""

from app.web.api.jobs import JobsApi
from app.web.api.projects import ProjectsApi

API_CONTROLLERS = [JobsApi, ProjectsApi]
