"""A whole pipeline for one test: services, relay, consumers and the HTTP API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from api.services import Services
from infra.settings import Settings
from projections import tracking
from projections.registry import PROJECTIONS
from runtime.composition import Root
from tests.folds import fold_store, read_projection
from tests.support import Api, running_workers, serving


@dataclass
class Pipeline:
    settings: Settings
    services: Services
    api: Api

    @property
    def url(self) -> str:
        return str(self.api.http.base_url).rstrip("/")

    def until_ready(self, timeout: float = 90.0) -> Any:
        """``/readyz``'s 200, once every consumer group holds its partitions."""
        deadline = time.monotonic() + timeout
        while (reply := self.api.get("/readyz")).status_code != 200:
            assert reply.status_code == 503, reply.text
            assert time.monotonic() < deadline, f"never ready: {reply.json()}"
            time.sleep(0.2)
        return reply

    def wait_until_projected(self, position: int | None = None, timeout: float = 60) -> None:
        """Every read model at ``position``; without one, at the store's head once the
        notifier has nothing left to do (its notifications are events too)."""
        deadline = time.monotonic() + timeout
        while True:
            target = self.services.ledger.head_position() if position is None else position
            for name in PROJECTIONS:
                reached = tracking.wait_for(
                    self.services.pool, name, self.settings.topic, target, timeout
                )
                assert reached, f"{name} did not reach position {target}: {self.positions()}"
            if position is not None:
                return
            if self._notifier_idle() and self.services.ledger.head_position() == target:
                return  # idle, and nothing appended since what the read models reached
            assert time.monotonic() < deadline, "the notifier did not finish"
            time.sleep(0.05)

    def _notifier_idle(self) -> bool:
        with self.services.pool.connection() as conn:
            if conn.execute("SELECT to_regclass('notification_dispatches')").fetchone() == (None,):
                return True  # no notifier ever ran here
            row = conn.execute(
                "SELECT count(*) FROM notification_requests r WHERE NOT EXISTS (SELECT 1 FROM"
                " notification_dispatches d WHERE d.notification_id = r.notification_id)"
            ).fetchone()
        return row == (0,)

    def positions(self) -> dict[str, Any]:
        """The relay's and the projection's bookkeeping, to explain a failed wait."""
        with self.services.pool.connection() as conn:
            return {
                "relay": conn.execute("SELECT * FROM relay_positions").fetchall(),
                "relay_partitions": conn.execute(
                    "SELECT partition, position FROM relay_partitions ORDER BY 1"
                ).fetchall(),
                "projection": conn.execute(
                    "SELECT projection, partition, position FROM projection_positions ORDER BY 1, 2"
                ).fetchall(),
                "head": self.services.ledger.head_position(),
            }

    def projection_equals_store(self, timeout: float = 60) -> tuple[Any, Any]:
        """Wait for the projection to reach the store's head; return (projected, folded)."""
        self.wait_until_projected(timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            projected = read_projection(self.services.pool)
            folded = fold_store(self.services.ledger)
            if projected == folded or time.monotonic() > deadline:
                return projected, folded
            time.sleep(0.1)


@contextmanager
def pipeline(settings: Settings, *, consumers: int = 1, workers: bool = True) -> Iterator[Pipeline]:
    services = Root(settings).services()
    with ExitStack() as stack:
        stack.callback(services.close)
        if workers:
            stack.enter_context(running_workers(settings, consumers=consumers))
        url = stack.enter_context(serving(settings, services))
        api = Api(url)
        stack.callback(api.close)
        yield Pipeline(settings, services, api)
