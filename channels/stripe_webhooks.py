"""Receiving one Stripe webhook: check its signature and time, and record its event once,
durably, before answering. The applier (``channels/stripe_applier.py``) applies it to the
ledger moments later; ``GET /v1/stripe/events/{id}`` says what became of it."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from channels import stripe_inbox
from channels.stripe_applier import apply_event
from channels.stripe_apply import StripeEvents
from channels.stripe_intake import Intake
from channels.stripe_payload import check_event
from channels.stripe_signature import WebhookRejected, verify
from ledger.errors import NotFound, RuleViolation

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


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent, refused unless finite: ``1e400`` (or
    ``NaN``, which Python's parser allows) cannot be stored as JSON, and would break the
    statement that records the deliveries arriving with it."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a finite number")
    return number


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body, parse_float=_finite, parse_constant=_no_constant)
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
        self.intake = Intake(pool)

    async def receive(self, body: bytes, signature: str | None) -> dict[str, Any]:
        """Check, and record once before answering. Raises ``WebhookRejected`` having
        written nothing but, for a signed payload that is malformed, its bytes."""
        verify(body, signature, self.secrets, self.tolerance_s)
        try:
            event = parse(body)
            check_event(event)
        except WebhookRejected as refused:
            await asyncio.to_thread(self._keep_rejected, body, refused)
            raise
        before = await asyncio.wrap_future(self.intake.record(event))
        return {
            "received": True,
            "event": event["id"],
            "duplicate": before is not None,
            "outcome": before or "received",
        }

    def _keep_rejected(self, body: bytes, refused: WebhookRejected) -> None:
        with self.pool.connection() as conn:
            stripe_inbox.keep_rejected(conn, body, f"{refused.code}: {refused.detail}")
        log.warning("signed Stripe payload refused", extra={"reason": refused.detail})

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
            done = apply_event(conn, self.events, event)
            detail = f"assigned by {actor} to {account_id}: {done.detail}"
            stripe_inbox.settle(conn, event_id, done.outcome, detail, done.positions)
        log.info("stripe event assigned", extra={"event": event_id, "account": str(account_id)})
        return {"event": event_id, "outcome": done.outcome, "detail": done.detail,
                "positions": done.positions}  # fmt: skip
