"""Receiving one Stripe webhook: check its signature and time, record its event once, and
apply it, with whatever waited for it, in one inbox transaction."""

from __future__ import annotations

import json
import logging
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from channels import stripe_inbox
from channels.stripe_apply import CREATES_PAYMENT, Outcome, StripeEvents, refused
from channels.stripe_payload import check_event
from channels.stripe_signature import WebhookRejected, verify
from ledger.errors import LedgerError, NotFound, RuleViolation

log = logging.getLogger("arledger.stripe")


class UnknownStripeEvent(NotFound):
    code = "unknown-stripe-event"
    title = "Unknown Stripe event"


class EventNotUnmatched(RuleViolation):
    code = "stripe-event-not-unmatched"
    title = "The Stripe event is not waiting for an account"


class NotAnEvent(WebhookRejected):
    code = "webhook-not-an-event"
    title = "The body is not a Stripe event"


def parse(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise NotAnEvent(f"the body is not JSON: {e}") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise NotAnEvent('the body is not an object with "object": "event"')
    missing = [k for k in ("id", "type", "created", "data") if k not in event]
    obj = event.get("data", {}).get("object") if isinstance(event.get("data"), dict) else None
    if missing or not isinstance(obj, dict):
        raise NotAnEvent(f"the event lacks {', '.join(missing) or 'data.object'}")
    return event


class Webhooks:
    def __init__(
        self, pool: ConnectionPool, events: StripeEvents, secrets: list[str], tolerance_s: int
    ) -> None:
        self.pool, self.events = pool, events
        self.secrets, self.tolerance_s = secrets, tolerance_s

    def receive(self, body: bytes, signature: str | None) -> dict[str, Any]:
        """Check, record once, apply. Raises ``WebhookRejected`` before writing anything."""
        verify(body, signature, self.secrets, self.tolerance_s)
        try:
            event = parse(body)
            check_event(event)
        except WebhookRejected as refused:
            with self.pool.connection() as conn:
                stripe_inbox.keep_rejected(conn, body, f"{refused.code}: {refused.detail}")
            log.warning("signed Stripe payload refused", extra={"reason": refused.detail})
            raise
        with self.pool.connection() as conn, conn.transaction():
            if not stripe_inbox.claim(conn, event):
                return {"received": True, "event": event["id"], "duplicate": True}
            done = self._apply(conn, event)
            then = []
            if done.outcome == "applied" and event["type"] in CREATES_PAYMENT:
                for waiting in stripe_inbox.deferred_for(conn, done.payment_intent or ""):
                    then.append({"event": waiting["id"], **self._apply(conn, waiting).__dict__})
        log.info(
            "stripe event",
            extra={"event": event["id"], "type": event["type"], "outcome": done.outcome},
        )
        return {
            "received": True,
            "event": event["id"],
            "duplicate": False,
            "outcome": done.outcome,
            "detail": done.detail,
            "positions": done.positions,
            "then_applied": then,
        }

    def assign(self, event_id: str, account_id: UUID, actor: str) -> dict[str, Any]:
        """A person names the account of an event no account could be found for: it is
        applied as if its metadata had named it, and the Stripe customer (if any) is
        remembered as that account's, so its next payments find it alone."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT payload, outcome FROM stripe_events WHERE event_id = %s FOR UPDATE",
                (event_id,),
            ).fetchone()
            if row is None:
                raise UnknownStripeEvent(f"no Stripe event {event_id} was received")
            event, outcome = row
            if outcome != "unmatched":
                raise EventNotUnmatched(
                    f"event {event_id} is {outcome}; only unmatched is assigned"
                )
            obj = event["data"]["object"]
            obj["metadata"] = {**(obj.get("metadata") or {}), "account_id": str(account_id)}
            if obj.get("customer"):
                stripe_inbox.remember_customer(conn, str(obj["customer"]), account_id)
            done = self._apply(conn, event)
            if done.outcome == "applied" and event["type"] in CREATES_PAYMENT:
                for waiting in stripe_inbox.deferred_for(conn, done.payment_intent or ""):
                    self._apply(conn, waiting)
            stripe_inbox.settle(
                conn, event_id, done.outcome, f"assigned by {actor} to {account_id}: {done.detail}"
            )
        log.info("stripe event assigned", extra={"event": event_id, "account": str(account_id)})
        return {"event": event_id, "outcome": done.outcome, "detail": done.detail,
                "positions": done.positions}  # fmt: skip

    def _apply(self, conn: Any, event: dict[str, Any]) -> Outcome:
        try:
            done = self.events.apply(event)
        except LedgerError as error:
            done = refused(error)
        stripe_inbox.settle(conn, event["id"], done.outcome, done.detail)
        return done
