"""Applying the Stripe events the webhook kept, apart from receiving them.

The webhook checks the signature, records the event as ``received`` and answers 2xx at
once, as Stripe asks of an endpoint; this applier takes what waits, oldest first, a batch
at a time, and settles each event with its outcome. It is built to apply each event once
and in order:

- one applier works at a time: it holds a session advisory lock, and another one (a
  second ``consume`` process) stands by until that session ends;
- within a batch, the events of one PaymentIntent go to one lane and are applied in the
  order they arrived; lanes of different PaymentIntents run side by side;
- a lane settles its rows in one transaction after the ledger's commands commit; if the
  process dies in between, the rows are still ``received`` and are applied again after a
  restart, which the ledger's idempotent ids turn into no second effect;
- an event that needs a payment the ledger lacks waits as ``deferred`` and is applied
  right after the payment's event, as before.

A database that is gone, or a ledger that answers ``Unavailable``, stops the applier
(its worker is restarted); an event that breaks a handler is settled as ``error`` with
the reason, logged, and does not hold the others back."""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from psycopg import Connection
from psycopg_pool import ConnectionPool, PoolTimeout

from channels import stripe_inbox
from channels.stripe_apply import CREATES_PAYMENT, Outcome, StripeEvents, refused
from ledger.errors import LedgerError, Unavailable

log = logging.getLogger("arledger.stripe")

BATCH_SIZE = 200
LANES = 4
IDLE_POLL_SECONDS = 0.1
STANDBY_POLL_SECONDS = 2.0
LOCK_KEY = "arledger.stripe-applier"


def apply_event(conn: Connection[Any], events: StripeEvents, event: dict[str, Any]) -> Outcome:
    """Apply ``event`` and settle its row on ``conn``; after an event that makes a
    PaymentIntent's payment exist, the events that waited for it too."""
    done = _settled(conn, events, event)
    if done.outcome == "applied" and event["type"] in CREATES_PAYMENT:
        for deferred in stripe_inbox.deferred_for(conn, done.payment_intent or ""):
            _settled(conn, events, deferred)
    return done


def _settled(conn: Connection[Any], events: StripeEvents, event: dict[str, Any]) -> Outcome:
    try:
        done = events.apply(event)
    except Unavailable:
        raise  # the database, not the event: applied again when the applier restarts
    except LedgerError as error:
        done = refused(error)
    except (psycopg.Error, PersistenceError, PoolTimeout, MemoryError):
        raise  # the database or the process, not the event: tried again after a restart
    except Exception as error:  # recorded as the event's outcome and logged, not swallowed
        log.exception("a Stripe event broke its handler", extra={"event": event["id"]})
        done = Outcome("error", f"{type(error).__name__}: {error}"[:2_000])
    stripe_inbox.settle(conn, event["id"], done.outcome, done.detail, done.positions)
    return done


def lanes_of(batch: list[dict[str, Any]], lanes: int) -> list[list[dict[str, Any]]]:
    """The batch split so that one PaymentIntent's events share a lane, in order."""
    out: list[list[dict[str, Any]]] = [[] for _ in range(lanes)]
    for event in batch:
        key = stripe_inbox.payment_intent_of(event["data"]["object"]) or event["id"]
        out[zlib.crc32(key.encode()) % lanes].append(event)
    return [lane for lane in out if lane]


class StripeApplier:
    """Applies the inbox's ``received`` events with ``events``; ``connect`` opens the
    session that holds the applier's lock and reads the inbox."""

    def __init__(
        self,
        pool: ConnectionPool,
        events: StripeEvents,
        connect: Callable[[], Connection[Any]],
        lanes: int = LANES,
    ) -> None:
        self.pool, self.events, self.connect, self.lanes = pool, events, connect, lanes

    def run(self, stop: threading.Event, idle_s: float = IDLE_POLL_SECONDS) -> None:
        """Apply what arrives until ``stop``, polling the inbox when it is empty."""
        with self.connect() as session, ThreadPoolExecutor(self.lanes) as workers:
            if not self._become_the_only_applier(session, stop):
                return
            log.info("stripe applier started")
            while not stop.is_set():
                if self.apply_batch(session, workers) == 0:
                    stop.wait(idle_s)

    def apply_batch(self, session: Connection[Any], workers: ThreadPoolExecutor) -> int:
        """Apply up to ``BATCH_SIZE`` waiting events; how many there were."""
        batch = stripe_inbox.waiting(session, BATCH_SIZE)
        for _ in workers.map(self._apply_lane, lanes_of(batch, self.lanes)):
            pass  # map re-raises a lane's failure here
        if batch:
            log.debug("stripe events applied", extra={"count": len(batch)})
        return len(batch)

    def _apply_lane(self, lane: list[dict[str, Any]]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            for event in lane:
                done = apply_event(conn, self.events, event)
                log.info(
                    "stripe event",
                    extra={"event": event["id"], "type": event["type"], "outcome": done.outcome},
                )

    def _become_the_only_applier(self, session: Connection[Any], stop: threading.Event) -> bool:
        """Two appliers would apply one PaymentIntent's events side by side, out of
        order; the lock is the session's, so a crashed applier frees it."""
        announced = False
        while not stop.is_set():
            row = session.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (LOCK_KEY,)
            ).fetchone()
            if row and row[0]:
                return True
            if not announced:
                log.info("another stripe applier is working; standing by")
                announced = True
            stop.wait(STANDBY_POLL_SECONDS)
        return False
