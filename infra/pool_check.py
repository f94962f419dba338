"""Checking a pooled connection before it is handed out only when it has sat unused.

The library's ``POSTGRES_PRE_PING`` checks every connection on every checkout: one round
trip more per store read, about a sixth of a command's time under load. A connection
handed out moments ago is alive as far as a check could tell; one that has sat unused
may have been cut (a PostgreSQL restart, an idle timeout on the way). So a connection is
checked when it was last handed out more than ``IDLE_BEFORE_CHECK_S`` ago. A connection
cut within that window fails its statement instead: the library retries a failed store
operation (10 times, 0.2 s apart) on another connection, and the pool drops the broken
one, so after a restart at most the connections used in the last moment are tried and
dropped before every other is checked.

A connection that fails its check means the database cut its sessions, so every other
connection resting in the pool is checked at once too, and the dead ones replaced: the
pool's own loop would try them one at a time, sleeping longer after each failure (1, 2, 4,
8 s...), and a caller alone in asking (a group commit's leader, a quiet process) would
wait out the sum of those sleeps."""

from __future__ import annotations

import threading
from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary

from psycopg import Connection
from psycopg_pool import ConnectionPool

IDLE_BEFORE_CHECK_S = 0.5


class CheckWhenIdle:
    """A pool's ``check``: the library's own check, on connections that sat unused."""

    def __init__(
        self, pool: ConnectionPool[Any] | None = None, idle_s: float = IDLE_BEFORE_CHECK_S
    ) -> None:
        self.pool = pool
        self.idle_s = idle_s
        self._handed_out: WeakKeyDictionary[Connection[Any], float] = WeakKeyDictionary()
        self._lock = threading.Lock()
        self.checks = 0  # how many connections were checked: for tests and curiosity

    def __call__(self, conn: Connection[Any]) -> None:
        now = monotonic()
        with self._lock:
            last = self._handed_out.get(conn)
            self._handed_out[conn] = now
        if last is None or now - last > self.idle_s:
            self.checks += 1
            try:
                ConnectionPool.check_connection(conn)
            except Exception:
                if self.pool is not None:
                    self.pool.check()  # the others the cut left dead, replaced at once
                raise


def check_when_idle(pool: ConnectionPool[Any]) -> CheckWhenIdle:
    """Make ``pool`` check only connections that sat unused; returns the check."""
    check = CheckWhenIdle(pool)
    pool._check = check  # the pool's ``check`` argument, which the library sets
    return check
