"""Applying the Stripe events the webhook kept, apart from receiving them.

The webhook checks the signature, records the event as ``received`` and answers 2xx at
once, as Stripe asks of an endpoint; this applier takes what waits, oldest first, a batch
at a time, and settles each event with its outcome. It is built to apply each event once
and in order:

- one applier works at a time: it holds a session advisory lock, and another one (a
  second ``arledger stripe-apply``) stands by until that session ends;
- the events of a batch that record a payment (a PaymentIntent's success or failed
  attempt, ``RECORDS_PAYMENT``) are recorded together, many to a ledger save
  (``channels/stripe_receipts.py``), in the order they arrived; one the ledger refuses
  is applied alone, as it would have been, and settled with its own reason;
- then the batch's other events (refunds, disputes, returns), after the payments they
  need, in the order they arrived: their reversals too are saved many to a ledger save
  (``channels/stripe_reversal_runs.py``), and one the ledger refuses is applied alone
  and settled with its own reason;
- the batch's rows are settled in one transaction after the ledger's commands commit;
  if the process dies in between, the rows are still ``received`` and are applied again
  after a restart, which the ledger's idempotent ids turn into no second effect;
- an event that needs a payment the ledger lacks waits as ``deferred`` and is applied
  in the batch that records the payment (or finds it recorded), after it.

A database that is gone, or a ledger that answers ``Unavailable``, stops the applier
(its worker is restarted); an event that breaks a handler is settled as ``error`` with
the reason, logged, and does not hold the others back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import PersistenceError
from psycopg import Connection
from psycopg_pool import ConnectionPool, PoolTimeout

from channels import stripe_inbox
from channels.stripe_apply import CREATES_PAYMENT, RECORDS_PAYMENT, StripeEvents
from channels.stripe_outcome import Outcome, refused
from channels.stripe_receipts import record_many
from channels.stripe_reversal_runs import reverse_in_order
from channels.stripe_reversals import succeeded_payments
from ledger.errors import LedgerError, Unavailable

log = logging.getLogger("arledger.stripe")

BATCH_SIZE = 500
# Once caught up, the applier looks again when the intake says it recorded events (its
# NOTIFY, ``stripe_inbox.signal_received``), and at the latest after this long (a look is
# one query on a partial index of what waits); a stop is noticed within it too.
IDLE_LOOK_SECONDS = 0.25
STANDBY_POLL_SECONDS = 2.0
LOCK_KEY = "arledger.stripe-applier"
# The database or the process, not the event: the applier stops, and after a restart
# the event is applied again.
NOT_THE_EVENTS = (Unavailable, psycopg.Error, PersistenceError, PoolTimeout, MemoryError)

T = TypeVar("T")
Event = dict[str, Any]


def apply_event(conn: Connection[Any], events: StripeEvents, event: Event) -> Outcome:
    """Apply ``event`` and settle its row on ``conn``; after an event that makes a
    PaymentIntent's payment exist, the events that waited for it too."""
    done = _settled(conn, events, event)
    if done.outcome == "applied" and event["type"] in CREATES_PAYMENT:
        release_deferred(conn, events, [done.payment_intent or ""])
    return done


def release_deferred(
    conn: Connection[Any], events: StripeEvents, payment_intents: list[str]
) -> list[Outcome]:
    """Apply, and settle on ``conn``, the events that waited (``deferred``) for these
    PaymentIntents' payments, oldest first: for a payment recorded by other means than
    an event of the batch (a person placing it, a reconciliation finding it missing),
    whose webhook may never come. Rows the applier is settling are waited for, and then
    left to it."""
    waiting = stripe_inbox.deferred_for_any(conn, [pi for pi in payment_intents if pi])
    return [_settled(conn, events, event) for event in waiting]


def _settled(conn: Connection[Any], events: StripeEvents, event: Event) -> Outcome:
    done = outcome_of(events, event)
    stripe_inbox.settle(conn, event["id"], done.outcome, done.detail, done.positions)
    return done


def outcome_of(events: StripeEvents, event: Event) -> Outcome:
    """Apply ``event`` alone: what became of it."""
    return _classified(event, events.apply)


def _classified(event: Event, attempt: Callable[[Event], T]) -> T | Outcome:
    """``attempt(event)``; a refusal or a broken handler as the event's outcome."""
    try:
        return attempt(event)
    except NOT_THE_EVENTS:
        raise
    except LedgerError as error:
        return refused(error)
    except Exception as error:  # recorded as the event's outcome and logged, not swallowed
        log.exception("a Stripe event broke its handler", extra={"event": event["id"]})
        return Outcome("error", f"{type(error).__name__}: {error}"[:2_000])


