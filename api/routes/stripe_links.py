"""Payment links for invoices, and card payments taken over the phone."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CommandDep, ServicesDep
from api.idempotency import Reply
from api.schemas import MoneyModel
from api.stripe_schemas import (
    CardPaymentCreate,
    CardPaymentPublic,
    PaymentLinkCreate,
    PaymentLinkPublic,
)
from ledger.money import Money

router = APIRouter(tags=["stripe"])


@router.post(
    "/v1/invoices/{invoice_id}/payment-links", status_code=201, response_model=PaymentLinkPublic
)
def issue_payment_link(
    invoice_id: UUID, body: PaymentLinkCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """A Stripe Checkout link for what the invoice still owes, with the invoice and
    account in its metadata, so that paying it allocates the payment. Issuing another
    (a resend) expires the one before. The account's Stripe customer is created when
    first needed. Each link is an ``invoice.payment_link_issued`` event."""

    def command() -> Reply:
        link = svc.stripe.links.issue_link(invoice_id, body.success_url, ctx.key or "", ctx.stamp())
        reply = PaymentLinkPublic(
            invoice_id=invoice_id,
            link_id=link.link_id,
            url=link.url,
            amount=MoneyModel.of(link.amount),
            customer_id=link.customer_id,
            expires_at=link.expires_at,
            replaces=link.replaces,
            position=link.position,
        )
        return Reply(201, reply.model_dump(mode="json"))

    return ctx.run(body, command)


@router.post("/v1/accounts/{account_id}/card-payments", status_code=201)
def take_card_payment(
    account_id: UUID, body: CardPaymentCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Charge a card the client saved with Stripe, while they are on the phone. The
    attempt and its outcome are recorded at once (a decline is a failed payment with
    Stripe's reason); the webhook that follows changes nothing."""

    def command() -> Reply:
        money: Money = body.amount.to_money()
        intent, done = svc.stripe.links.take_card_payment(
            account_id,
            money,
            body.payment_method,
            body.invoice_id,
            ctx.key or "",
            ctx.stamp(),
            svc.stripe.events,
        )
        reply = CardPaymentPublic(
            payment_intent=str(intent["id"]),
            payment_id=done.payment_id,
            status=done.payment_status,  # type: ignore[arg-type]
            stripe_status=str(intent.get("status")),
            outcome=done.outcome,
            detail=done.detail,
            decline=intent.get("last_payment_error"),
            positions=done.positions,
        )
        return Reply(201, reply.model_dump(mode="json"))

    return ctx.run(body, command)
