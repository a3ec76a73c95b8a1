"""``/healthz``: is the database answering, is the job broker reachable."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Response

from app.db.engine import ping
from app.web.auth import PUBLIC


class HealthController(Controller):
    """Liveness and readiness for load balancers and operators."""

    @get("/healthz", opt=PUBLIC, sync_to_thread=True)
    def healthz(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """200 when the database and the broker answer, 503 naming what is down otherwise."""
        checks: dict[str, str] = {}
        state = request.app.state
        try:
            ping(state.engine)
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 (any failure means "down"; reported below)
            checks["database"] = f"down: {type(exc).__name__}"
        try:
            state.jobs.check()
            checks["broker"] = "ok"
        except Exception as exc:  # noqa: BLE001 (as above)
            checks["broker"] = f"down: {exc}"
        healthy = all(v == "ok" for v in checks.values())
        return Response(
            {"status": "ok" if healthy else "degraded", "checks": checks},
            status_code=200 if healthy else 503,
            headers={"Cache-Control": "no-store"},
        )
