"""Waking a process's read-your-writes waits when a read model commits, instead of asking
the database every 10 ms.

A consumer saving a batch's positions also sends ``NOTIFY arledger_positions`` with the
read model's name (``projections/tracking.py``), delivered as its transaction commits.
One thread per process listens on its own connection and counts the commits it hears of,
by read model; a wait (``tracking.wait_for``) reads the watermark, and if it falls short,
sleeps until the count for its read model moves (or ``RECHECK_S`` passes) and reads it
again. A wait that asks once a commit is heard, not 100 times a second, ends at the commit
rather than up to 10 ms after it, and under load leaves the database the queries that
the polling took (at 200 commands/s, 50 reads a second each asked about 16 times).

The watermark also moves when the relay publishes to a partition that has applied all it
was sent, but a read model reaches a position only once each event up to it is applied,
and that is a commit. A listener cut off (a database restart) stops counting: waits then
poll as before until it listens again."""

from __future__ import annotations

import logging
import threading
from collections import Counter

import psycopg

CHANNEL = "arledger_positions"
RECHECK_S = 0.25  # a wait asks again after this even if it heard of no commit
RELISTEN_S = 1.0  # after losing its connection the listener tries again after this
_LISTEN_TICK_S = 0.1  # how often the listener looks whether it is asked to stop

log = logging.getLogger("arledger.projection")


class PositionWatch:
    """The commits of read models heard of in this process, for waits to sleep on."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._changed = threading.Condition()
        self._heard: Counter[str] = Counter()
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="position-watch", daemon=True)

    def start(self) -> PositionWatch:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def heard(self, projection: str) -> int:
        """How many commits of ``projection`` this process has heard of so far."""
        with self._changed:
            return self._heard[projection]

    def wait_past(self, projection: str, heard: int, timeout: float) -> None:
        """Sleep until a commit of ``projection`` after the first ``heard`` is heard of,
        for at most ``timeout`` seconds (at once if one is already)."""
        with self._changed:
            self._changed.wait_for(lambda: self._heard[projection] != heard, timeout)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=_LISTEN_TICK_S):
                            self._hear(notify.payload)
            except psycopg.Error as e:
                log.info("not hearing of read model commits; waits poll", extra={"error": repr(e)})
            finally:
                self._listening.clear()
            self._stop.wait(RELISTEN_S)

    def _hear(self, projection: str) -> None:
        with self._changed:
            self._heard[projection] += 1
            self._changed.notify_all()
