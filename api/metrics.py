"""Prometheus metrics: the pipeline's positions and lag (read from PostgreSQL, so every
API process reports the same), and this process's HTTP requests by route and status."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from fastapi import FastAPI

from api.door import App, Message, Receive, Scope, Send
from projections import held, tracking
from projections.registry import PROJECTIONS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Requests are labelled by these methods; any other is counted as "other", so that a
# client sending made-up methods cannot grow the metrics without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """Counts and a latency histogram per (method, route template, status)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count: dict[tuple[str, str, int], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(
            lambda: [0] * len(LATENCY_BUCKETS)
        )
        self.observed: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.count[(method, route, status)] += 1
            self.seconds[(method, route)] += seconds
            self.observed[(method, route)] += 1
            counts = self.buckets[(method, route)]
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1

    def lines(self) -> list[str]:
        out = [
            "# HELP arledger_http_requests_total HTTP requests answered by this process.",
            "# TYPE arledger_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.count.items()):
                out.append(
                    f'arledger_http_requests_total{{method="{method}",route="{route}",'
                    f'status="{status}"}} {n}'
                )
            out += [
                "# HELP arledger_http_request_seconds Time to answer, by route.",
                "# TYPE arledger_http_request_seconds histogram",
            ]
            for (method, route), counts in sorted(self.buckets.items()):
                labels = f'method="{method}",route="{route}"'
                for bound, n in zip(LATENCY_BUCKETS, counts, strict=True):
                    out.append(f'arledger_http_request_seconds_bucket{{{labels},le="{bound}"}} {n}')
                total = self.observed[(method, route)]
                out.append(f'arledger_http_request_seconds_bucket{{{labels},le="+Inf"}} {total}')
                spent = self.seconds[(method, route)]
                out.append(f"arledger_http_request_seconds_sum{{{labels}}} {spent:.6f}")
                out.append(f"arledger_http_request_seconds_count{{{labels}}} {total}")
        return out


def install(app: FastAPI) -> RequestMetrics:
    metrics = RequestMetrics()
    app.state.request_metrics = metrics
    app.add_middleware(Measure, metrics=metrics)
    return metrics


class Measure:
    """ASGI middleware: observes each HTTP request's method, route template, status and
    time to its last byte. Plain ASGI, as the door is: Starlette's ``BaseHTTPMiddleware``
    runs every request through a task and a memory stream of its own, a sizeable share of
    a command's CPU time."""

    def __init__(self, app: App, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when nothing is sent (the server's own 500)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.observe(method, template, status, time.perf_counter() - started)


def pipeline_lines(conn: Any, head: int, topic: str) -> list[str]:
    """The store's head, the relay's position, and each projection's position and lag
    (store positions not yet applied), overall and per partition."""
    out = [
        "# HELP arledger_store_head_position Global position of the newest stored event.",
        "# TYPE arledger_store_head_position gauge",
        f"arledger_store_head_position {head}",
        "# HELP arledger_relay_position Store position the relay has published up to.",
        "# TYPE arledger_relay_position gauge",
    ]
    row = conn.execute("SELECT position FROM relay_positions WHERE relay = %s", (topic,)).fetchone()
    out.append(f'arledger_relay_position{{topic="{topic}"}} {int(row[0]) if row else 0}')
    out += [
        "# HELP arledger_projection_position Store position a read model is complete up to.",
        "# TYPE arledger_projection_position gauge",
        "# HELP arledger_projection_lag Store positions a read model is behind the head.",
        "# TYPE arledger_projection_lag gauge",
        "# HELP arledger_projection_partition_position Last position applied, per partition.",
        "# TYPE arledger_projection_partition_position gauge",
        "# HELP arledger_projection_partition_lag Published position less applied, per partition.",
        "# TYPE arledger_projection_partition_lag gauge",
    ]
    published = dict(
        conn.execute(
            "SELECT partition, position FROM relay_partitions WHERE relay = %s", (topic,)
        ).fetchall()
    )
    out += [
        "# HELP arledger_projection_held_accounts Accounts a read model holds back.",
        "# TYPE arledger_projection_held_accounts gauge",
        "# HELP arledger_projection_held_events Events a read model could not apply or holds.",
        "# TYPE arledger_projection_held_events gauge",
    ]
    holds = held.holds(conn)
    for name in PROJECTIONS:
        mine = [h for h in holds if h.projection == name]
        out.append(f'arledger_projection_held_accounts{{projection="{name}"}} {len(mine)}')
        events = sum(h.events for h in mine)
        out.append(f'arledger_projection_held_events{{projection="{name}"}} {events}')
    for name in PROJECTIONS:
        applied = tracking.watermark(conn, name, topic)
        out.append(f'arledger_projection_position{{projection="{name}"}} {applied}')
        out.append(f'arledger_projection_lag{{projection="{name}"}} {head - applied}')
        applied_at = tracking.positions(conn, name)
        for partition in sorted(set(published) | set(applied_at)):
            labels = f'projection="{name}",partition="{partition}"'
            at = applied_at.get(partition, 0)
            behind = max(int(published.get(partition, 0)) - at, 0)
            out.append(f"arledger_projection_partition_position{{{labels}}} {at}")
            out.append(f"arledger_projection_partition_lag{{{labels}}} {behind}")
    return out
