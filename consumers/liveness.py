"""Which background workers are alive: each process beats for its live workers in
PostgreSQL, so that every API process (``/healthz``) sees every worker wherever it runs.
A worker whose last beat is older than ``STALE_SECONDS`` is down: its process died (a
SIGKILL, an out-of-memory kill) or hangs. A worker that stops cleanly removes its row.

A projection's consumer beats with the partitions of the topic it holds in its consumer
group, so that ``/readyz`` can tell when every read model is fed: a group that has not
yet joined (its first join takes seconds) holds none."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import Connection
from psycopg_pool import ConnectionPool

from infra.database import create_schema, open_pool

log = logging.getLogger("arledger.liveness")

SCHEMA = """
CREATE TABLE IF NOT EXISTS worker_heartbeats (
    worker text PRIMARY KEY,
    host text NOT NULL,
    pid int NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    beat_at timestamptz NOT NULL DEFAULT now()
);
-- A projection consumer's projection and the partitions it holds (NULL for other workers).
ALTER TABLE worker_heartbeats ADD COLUMN IF NOT EXISTS projection text;
ALTER TABLE worker_heartbeats ADD COLUMN IF NOT EXISTS partitions int[];
"""
BEAT_SECONDS = 5.0
STALE_SECONDS = 20.0
# A worker whose holding changed beats at once, not at its next beat.
_poked = threading.Event()
# A projection consumer's (projection, partitions it holds); None for other workers.
Holding = tuple[str, list[int]] | None


@dataclass(frozen=True)
class WorkerBeat:
    worker: str
    host: str
    pid: int
    beat_at: datetime
    age_seconds: float
    projection: str | None = None
    partitions: tuple[int, ...] = ()

    @property
    def alive(self) -> bool:
        return self.age_seconds <= STALE_SECONDS


def ensure_schema(pool: ConnectionPool) -> None:
    create_schema(pool, SCHEMA)


def beats(conn: Connection[Any]) -> list[WorkerBeat]:
    rows = conn.execute(
        "SELECT worker, host, pid, beat_at, extract(epoch FROM now() - beat_at)::float8,"
        " projection, partitions FROM worker_heartbeats ORDER BY worker"
    ).fetchall()
    return [
        WorkerBeat(r[0], r[1], int(r[2]), r[3], float(r[4]), r[5], tuple(r[6] or ())) for r in rows
    ]


def unheld(
    beats: list[WorkerBeat], projections: Iterable[str], partitions: int
) -> dict[str, list[int]]:
    """For each projection, the partitions of the topic that no live consumer of it
    holds (only projections missing some)."""
    held: dict[str, set[int]] = defaultdict(set)
    for beat in beats:
        if beat.alive and beat.projection is not None:
            held[beat.projection].update(beat.partitions)
    every = set(range(partitions))
    missing = {name: sorted(every - held[name]) for name in projections}
    return {name: gone for name, gone in missing.items() if gone}


def poke() -> None:
    """Beat now: a consumer's partitions changed."""
    _poked.set()


class Heartbeat:
    """Beats every ``BEAT_SECONDS`` for each named worker that ``alive(name)`` says is
    running, from a thread of its own; a database that is down is waited out."""

    def __init__(
        self,
        database_url: str,
        workers: list[str],
        alive: Callable[[str], bool],
        holding: Callable[[str], Holding] = lambda _: None,
    ) -> None:
        self.database_url, self.workers, self.alive = database_url, workers, alive
        self.holding = holding
        self.host, self.pid = socket.gethostname(), os.getpid()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(stop,), name="heartbeat", daemon=True)
        thread.start()
        return thread

    def _run(self, stop: threading.Event) -> None:
        pool: ConnectionPool | None = None
        while not stop.is_set():
            try:
                pool = pool or open_pool(self.database_url, max_size=1, name="arledger-beat")
                ensure_schema(pool)
                while not stop.is_set():
                    self._beat(pool)
                    _pause(stop)
                self._leave(pool)
            except psycopg.Error as e:
                log.warning("heartbeat failed; retrying", extra={"error": repr(e)})
                stop.wait(BEAT_SECONDS)
        if pool is not None:
            pool.close()

    def _beat(self, pool: ConnectionPool) -> None:
        live = [w for w in self.workers if self.alive(w)]
        with pool.connection() as conn:
            for worker in live:
                projection, partitions = self.holding(worker) or (None, None)
                conn.execute(
                    "INSERT INTO worker_heartbeats (worker, host, pid, projection, partitions)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (worker) DO UPDATE SET"
                    " host = EXCLUDED.host, pid = EXCLUDED.pid, beat_at = now(),"
                    " projection = EXCLUDED.projection, partitions = EXCLUDED.partitions",
                    (worker, self.host, self.pid, projection, partitions),
                )

    def _leave(self, pool: ConnectionPool) -> None:
        with pool.connection() as conn:
            conn.execute(
                "DELETE FROM worker_heartbeats WHERE worker = ANY(%s) AND pid = %s",
                (self.workers, self.pid),
            )


def _pause(stop: threading.Event) -> None:
    """Until the next beat: ``BEAT_SECONDS``, or less when poked or stopped."""
    until = time.monotonic() + BEAT_SECONDS
    while not stop.is_set() and (left := until - time.monotonic()) > 0:
        if _poked.wait(min(left, 0.5)):
            _poked.clear()
            return
