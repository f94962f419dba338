"""Health: is the store reachable, is the broker reachable, how far behind is each
projection (in store positions: the store's head minus what the projection applied)."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api import metrics
from api.deps import ServicesDep
from api.problems import CATALOGUE, TYPE_BASE
from ledger import errors
from projections import tracking
from projections.registry import PROJECTIONS

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz(svc: ServicesDep) -> JSONResponse:
    """200 when the store and the broker are reachable, with each projection's lag."""
    body: dict[str, Any] = {"store": {"ok": False}, "broker": {"ok": False}, "projections": {}}
    try:
        head = svc.ledger.head_position()
        with svc.pool.connection() as conn:
            for name in PROJECTIONS:
                applied = tracking.watermark(conn, name, svc.settings.topic)
                body["projections"][name] = {"position": applied, "lag": head - applied}
        body["store"] = {"ok": True, "position": head}
    except psycopg.Error as e:
        body["store"]["error"] = str(e)
    ok, error = svc.broker.check()
    body["broker"] = {"ok": ok, **({"error": error} if error else {})}
    healthy = body["store"]["ok"] and ok
    body["status"] = "ok" if healthy else "unavailable"
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus(request: Request, svc: ServicesDep) -> PlainTextResponse:
    """Prometheus text format: the pipeline's positions and each projection's lag, and
    this process's HTTP requests."""
    lines: list[str] = []
    try:
        head = svc.ledger.head_position()
        with svc.pool.connection() as conn:
            lines += metrics.pipeline_lines(conn, head, svc.settings.topic)
        up = 1
    except psycopg.Error:
        up = 0
    lines += [
        "# HELP arledger_store_up Whether the event store answered.",
        "# TYPE arledger_store_up gauge",
        f"arledger_store_up {up}",
    ]
    request_metrics: metrics.RequestMetrics = request.app.state.request_metrics
    lines += request_metrics.lines()
    return PlainTextResponse("\n".join(lines) + "\n", media_type=metrics.CONTENT_TYPE)


@router.get("/v1/problems", tags=["operations"])
def problem_types() -> dict[str, str]:
    """Every problem ``type`` the API returns, with its title."""
    types = {TYPE_BASE + code: title for code, title in CATALOGUE.items()}
    stack: list[type[errors.LedgerError]] = [errors.LedgerError]
    while stack:
        kind = stack.pop()
        types[TYPE_BASE + kind.code] = kind.title
        stack.extend(kind.__subclasses__())
    return dict(sorted(types.items()))
