"""Jinja environment set-up: autoescape on, filters for dates, Markdown and numbers."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment

from app import __version__
from app.db.base import utcnow
from app.settings import Settings
from app.web.markdown import render_markdown

HTMX_CONFIG = (
    '{"allowEval": false, "allowScriptTags": false, "selfRequestsOnly": true, '
    '"includeIndicatorStyles": false, "historyCacheSize": 0, "attributesToSettle": ["class"], '
    '"responseHandling": [{"code": "204", "swap": false}, {"code": "[23]..", "swap": true}, '
    '{"code": "422", "swap": true}, {"code": "[45]..", "swap": false, "error": true}]}'
)


def format_datetime(value: datetime | None) -> str:
    """A compact UTC timestamp, or an em dash."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def time_left(until: datetime) -> str:
    """``m:ss left`` until a moment (a lease's expiry), or ``expired``."""
    seconds = int((until - utcnow()).total_seconds())
    return f"{seconds // 60}:{seconds % 60:02d} left" if seconds > 0 else "expired"


def configure_environment(env: Environment, settings: Settings) -> None:
    """Register Accord's filters and globals on the Jinja environment."""
    env.autoescape = True
    env.filters["markdown"] = render_markdown
    env.filters["when"] = format_datetime
    env.filters["time_left"] = time_left
    env.globals["accord_version"] = __version__
    env.globals["htmx_config"] = HTMX_CONFIG
    env.globals["is_production"] = settings.is_production
