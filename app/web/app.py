"""The application factory: ``create_app(settings)`` builds a fully wired Litestar app."""

from __future__ import annotations

import gc
import logging
import secrets
from pathlib import Path

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app import __version__
from app.db.engine import is_sqlite, make_engine, make_session_factory
from app.jobs.worker import JobSystem
from app.settings import Settings
from app.web.api import API_CONTROLLERS
from app.web.auth import PUBLIC, authorize, rule_of
from app.web.controllers import PAGE_CONTROLLERS
from app.web.deps import (
    provide_db,
    provide_db_on_loop,
    provide_grant,
    provide_optional_viewer,
    provide_viewer,
)
from app.web.errors import EXCEPTION_HANDLERS
from app.web.security import SECURITY_HEADERS
from app.web.templating import configure_environment
from app.web.timing import server_timing_middleware

ROOT = Path(__file__).resolve().parents[2]
REQUEST_THREADS = 40
"""More than the threads that run sync handlers and the guard's database work at once (the event
loop's default executor: at most 32)."""
SQLITE_POOL_OVERFLOW = 10
"""SQLite connections beyond one per request thread (the job worker's, the outbox relay's)."""
log = logging.getLogger("accord.web")


def create_app(
    settings: Settings | None = None, *, start_jobs: bool = True, freeze_heap: bool = False
) -> Litestar:
    """Build the app for ``settings`` (default: from the environment).

    The database must already be migrated (``accord serve`` does that). With the embedded
    broker the app runs the job worker in-process; otherwise it only relays the outbox.
    ``freeze_heap``: the process is a server that lives on (see :func:`freeze_start_up_heap`).
    """
    settings = settings or Settings.from_env()
    logging.getLogger("accord").setLevel(settings.log_level)
    engine = _make_web_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    write_session_factory = make_session_factory(engine, immediate=True)
    jobs = JobSystem(settings, session_factory, run_worker=settings.uses_embedded_broker)

    def on_startup(app: Litestar) -> None:
        if start_jobs:
            jobs.start()
        if freeze_heap:
            freeze_start_up_heap()

    def on_shutdown(app: Litestar) -> None:
        jobs.stop()
        engine.dispose()

    template_config = TemplateConfig(
        directory=ROOT / "templates",
        engine=JinjaTemplateEngine,
        engine_callback=lambda engine_: configure_environment(engine_.engine, settings),
    )
    static = create_static_files_router(
        path="/static",
        directories=[ROOT / "static"],
        opt=PUBLIC,
        include_in_schema=False,
        send_as_attachment=False,
    )
    app = Litestar(
        route_handlers=[*PAGE_CONTROLLERS, *API_CONTROLLERS, static],
        guards=[authorize],
        dependencies={
            "db": Provide(provide_db_on_loop if is_sqlite(engine) else provide_db),
            "viewer": Provide(provide_viewer, sync_to_thread=False),
            "maybe_viewer": Provide(provide_optional_viewer, sync_to_thread=False),
            "grant": Provide(provide_grant, sync_to_thread=False),
        },
        state=State(
            {
                "settings": settings,
                "engine": engine,
                "session_factory": session_factory,
                "write_session_factory": write_session_factory,
                "jobs": jobs,
            }
        ),
        template_config=template_config,
        plugins=[HTMXPlugin()],
        csrf_config=CSRFConfig(
            secret=settings.secret_key or secrets.token_urlsafe(48),
            cookie_secure=settings.is_production,
            cookie_samesite="strict",
            exclude=["/api/"],
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        response_headers=SECURITY_HEADERS,
        middleware=[server_timing_middleware],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Accord API",
            version=__version__,
            path="/api/v1/schema",
            render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(
                        type="http", scheme="bearer", description="accord tokens create ..."
                    )
                }
            ),
            use_handler_docstrings=True,
            openapi_router=Router(
                "/api/v1/schema", route_handlers=[], include_in_schema=False, opt=PUBLIC
            ),
        ),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        debug=False,
    )
    _refuse_unguarded_routes(app)
    return app


def create_served_app() -> Litestar:
    """The app as each process of ``accord serve --workers N`` builds it."""
    return create_app(freeze_heap=True)


def freeze_start_up_heap() -> None:
    """Move everything alive once the server has started (modules, mappers, compiled
    statements, templates: about 200,000 objects) out of the garbage collector's sight.

    Python's full collections walk every tracked object, and under load they came every few
    seconds: each one stopped the event loop, and every request in flight with it, for
    115-140 ms. After this they walk only what the server made since: 5-12 ms. What is frozen
    here lives as long as the process anyway.
    """
    gc.collect()
    gc.freeze()


def _make_web_engine(database_url: str) -> Engine:
    """The web process's engine. SQLite keeps a connection for every thread that may run a
    request at once: with SQLAlchemy's default pool (5 kept) a busy server closed and reopened
    connections on most requests, each reopening its file and re-running its PRAGMAs."""
    if make_url(database_url).get_backend_name() != "sqlite":
        return make_engine(database_url)
    return make_engine(database_url, pool_size=REQUEST_THREADS, max_overflow=SQLITE_POOL_OVERFLOW)


def _refuse_unguarded_routes(app: Litestar) -> None:
    """Fail at start-up if any route handler lacks an explicit authorization rule."""
    missing = [
        f"{route.path} {handler}"
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if rule_of(handler) is None
    ]
    if missing:
        raise RuntimeError("routes without an authorization rule: " + ", ".join(missing))
