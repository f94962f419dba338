"""Is an API process alive? Each process holds a PostgreSQL advisory lock of its own on a
connection of its own for as long as it runs; the server releases it the moment that
connection ends (the process exited, was killed, or lost its host). Another process asks
whether the lock is still held, so a claim left by a process that is gone is known dead at
once instead of after a timeout."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from uuid import UUID

import psycopg
from psycopg import Connection

log = logging.getLogger("arledger.lifeline")

# How often the process checks that its own lock's connection is still there.
CHECK_SECONDS = 1.0


def lock_key(instance: UUID) -> int:
    """The advisory lock (a signed bigint) of the process ``instance``."""
    return int.from_bytes(instance.bytes[:8], "big", signed=True)


def is_gone(conn: Connection[Any], key: int) -> bool:
    """Whether no session holds the lock ``key`` any more: its process is gone. Asked in
    a transaction (the lock taken to ask is let go when it ends)."""
    row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


class Lifeline:
    """This process's lock, held on a dedicated connection, taken again if that
    connection is lost (a database restart)."""

    def __init__(self, conninfo: str, instance: UUID) -> None:
        self.conninfo, self.key = conninfo, lock_key(instance)
        self._lock = threading.Lock()
        self._conn: Connection[Any] | None = None
        self._checked = 0.0
        self.hold()

    def hold(self) -> None:
        """Make sure the lock is held; cheap when it was checked a moment ago."""
        with self._lock:
            if self._conn is not None and not self._conn.closed and not self._due():
                return
            try:
                if self._conn is not None and not self._conn.closed:
                    self._conn.execute("SELECT 1")
                    return
            except psycopg.Error:
                log.warning("lost the connection holding this process's lifeline; taking it again")
            self._take()

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._checked < CHECK_SECONDS:
            return False
        self._checked = now
        return True

    def _take(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = psycopg.connect(self.conninfo, autocommit=True)
        self._conn.execute("SELECT pg_advisory_lock(%s)", (self.key,))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
