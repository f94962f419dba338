"""Request and reply bodies of the card channel: webhooks in, payment links and phone
payments out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import Command, MoneyModel


class PaymentLinkCreate(Command):
    success_url: str = Field(
        default="https://example.invalid/paid",
        max_length=2000,
        description="where Stripe sends the client after paying",
    )


class PaymentLinkPublic(BaseModel):
    invoice_id: UUID
    link_id: str = Field(description="the Checkout Session's id")
    url: str = Field(description="send this to the client")
    amount: MoneyModel = Field(description="the invoice's outstanding amount when issued")
    customer_id: str | None
    expires_at: datetime | None
    replaces: str | None = Field(description="the link before, now expired")
    position: int


class CardPaymentCreate(Command):
    amount: MoneyModel
    payment_method: str = Field(
        min_length=1, max_length=200, description="a card saved with Stripe (pm_...)"
    )
    invoice_id: UUID | None = Field(default=None, description="allocate the payment to it")


class CardPaymentPublic(BaseModel):
    payment_intent: str
    payment_id: UUID | None = Field(description="the ledger payment the attempt is")
    status: Literal["pending", "succeeded", "failed"] | None = Field(
        description="the ledger's status of that payment (null when it has no account)"
    )
    stripe_status: str = Field(description="Stripe's PaymentIntent status, as Stripe says it")
    outcome: str = Field(description="what the ledger recorded: applied, unmatched, ...")
    detail: str
    decline: dict[str, Any] | None = Field(description="Stripe's last_payment_error, if any")
    positions: list[int]


class WebhookReceived(BaseModel):
    """The answer to a good webhook delivery: its event was recorded (or had been)."""

    received: Literal[True]
    event: str = Field(description="the Stripe event id")
    duplicate: bool = Field(description="true when the event was recorded before")
    outcome: str = Field(description="received, or what became of the delivery before")
