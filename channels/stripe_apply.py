"""What a Stripe event means for the ledger.

Each PaymentIntent outcome becomes a payment attempt with an id derived from Stripe's own
ids, so applying an event twice, or the webhook and a coordinator's phone payment both
recording the same success, appends nothing the second time:

- ``payment_intent.succeeded`` and a paid ``checkout.session.completed``: a succeeded
  card payment ``<pi>/succeeded``, allocated to the invoice named in the metadata (up to
  what it still owes; the rest stays unallocated for a person to place);
- ``payment_intent.payment_failed``: a failed attempt ``<pi>/failed/<charge>``, with
  Stripe's decline code and message; several failures of one PaymentIntent are several
  attempts;
- ``charge.refunded`` (partial too): one refund per Stripe refund id, allocations taken
  back as needed;
- ``charge.dispute.created`` / ``closed``: a chargeback opened, then won or lost;
- ``charge.failed`` after the PaymentIntent's payment succeeded: the late failure of a
  bank debit, a return.

The payments are recorded here; what happens to one afterwards (the last three) is in
``channels/stripe_reversals.py``, and the outcomes and ids all share in
``channels/stripe_outcome.py``.

Order of arrival does not matter: attempts are separate payments, refunds and disputes
are keyed by their own ids, and an event about a payment the ledger does not have yet
(a refund before the success) is deferred and applied when that payment arrives."""

from __future__ import annotations

from collections.abc import Container
from typing import Any
from uuid import UUID

from channels import stripe_reversals
from channels.stripe_outcome import (
    Outcome,
    Recording,
    metadata_of,
    method_of,
    payment_id_for,
    stamp_of,
    uuid_of,
)
from channels.stripe_reversals import Asked
from ledger.application import Ledger
from ledger.commands import AllocatePayment, RecordPayment
from ledger.errors import UnknownInvoice
from ledger.money import Money
from ledger.stamp import Stamp