def _payment_intent(event: Event) -> str:
    return stripe_inbox.payment_intent_of(event["data"]["object"]) or ""


class StripeApplier:
    """Applies the inbox's ``received`` events with ``events``; ``connect`` opens the
    session that holds the applier's lock and reads the inbox."""

    def __init__(
        self,
        pool: ConnectionPool,
        events: StripeEvents,
        connect: Callable[[], Connection[Any]],
    ) -> None:
        self.pool, self.events, self.connect = pool, events, connect

    def run(self, stop: threading.Event, idle_s: float = IDLE_LOOK_SECONDS) -> None:
        """Apply what arrives until ``stop``; when the inbox is empty, wait for the
        intake's word that something arrived, or ``idle_s``."""
        with self.connect() as session:
            if not self._become_the_only_applier(session, stop):
                return
            session.execute(f"LISTEN {stripe_inbox.RECEIVED_CHANNEL}")
            log.info("stripe applier started")
            while not stop.is_set():
                if self.apply_batch(session) == 0:
                    _wait_for_arrivals(session, idle_s)

    def apply_batch(self, session: Connection[Any]) -> int:
        """Apply up to ``BATCH_SIZE`` waiting events; how many there were."""
        batch = stripe_inbox.waiting(session, BATCH_SIZE)
        if not batch:
            return 0
        done = self.record_payments([e for e in batch if e["type"] in RECORDS_PAYMENT])
        paid = [_payment_intent(e) for e in batch if e["type"] in CREATES_PAYMENT]
        with self.pool.connection() as conn, conn.transaction():
            # Waiting since before the batch: before its PaymentIntent's others.
            deferred = stripe_inbox.deferred_for_any(conn, paid)
            rest = [*deferred, *(e for e in batch if e["type"] not in RECORDS_PAYMENT)]
            done.update(self.reverse_payments(rest))
            settled = [(key, d.outcome, d.detail, d.positions) for key, d in done.items()]
            stripe_inbox.settle_many(conn, settled)
        for event in (*batch, *deferred):
            outcome = done[event["id"]].outcome
            log.info(
                "stripe event",
                extra={"event": event["id"], "type": event["type"], "outcome": outcome},
            )
        return len(batch)

    def record_payments(self, batch: list[Event]) -> dict[str, Outcome]:
        """Record the payments of ``batch`` (events of ``RECORDS_PAYMENT``) together: an
        outcome for each event, by id. One the ledger refuses is applied alone."""
        recordings = [_classified(event, self.events.recording) for event in batch]

        def alone(n: int, _: LedgerError) -> Outcome:
            return outcome_of(self.events, batch[n])

        try:
            outcomes = record_many(self.events, recordings, alone)
        except NOT_THE_EVENTS:
            raise
        except Exception:  # logged; each is applied alone, which says which one broke
            log.exception("a batch of Stripe payments broke; applying them one at a time")
            outcomes = [outcome_of(self.events, event) for event in batch]
        return {event["id"]: done for event, done in zip(batch, outcomes, strict=True)}

    def reverse_payments(self, batch: list[Event]) -> dict[str, Outcome]:
        """Apply the events of ``batch`` that come after a payment (refunds, disputes,
        returns) in their order, their reversals many to a save: an outcome for each
        event, by id. One the ledger refuses is applied alone."""
        if not batch:
            return {}
        try:
            stored = succeeded_payments(self.events.ledger, batch)
            decided = [
                (e, _classified(e, lambda e: self.events.reversing(e, stored))) for e in batch
            ]
            return reverse_in_order(
                self.events.ledger, decided, lambda e: outcome_of(self.events, e)
            )
        except NOT_THE_EVENTS:
            raise
        except Exception:  # logged; each is applied alone, which says which one broke
            log.exception("a batch of Stripe reversals broke; applying them one at a time")
            return {event["id"]: outcome_of(self.events, event) for event in batch}

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


def _wait_for_arrivals(session: Connection[Any], wait_s: float) -> None:
    """Sleep until the intake says it recorded events, or ``wait_s``; then take every
    other word of it already here (the next look sees what each was about)."""
    for _ in session.notifies(timeout=wait_s, stop_after=1):
        pass
    for _ in session.notifies(timeout=0):
        pass
