"""Recording the events of many webhook deliveries in one transaction (a group commit).

Each delivery must be durable before Stripe is answered, and a commit per delivery costs a
round trip and a WAL flush each. Deliveries that arrive together are handed to one writer
thread, which records all that are waiting with one INSERT and one commit, then answers
each: new, or a duplicate with what became of the delivery before. A delivery waits no
longer than the transaction it rides in; alone, that is the transaction of one."""

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

from channels.stripe_inbox import payment_intent_of

log = logging.getLogger("arledger.stripe")

BATCH_MAX = 500

_Item = tuple[dict[str, Any], "Future[str | None]"]
# Put on the queue by ``close``: the writer records what came before it, then ends.
_STOP: Any = object()


class Intake:
    """Hands each event to the writer; ``record`` returns a future of None (new) or the
    outcome of the delivery recorded before (a duplicate)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._clock = Clock()
        self._waiting: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, event: dict[str, Any]) -> Future[str | None]:
        done: Future[str | None] = Future()
        self._waiting.put((event, done))
        if self._writer is None:
            self._start()
        return done

    def _start(self) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, name="stripe-intake", daemon=True
                )
                self._writer.start()

    def close(self) -> None:
        """Stop the writer once it has recorded what waits (the API's services close)."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._waiting.put(_STOP)
            writer.join(timeout=10)

    def _write_forever(self) -> None:
        while True:
            batch = [self._waiting.get()]
            while len(batch) < BATCH_MAX and batch[-1] is not _STOP:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            stopping = batch[-1] is _STOP
            if stopping:
                batch.pop()
            if batch:
                self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[_Item]) -> None:
        try:
            with self.pool.connection() as conn:
                before = insert_new(conn, [event for event, _ in batch], self._clock)
        except Exception as error:  # noqa: BLE001 - handed to every delivery, which raises it
            log.warning("stripe events not recorded", extra={"error": repr(error)})
            for _, done in batch:
                done.set_exception(error)
            return
        for (_, done), earlier in zip(batch, before, strict=True):
            done.set_result(earlier)


class Clock:
    """Times that only go forward, one microsecond apart at least: the events of one
    commit are listed in the order they came (``received_at`` is the listing's cursor),
    not given one transaction time that a page could end in the middle of."""

    def __init__(self) -> None:
        self.last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> datetime:
        self.last = max(datetime.now(UTC), self.last + timedelta(microseconds=1))
        return self.last


def insert_new(
    conn: Connection[Any], events: list[dict[str, Any]], clock: Clock
) -> list[str | None]:
    """Record ``events`` as ``received``; for each, None when it is new, else the outcome
    of the same id recorded before (or earlier in this batch).

    Ids recorded before are looked up first, without locks: an INSERT meeting one of them
    would wait for the applier's transaction that is settling it, and hold up every
    delivery of the batch behind it."""
    ids = list(dict.fromkeys(event["id"] for event in events))
    outcomes: dict[str, str] = dict(
        conn.execute(
            "SELECT event_id, outcome FROM stripe_events WHERE event_id = ANY(%s)", (ids,)
        ).fetchall()
    )
    fresh = {event["id"]: event for event in reversed(events) if event["id"] not in outcomes}
    inserted = _insert(conn, [fresh[event_id] for event_id in ids if event_id in fresh], clock)
    raced = [event_id for event_id in fresh if event_id not in inserted]
    if raced:  # recorded by another API process a moment ago
        outcomes.update(
            conn.execute(
                "SELECT event_id, outcome FROM stripe_events WHERE event_id = ANY(%s)", (raced,)
            ).fetchall()
        )
    answers: list[str | None] = []
    for event in events:
        event_id = event["id"]
        answers.append(None if event_id in inserted else outcomes.get(event_id, "received"))
        inserted.discard(event_id)  # a second delivery in the same batch is a duplicate
    return answers


def _insert(conn: Connection[Any], events: list[dict[str, Any]], clock: Clock) -> set[str]:
    """The ids of ``events`` that were recorded now, in one statement."""
    if not events:
        return set()
    rows = [(*_row(event), clock.now()) for event in events]
    values = ", ".join(["(%s, %s, %s, %s, %s, 'received', %s, %s)"] * len(rows))
    return {
        row[0]
        for row in conn.execute(
            "INSERT INTO stripe_events (event_id, type, object_id, payment_intent, created,"
            f" outcome, payload, received_at) VALUES {values}"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            [value for row in rows for value in row],
        ).fetchall()
    }


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
