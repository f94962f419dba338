"""Stripe events shaped as Stripe documents them (API objects inside ``data.object``),
signed the way Stripe signs them, for the webhook tests and the benchmark."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from typing import Any

import httpx

from channels.stripe_signature import sign

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{int(time.time() * 1000):x}{next(_ids):06d}"


def event(kind: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
    return {
        "id": _id("evt"),
        "object": "event",
        "api_version": "2024-06-20",
        "created": created if created is not None else int(time.time()),
        "type": kind,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def payment_intent(
    amount: int,
    status: str,
    metadata: dict[str, str],
    pi_id: str | None = None,
    method_type: str = "card",
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": pi_id or _id("pi"),
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": "gbp",
        "customer": None,
        "created": int(time.time()),
        "latest_charge": _id("ch"),
        "last_payment_error": error,
        "metadata": metadata,
        "payment_method_types": [method_type],
        "status": status,
    }


def decline(
    charge_id: str, code: str = "card_declined", decline_code: str = "insufficient_funds"
) -> dict[str, Any]:
    return {
        "charge": charge_id,
        "code": code,
        "decline_code": decline_code,
        "message": "Your card has insufficient funds.",
        "type": "card_error",
    }


def charge(
    pi: dict[str, Any], refunds: Sequence[tuple[str, int]] = (), **extra: Any
) -> dict[str, Any]:
    refunded = sum(amount for _, amount in refunds)
    return {
        "id": pi["latest_charge"],
        "object": "charge",
        "amount": pi["amount"],
        "amount_refunded": refunded,
        "currency": "gbp",
        "payment_intent": pi["id"],
        "refunded": refunded == pi["amount"],
        "refunds": {
            "object": "list",
            "data": [
                {
                    "id": rid,
                    "object": "refund",
                    "amount": amount,
                    "currency": "gbp",
                    "charge": pi["latest_charge"],
                    "created": int(time.time()),
                    "status": "succeeded",
                }
                for rid, amount in refunds
            ],
            "has_more": False,
        },
        "status": "succeeded",
        **extra,
    }


def dispute(pi: dict[str, Any], amount: int, status: str, dp_id: str) -> dict[str, Any]:
    return {
        "id": dp_id,
        "object": "dispute",
        "amount": amount,
        "charge": pi["latest_charge"],
        "currency": "gbp",
        "payment_intent": pi["id"],
        "reason": "fraudulent",
        "status": status,
        "created": int(time.time()),
    }


def checkout_session(
    pi_id: str, amount: int, metadata: dict[str, str], cs_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": cs_id or _id("cs_test"),
        "object": "checkout.session",
        "amount_total": amount,
        "currency": "gbp",
        "metadata": metadata,
        "mode": "payment",
        "payment_intent": pi_id,
        "payment_status": "paid",
        "status": "complete",
    }


def post(
    http: httpx.Client, evt: dict[str, Any], secret: str, at: int | None = None
) -> httpx.Response:
    """Deliver ``evt`` as Stripe does: the raw JSON body and its signature header."""
    body = json.dumps(evt).encode()
    header = sign(body, secret, at if at is not None else int(time.time()))
    return http.post(
        "/v1/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def settled(http: httpx.Client, event_id: str, timeout: float = 30) -> dict[str, Any]:
    """The event as ``GET /v1/stripe/events/{id}`` shows it once the applier has taken it
    (its outcome no longer ``received``)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = http.get(f"/v1/stripe/events/{event_id}")
        assert reply.status_code == 200, reply.text
        found: dict[str, Any] = reply.json()
        if found["outcome"] != "received":
            return found
        assert time.monotonic() < deadline, f"{event_id} was not applied in {timeout} s"
        time.sleep(0.05)


def delivered(
    http: httpx.Client, evt: dict[str, Any], secret: str, timeout: float = 30
) -> dict[str, Any]:
    """Deliver ``evt``, see it accepted, and wait for what the applier made of it."""
    reply = post(http, evt, secret)
    assert reply.status_code == 200, reply.text
    return settled(http, evt["id"], timeout)
