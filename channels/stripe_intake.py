"""Recording the events of many webhook deliveries in one statement (a group commit).

Each delivery must be durable before Stripe is answered, and a commit per delivery costs a
round trip and a WAL flush each. Deliveries that arrive together are handed to a writer
thread, which records all that are waiting with one statement, committed on its own (one
round trip: no BEGIN, no separate look-up, no COMMIT), then answers each: new, or a
duplicate with what became of the delivery before. A delivery waits no longer than the
statement it rides in; alone, that is the statement of one.

Up to ``WRITERS`` writers work side by side, a new one started only while every writer
is busy: while one waits for its commit to reach the disk, the next deliveries are
already being written, instead of waiting a whole commit more. Each writes its rows in
the order of their ids, so two writers meeting the same ids (a redelivery arriving with
the first) wait for each other in one order and never deadlock."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from channels.stripe_inbox import payment_intent_of, signal_received

log = logging.getLogger("arledger.stripe")

BATCH_MAX = 500
WRITERS = 3

_Item = tuple[dict[str, Any], "Future[str | None]"]
# Put on the queue by ``close``, once per writer: each records what came before, then ends.
_STOP: Any = object()


class Intake:
    """Hands each event to a writer; ``record`` returns a future of None (new) or the
    outcome of the delivery recorded before (a duplicate)."""

    def __init__(self, pool: ConnectionPool, writers: int = WRITERS) -> None:
        self.pool, self.writers_max = pool, writers
        self._clock = Clock()
        self._waiting: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._writers: list[threading.Thread] = []
        self._idle = 0  # writers waiting for a delivery
        self._lock = threading.Lock()

    def record(self, event: dict[str, Any]) -> Future[str | None]:
        done: Future[str | None] = Future()
        self._waiting.put((event, done))
        if self._idle == 0 and len(self._writers) < self.writers_max:
            self._start()
        return done

    def _start(self) -> None:
        with self._lock:
            if self._idle == 0 and len(self._writers) < self.writers_max:
                writer = threading.Thread(
                    target=self._write_forever, name="stripe-intake", daemon=True
                )
                self._writers.append(writer)
                writer.start()

    def close(self) -> None:
        """Stop the writers once they have recorded what waits (the API's services close)."""
        with self._lock:
            writers, self._writers = self._writers, []
        for _ in writers:
            self._waiting.put(_STOP)
        for writer in writers:
            writer.join(timeout=10)

    def _write_forever(self) -> None:
        while True:
            batch = self._next_batch()
            stopping = batch[-1] is _STOP
            if stopping:
                batch.pop()
            if batch:
                self._write(batch)
            if stopping:
                return

    def _next_batch(self) -> list[_Item]:
        """What waits, up to ``BATCH_MAX`` (at least one: it waits for one), or a stop."""
        with self._lock:
            self._idle += 1
        try:
            batch = [self._waiting.get()]
        finally:
            with self._lock:
                self._idle -= 1
        while len(batch) < BATCH_MAX and batch[-1] is not _STOP:
            try:
                batch.append(self._waiting.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[_Item]) -> None:
        try:
            before = self._insert([event for event, _ in batch])
        except Exception as error:  # noqa: BLE001 - handed to every delivery, which raises it
            log.warning("stripe events not recorded", extra={"error": repr(error)})
            for _, done in batch:
                done.set_exception(error)
            return
        for (_, done), earlier in zip(batch, before, strict=True):
            done.set_result(earlier)

    def _insert(self, events: list[dict[str, Any]]) -> list[str | None]:
        """``insert_new`` on a pooled connection, each statement its own transaction."""
        with self.pool.connection() as conn:
            conn.autocommit = True
            try:
                return insert_new(conn, events, self._clock)
            finally:
                if not conn.closed:  # a broken connection is dropped by the pool
                    conn.autocommit = False


class Clock:
    """Times that only go forward, one microsecond apart at least: the events of one
    commit are listed in the order they came (``received_at`` is the listing's cursor),
    not given one transaction time that a page could end in the middle of."""

    def __init__(self) -> None:
        self.last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self.last = max(datetime.now(UTC), self.last + timedelta(microseconds=1))
            return self.last


def insert_new(
    conn: Connection[Any], events: list[dict[str, Any]], clock: Clock
) -> list[str | None]:
    """Record ``events`` as ``received``; for each, None when it is new, else the outcome
    of the same id recorded before (or earlier in this batch).

    Ids recorded before are found in the same statement, without locks, and not inserted
    again: an INSERT meeting one of them would wait for the applier's transaction that is
    settling it, and hold up every delivery of the batch behind it."""
    fresh = {event["id"]: event for event in reversed(events)}  # the first of each id
    ordered = [fresh[event_id] for event_id in dict.fromkeys(e["id"] for e in events)]
    rows = [(*_row(event), clock.now()) for event in ordered]
    rows.sort(key=lambda row: str(row[0]))  # one lock order for every writer
    outcomes: dict[str, str] = {}
    inserted: set[str] = set()
    for event_id, outcome in conn.execute(_record_sql(len(rows)), _flat(rows)).fetchall():
        if outcome is None:
            inserted.add(event_id)
        else:
            outcomes[event_id] = outcome
    if inserted:
        signal_received(conn)
    raced = [e for e in fresh if e not in inserted and e not in outcomes]
    if raced:  # recorded by another writer a moment ago
        outcomes.update(conn.execute(_RACED, (raced,)).fetchall())
    answers: list[str | None] = []
    for event in events:
        event_id = event["id"]
        answers.append(None if event_id in inserted else outcomes.get(event_id, "received"))
        inserted.discard(event_id)  # a second delivery in the same batch is a duplicate
    return answers


_RACED = "SELECT event_id, outcome FROM stripe_events WHERE event_id = ANY(%s)"


def _record_sql(count: int) -> str:
    """One statement: the ids recorded before, with their outcomes; and the ids it
    recorded now, with a null outcome."""
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * count)
    return (
        "WITH arriving (event_id, type, object_id, payment_intent, created, payload,"
        f" received_at) AS (VALUES {values}),"
        " known AS (SELECT event_id, outcome FROM stripe_events"
        "  WHERE event_id IN (SELECT event_id FROM arriving)),"
        " added AS (INSERT INTO stripe_events (event_id, type, object_id, payment_intent,"
        "  created, outcome, payload, received_at)"
        "  SELECT event_id, type, object_id, payment_intent, created, 'received', payload,"
        "  received_at FROM arriving WHERE event_id NOT IN (SELECT event_id FROM known)"
        "  ORDER BY event_id ON CONFLICT (event_id) DO NOTHING RETURNING event_id)"
        " SELECT event_id, outcome FROM known UNION ALL SELECT event_id, NULL FROM added"
    )


def _flat(rows: list[tuple[Any, ...]]) -> list[Any]:
    return [value for row in rows for value in row]


def _row(event: dict[str, Any]) -> tuple[Any, ...]:
    obj = event["data"]["object"]
    return (
        event["id"],
        event["type"],
        obj.get("id"),
        payment_intent_of(obj),
        datetime.fromtimestamp(int(event["created"]), UTC),
        Jsonb(event),
    )