class StripeEvents:
    """Applies Stripe events to the ledger. ``account_of_customer`` finds the account
    Stripe customer ids belong to (the links we created)."""

    def __init__(self, ledger: Ledger, account_of_customer: Any) -> None:
        self.ledger = ledger
        self.account_of_customer = account_of_customer

    def apply(self, event: dict[str, Any]) -> Outcome:
        handler = HANDLERS.get(event["type"])
        if handler is None:
            return Outcome("unhandled", f"{event['type']} is kept for inspection, not applied")
        return handler(self, event, event["data"]["object"])

    def recording(self, event: dict[str, Any]) -> Recording | Outcome:
        """What an event of ``RECORDS_PAYMENT`` records, or its outcome when it records
        nothing (no account found; a Checkout Session not paid)."""
        obj: dict[str, Any] = event["data"]["object"]
        if event["type"] == "payment_intent.payment_failed":
            return self.failure_of(event, obj, stamp_of(event))
        if event["type"] == "checkout.session.completed":
            return self._session_success(event, obj)
        return self.success_of(obj, stamp_of(event))

    def reversing(self, event: dict[str, Any], stored: Container[UUID]) -> Asked | Outcome | None:
        """What an event of a batch's others asks of the ledger, decided without reading
        it, given which succeeded payments it has (``stored``): reversals (a refund, a
        dispute), or its outcome when it asks none (its payment not there yet:
        ``deferred``; a type we do not map); None when it is applied alone (``apply``)."""
        if event["type"] not in HANDLERS:
            return self.apply(event)
        return stripe_reversals.asked_of(event, stored)

    # --- PaymentIntents ----------------------------------------------------------------

    def _account(self, obj: dict[str, Any], meta: dict[str, str]) -> UUID | None:
        found = uuid_of(meta.get("account_id"))
        if found is None and obj.get("customer"):
            found = uuid_of(self.account_of_customer(str(obj["customer"])))
        return found

    def succeeded(self, event: dict[str, Any], pi: dict[str, Any]) -> Outcome:
        return self.record_success(event, pi, stamp_of(event))

    def record_success(self, event: dict[str, Any], pi: dict[str, Any], stamp: Stamp) -> Outcome:
        """A succeeded PaymentIntent: from its webhook, or taken by a coordinator."""
        return self._record(self.success_of(pi, stamp))

    def success_of(self, pi: dict[str, Any], stamp: Stamp) -> Recording | Outcome:
        """The payment a succeeded PaymentIntent records under ``stamp``."""
        amount = pi.get("amount_received") or pi["amount"]
        return self._success_of(str(pi["id"]), pi, metadata_of(pi), amount, stamp)

    def session_completed(self, event: dict[str, Any], session: dict[str, Any]) -> Outcome:
        return self._record(self._session_success(event, session))

    def _session_success(
        self, event: dict[str, Any], session: dict[str, Any]
    ) -> Recording | Outcome:
        pi = session.get("payment_intent")
        pi_id = pi["id"] if isinstance(pi, dict) else pi
        if session.get("payment_status") != "paid" or not pi_id:
            return Outcome("ignored", f"checkout session {session['id']} is not paid yet")
        meta, amount = metadata_of(session), session["amount_total"]
        return self._success_of(str(pi_id), session, meta, amount, stamp_of(event))

    def _success_of(
        self, pi_id: str, obj: dict[str, Any], meta: dict[str, str], amount: int, stamp: Stamp
    ) -> Recording | Outcome:
        account = self._account(obj, meta)
        if account is None:
            return Outcome("unmatched", f"no account for {pi_id}: no account_id in metadata", pi_id)
        payment = RecordPayment(
            account_id=account,
            amount=Money(int(amount), str(obj["currency"]).upper()),
            method=method_of(obj),
            received_on=stamp.effective_at.date(),
            stamp=stamp,
            reference=pi_id,
            payment_id=payment_id_for(f"{pi_id}/succeeded"),
        )
        return Recording(payment, pi_id, uuid_of(meta.get("invoice_id")))

    def _record(self, recording: Recording | Outcome) -> Outcome:
        """Record the payment, then allocate it to the invoice named, each command once."""
        if isinstance(recording, Outcome):
            return recording
        saved = self.ledger.record_payment(recording.payment)
        done = recording.outcome(saved.replayed, saved.position)
        done.payment_status = saved.aggregate.status
        if recording.invoice_id is not None:
            done.detail += self._allocate(recording, recording.invoice_id, done)
        return done

    def _allocate(self, recording: Recording, invoice_id: UUID, done: Outcome) -> str:
        money = recording.payment.amount
        try:
            invoice = self.ledger.get_invoice(invoice_id)
        except UnknownInvoice:
            return f"; invoice {invoice_id} in the metadata is unknown, left unallocated"
        amount = min(money, invoice.outstanding) if invoice.currency == money.currency else None
        if amount is None or invoice.is_void or amount.is_zero():
            return f"; invoice {invoice.number} owes nothing in {money.currency}, left unallocated"
        result = self.ledger.allocate_payment(
            AllocatePayment(
                payment_id=recording.payment_id,
                request_id=recording.allocation_request,
                stamp=recording.payment.stamp,
                allocations=((invoice_id, amount),),
            )
        )
        if result.replayed:
            return f"; allocated to invoice {invoice.number} before"
        done.outcome = "applied"
        done.positions.append(result.position)
        return f"; {amount} allocated to invoice {invoice.number}"

    def failed(self, event: dict[str, Any], pi: dict[str, Any]) -> Outcome:
        return self.record_failure(event, pi, stamp_of(event))

    def record_failure(self, event: dict[str, Any], pi: dict[str, Any], stamp: Stamp) -> Outcome:
        """A failed attempt at a PaymentIntent, with Stripe's decline code and message."""
        return self._record(self.failure_of(event, pi, stamp))

    def failure_of(
        self, event: dict[str, Any], pi: dict[str, Any], stamp: Stamp
    ) -> Recording | Outcome:
        """The failed attempt a PaymentIntent's failure records: one per charge."""
        meta = metadata_of(pi)
        account = self._account(pi, meta)
        if account is None:
            return Outcome("unmatched", f"no account for {pi['id']}", pi["id"])
        error = pi.get("last_payment_error") or {}
        attempt = error.get("charge") or event["id"]
        payment = RecordPayment(
            account_id=account,
            amount=Money(int(pi["amount"]), str(pi["currency"]).upper()),
            method=method_of(pi),
            received_on=stamp.effective_at.date(),
            stamp=stamp,
            reference=pi["id"],
            status="failed",
            failure_code=error.get("decline_code") or error.get("code") or "payment_failed",
            failure_message=error.get("message"),
            payment_id=payment_id_for(f"{pi['id']}/failed/{attempt}"),
        )
        return Recording(payment, str(pi["id"]))

    # --- what happens to a succeeded payment afterwards: ``channels/stripe_reversals.py``

    def refunded(self, event: dict[str, Any], charge: dict[str, Any]) -> Outcome:
        return stripe_reversals.refunded(self.ledger, event, charge)

    def dispute(self, event: dict[str, Any], dispute: dict[str, Any]) -> Outcome:
        return stripe_reversals.disputed(self.ledger, event, dispute)

    def charge_failed(self, event: dict[str, Any], charge: dict[str, Any]) -> Outcome:
        return stripe_reversals.charge_failed(self.ledger, event, charge)


HANDLERS = {
    "payment_intent.succeeded": StripeEvents.succeeded,
    "checkout.session.completed": StripeEvents.session_completed,
    "payment_intent.payment_failed": StripeEvents.failed,
    "charge.refunded": StripeEvents.refunded,
    "charge.dispute.created": StripeEvents.dispute,
    "charge.dispute.closed": StripeEvents.dispute,
    "charge.failed": StripeEvents.charge_failed,
}
# Events that make a PaymentIntent's succeeded payment exist: deferred ones may follow.
CREATES_PAYMENT = ("payment_intent.succeeded", "checkout.session.completed")
# Events that record a payment (``StripeEvents.recording``): a batch records them together.
RECORDS_PAYMENT = (*CREATES_PAYMENT, "payment_intent.payment_failed")
