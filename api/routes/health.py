"""Health: is the store reachable, is the broker reachable, how far behind is each
projection (in store positions: the store's head minus what the projection applied).
Readiness: does every projection's consumer group hold all its partitions."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api import metrics
from api.deps import ServicesDep
from api.problems import CATALOGUE, NOT_ANSWERED, TYPE_BASE
from consumers import liveness
from ledger import errors
from projections import held, tracking
from projections.registry import PROJECTIONS

router = APIRouter(tags=["operations"])


# A projection behind the head whose position has not moved for this long is stalled.
LAG_STALL_SECONDS = 120.0
_last_moved: dict[tuple[str, str], tuple[int, float]] = {}
# Seconds a 503 of /healthz or /readyz asks a client (or a load balancer) to wait.
RETRY_AFTER = "1"


@router.get("/healthz")
def healthz(svc: ServicesDep) -> JSONResponse:
    """200 when the store and the broker are reachable, every background worker that
    has beaten is alive, and no projection is stalled behind the head; else 503 with
    ``Retry-After`` and what is wrong in ``problems``. Accounts a read model holds back
    make it "degraded"."""
    body: dict[str, Any] = {"store": {"ok": False}, "broker": {"ok": False}, "projections": {}}
    problems: list[str] = []
    try:
        head = svc.ledger.head_position()
        with svc.pool.connection() as conn:
            for name in PROJECTIONS:
                applied = tracking.watermark(conn, name, svc.settings.topic)
                stalled = _stalled(svc.settings.topic, name, applied, head)
                body["projections"][name] = {
                    "position": applied,
                    "lag": head - applied,
                    "stalled": stalled,
                }
                if stalled:
                    problems.append(f"the {name} read model has not moved for a while")
            body["held"] = [_shown(h) for h in held.holds(conn)]
            beats = liveness.beats(conn)
            body["workers"] = [_beat(b) for b in beats]
        body["store"] = {"ok": True, "position": head}
        unheld = liveness.unheld(beats, PROJECTIONS, svc.settings.topic_partitions)
    except psycopg.Error as e:
        body["store"]["error"] = str(e)
        problems.append("the store is unreachable")
        unheld = {}
    ok, error = svc.broker.check()
    body["broker"] = {"ok": ok, **({"error": error} if error else {})}
    if not ok:
        problems.append("the broker is unreachable")
    problems += [f"worker {w['worker']} is down" for w in body.get("workers", []) if not w["alive"]]
    body["problems"] = problems
    body["ready"] = not problems and not unheld and body["store"]["ok"]
    body["status"] = "unavailable" if problems else "degraded" if body.get("held") else "ok"
    if problems:
        return JSONResponse(body, status_code=503, headers={"Retry-After": RETRY_AFTER})
    return JSONResponse(body)


@router.get("/readyz")
def readyz(svc: ServicesDep) -> JSONResponse:
    """200 when the store and the broker answer and every projection's consumer group
    holds all the topic's partitions (as its live consumers' heartbeats say), so that a
    command's effect is readable within a read's wait; else 503 with ``Retry-After`` and
    the reasons."""
    reasons: list[str] = []
    unheld: dict[str, list[int]] = {}
    try:
        with svc.pool.connection() as conn:
            beats = liveness.beats(conn)
        unheld = liveness.unheld(beats, PROJECTIONS, svc.settings.topic_partitions)
    except psycopg.Error:
        reasons.append("the store is unreachable")
    ok, _ = svc.broker.check()
    if not ok:
        reasons.append("the broker is unreachable")
    reasons += [
        f"no live consumer of the {name} read model holds partitions "
        + ", ".join(map(str, partitions))
        for name, partitions in unheld.items()
    ]
    body = {"ready": not reasons, "reasons": reasons, "unheld_partitions": unheld}
    if reasons:
        return JSONResponse(body, status_code=503, headers={"Retry-After": RETRY_AFTER})
    return JSONResponse(body)


def _stalled(topic: str, projection: str, applied: int, head: int) -> bool:
    """Behind the head with no progress for ``LAG_STALL_SECONDS``."""
    now = time.monotonic()
    seen = _last_moved.get((topic, projection))
    if applied >= head or seen is None or seen[0] != applied:
        _last_moved[(topic, projection)] = (applied, now)
        return False
    return now - seen[1] > LAG_STALL_SECONDS


def _beat(beat: liveness.WorkerBeat) -> dict[str, Any]:
    return {
        "worker": beat.worker,
        "host": beat.host,
        "pid": beat.pid,
        "last_beat_s": round(beat.age_seconds, 1),
        "alive": beat.alive,
    }


def _shown(hold: held.Hold) -> dict[str, Any]:
    return {
        "projection": hold.projection,
        "account_id": hold.account_id,
        "position": hold.position,
        "type": hold.event_type,
        "reason": hold.reason,
        "held_at": hold.held_at.isoformat(),
        "events_held": hold.events,
    }


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
        if kind.code not in NOT_ANSWERED:
            types[TYPE_BASE + kind.code] = kind.title
        stack.extend(kind.__subclasses__())
    return dict(sorted(types.items()))
