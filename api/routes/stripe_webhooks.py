"""Stripe's webhooks in, and what became of each event."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.deps import CommandDep, PrincipalDep, ServicesDep
from api.fields import Moment
from api.idempotency import Reply
from api.schemas import Command
from api.services import Services
from api.stripe_schemas import WebhookReceived
from channels import stripe_inbox
from channels.stripe_webhooks import UnknownStripeEvent

router = APIRouter(tags=["stripe"])

SIGNATURE_AUTH = {"x-auth": "Stripe-Signature"}
# The header is read by the route itself (see ``stripe_webhook``), so it is declared here.
SIGNATURE_HEADER = {
    "name": "stripe-signature",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "t=<Unix time>,v1=<HMAC-SHA256 of '<t>.<body>'>, as Stripe signs",
}


@router.post(
    "/v1/webhooks/stripe",
    response_model=WebhookReceived,
    openapi_extra={**SIGNATURE_AUTH, "parameters": [SIGNATURE_HEADER]},
)
async def stripe_webhook(request: Request) -> Response:
    """Stripe's events: the signature (any configured secret) and its time (within
    ``ARLEDGER_STRIPE_WEBHOOK_TOLERANCE_S`` either way) are checked before anything is
    written, and a bad one is a 400 saying why. A good one is recorded (``outcome:
    received``) before the 200 and applied moments later, once per event id: a
    redelivery answers ``duplicate: true`` with what became of the first and changes
    nothing. ``GET /v1/stripe/events/{event_id}`` says what was done with it."""
    # Stripe calls this route hundreds of times a second: it takes no FastAPI dependency
    # (the services and the header are read off the request) and encodes its reply
    # itself, as resolving those and validating the reply cost more than the rest.
    svc: Services = request.app.state.services
    body = await request.body()
    signature = request.headers.get("stripe-signature")
    reply = await svc.stripe.webhooks.receive(body, signature)
    return Response(json.dumps(reply).encode(), media_type="application/json")


class EventAssignment(Command):
    account_id: UUID


@router.post("/v1/stripe/events/{event_id}/assignment")
def assign_event(
    event_id: str, body: EventAssignment, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Name the account of an ``unmatched`` event (a payment whose metadata names no
    account and whose customer we do not know): it is applied now, and the customer is
    remembered as that account's."""

    def command() -> Reply:
        svc.ledger.get_account(body.account_id)  # 404 for an unknown account
        done = svc.stripe.webhooks.assign(event_id, body.account_id, ctx.who.actor)
        return Reply(200, done)

    return ctx.run(body, command)


@router.get("/v1/stripe/events")
def stripe_events(
    svc: ServicesDep,
    _: PrincipalDep,
    outcome: Annotated[
        Literal[
            "received",
            "applied",
            "ignored",
            "deferred",
            "unhandled",
            "unmatched",
            "refused",
            "error",
        ]
        | None,
        Query(description="only events that ended so"),
    ] = None,
    received_after: Annotated[Moment | None, Query(description="a page cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Every Stripe event received, with what was done with it: ``received`` ones wait
    for the applier; unknown types are kept here (``unhandled``) for inspection, as are
    events the ledger refused and events no account could be found for."""
    with svc.pool.connection() as conn:
        rows = stripe_inbox.listing(conn, outcome, received_after, limit)
    return {"events": rows}


@router.get("/v1/stripe/events/{event_id}")
def stripe_event(event_id: str, svc: ServicesDep, _: PrincipalDep) -> dict[str, Any]:
    """One Stripe event and what was done with it: ``received`` until the applier has
    taken it, then its outcome, ``detail`` and the store ``positions`` it appended (read
    with ``min_position`` to see its effect)."""
    with svc.pool.connection() as conn:
        row = stripe_inbox.one(conn, event_id)
    if row is None:
        raise UnknownStripeEvent(f"no Stripe event {event_id} was received")
    return row
