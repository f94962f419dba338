"""Handing out the connection a pool took back last, not the one it took back first.

psycopg_pool keeps its idle connections in a queue: a process running one command at a
time (the scheduler, a consumer, the in-process writer) cycles through every connection
the pool holds, each served by a server process of its own whose caches have gone cold
since its turn came last. Taken from the top of a stack instead, a quiet process keeps
using one connection and one warm server process; the rest sit idle at the queue's head,
where the pool's shrinking closes them first (it closes the head's), and where
``infra/pool_check.py`` checks them before they are handed out again. In-process commands
ran 4% faster (medians of seven interleaved runs of 1,500 commands: 1,333 against 1,278
commands/s), the pool's CPU unchanged."""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool


class _MostRecentFirst(ConnectionPool):
    """A ``ConnectionPool`` whose idle connections are handed out most recent first."""

    def _get_ready_connection(self, timeout: float | None) -> Any:
        # Called under the pool's lock. Connections come back to the tail of the queue,
        # and are taken from its head: the tail's moves to the head first.
        self._pool.rotate(1)
        return super()._get_ready_connection(timeout)


def most_recent_first(pool: ConnectionPool[Any]) -> ConnectionPool[Any]:
    """Make ``pool`` (a plain ``ConnectionPool``, open or not) hand out the connection
    taken back last; returns it."""
    if type(pool) is ConnectionPool:
        pool.__class__ = _MostRecentFirst
    return pool
