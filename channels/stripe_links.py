"""Payment links out, and card payments taken over the phone, through Stripe.

A link is a Checkout Session for what an invoice still owes, carrying the invoice and
account in its metadata (and in its PaymentIntent's, so the webhook can allocate the
payment). Issuing another expires the one before. Every link is an event on the invoice.
The account's Stripe customer is created the first time it is needed, and kept.

Stripe is called with idempotency keys derived from the caller's Idempotency-Key, so a
retried request never makes a second customer, session or charge."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import stripe
from psycopg_pool import ConnectionPool

from channels.stripe_apply import StripeEvents
from channels.stripe_outcome import Outcome
from ledger.application import Ledger
from ledger.commands import RecordPaymentLink
from ledger.errors import RuleViolation, Unavailable
from ledger.money import Money
from ledger.stamp import Stamp

log = logging.getLogger("arledger.stripe")


class StripeNotConfigured(Unavailable):
    code = "stripe-not-configured"
    title = "No Stripe API key is configured"


class StripeRefused(RuleViolation):
    code = "stripe-refused"
    title = "Stripe refused the request"


def _dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


@dataclass(frozen=True)
class IssuedLink:
    link_id: str
    url: str
    amount: Money
    customer_id: str
    expires_at: datetime | None
    replaces: str | None
    position: int


class StripeLinks:
    def __init__(
        self, ledger: Ledger, client: stripe.StripeClient | None, pool: ConnectionPool
    ) -> None:
        self.ledger, self._client, self.pool = ledger, client, pool

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise StripeNotConfigured("set STRIPE_API_KEY to take card payments and send links")
        return self._client

    def customer_for(self, account_id: UUID, key: str) -> str:
        """The account's Stripe customer, created (and kept) the first time."""
        with self.pool.connection() as conn:
            found = conn.execute(
                "SELECT customer_id FROM stripe_customers WHERE account_id = %s", (account_id,)
            ).fetchone()
        if found:
            return str(found[0])
        account = self.ledger.get_account(account_id)
        params: dict[str, Any] = {"name": account.name, "metadata": {"account_id": str(account_id)}}
        if account.email:
            params["email"] = account.email
        customer = self._call(
            lambda: self.client.v1.customers.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"arledger-customer-{account_id}"},
            )
        )
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO stripe_customers (customer_id, account_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                (customer["id"], account_id),
            )
            kept = conn.execute(
                "SELECT customer_id FROM stripe_customers WHERE account_id = %s", (account_id,)
            ).fetchone()
        log.info("stripe customer", extra={"account": str(account_id), "key": key})
        return str(kept[0]) if kept else str(customer["id"])

    def issue_link(self, invoice_id: UUID, success_url: str, key: str, stamp: Stamp) -> IssuedLink:
        """A new Checkout Session for the invoice's outstanding amount (the one before it
        expired), recorded on the invoice."""
        invoice = self.ledger.get_invoice(invoice_id)
        amount = invoice.outstanding
        if not amount.is_positive() or invoice.is_void:
            raise StripeRefused(f"invoice {invoice.number} owes nothing a link could collect")
        customer = self.customer_for(invoice.account_id, key)
        meta = {"invoice_id": str(invoice_id), "account_id": str(invoice.account_id)}
        previous = invoice.payment_link_id
        if previous:
            self._expire(previous)
        session = self._call(
            lambda: self.client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "customer": customer,
                    "success_url": success_url,
                    "metadata": meta,
                    "payment_intent_data": {"metadata": meta},
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": amount.currency.lower(),
                                "unit_amount": amount.amount_minor,
                                "product_data": {"name": f"Invoice {invoice.number}"},
                            },
                        }
                    ],
                },
                options={"idempotency_key": f"arledger-link-{invoice_id}-{key}"},
            )
        )
        expires = session.get("expires_at")
        link = IssuedLink(
            link_id=str(session["id"]),
            url=str(session["url"]),
            amount=amount,
            customer_id=customer,
            expires_at=datetime.fromtimestamp(int(expires), UTC) if expires else None,
            replaces=previous,
            position=0,
        )
        saved = self.ledger.record_payment_link(
            RecordPaymentLink(
                invoice_id=invoice_id,
                link_id=link.link_id,
                url=link.url,
                amount=amount,
                customer_id=customer,
                expires_at=link.expires_at,
                stamp=stamp,
            )
        )
        return replace(link, position=saved.position)

    def _expire(self, session_id: str) -> None:
        try:
            self.client.v1.checkout.sessions.expire(session_id)
        except stripe.InvalidRequestError as e:  # already expired or completed
            log.info("previous link not expired", extra={"session": session_id, "why": str(e)})

    def take_card_payment(
        self,
        account_id: UUID,
        amount: Money,
        payment_method: str,
        invoice_id: UUID | None,
        key: str,
        stamp: Stamp,
        events: StripeEvents,
    ) -> tuple[dict[str, Any], Outcome]:
        """Charge a saved card now (the client on the phone), and record the attempt and
        its outcome as the webhook would: the same payment, so its arrival later is a
        no-op."""
        customer = self.customer_for(account_id, key)
        meta = {"account_id": str(account_id)}
        if invoice_id is not None:
            meta["invoice_id"] = str(invoice_id)
        try:
            pi = self.client.v1.payment_intents.create(
                params={
                    "amount": amount.amount_minor,
                    "currency": amount.currency.lower(),
                    "customer": customer,
                    "payment_method": payment_method,
                    "confirm": True,
                    "off_session": True,
                    "metadata": meta,
                },
                options={"idempotency_key": f"arledger-phone-{account_id}-{key}"},
            )
            intent = _dict(pi)
        except stripe.CardError as e:  # declined: Stripe still made the PaymentIntent
            body: dict[str, Any] = e.json_body if isinstance(e.json_body, dict) else {}
            error = body.get("error") or {}
            intent = error.get("payment_intent") or self._intent_of_charge(error.get("charge"))
            if not intent:
                raise StripeRefused(f"the card was declined: {e.user_message}") from None
        event = {"id": f"phone:{intent['id']}", "created": intent.get("created")}
        if intent.get("status") == "succeeded":
            outcome = events.record_success(event, intent, stamp)
        else:
            outcome = events.record_failure(event, intent, stamp)
        return intent, outcome

    def _intent_of_charge(self, charge_id: str | None) -> dict[str, Any]:
        """The PaymentIntent of a declined charge, when the error did not carry it."""
        if not charge_id:
            return {}
        charge = _dict(self.client.v1.charges.retrieve(charge_id))
        pi = charge.get("payment_intent")
        return _dict(self.client.v1.payment_intents.retrieve(str(pi))) if pi else {}

    def _call(self, request: Any) -> dict[str, Any]:
        try:
            return _dict(request())
        except stripe.InvalidRequestError as e:
            raise StripeRefused(f"Stripe refused the request: {e.user_message or e}") from None
