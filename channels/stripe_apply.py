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

Order of arrival does not matter: attempts are separate payments, refunds and disputes
are keyed by their own ids, and an event about a payment the ledger does not have yet
(a refund before the success) is deferred and applied when that payment arrives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import UUID, uuid5

from ledger.application import Ledger
from ledger.commands import (
    AllocatePayment,
    CloseChargeback,
    OpenChargeback,
    RecordPayment,
    RefundPayment,
    ReturnPayment,
)
from ledger.errors import LedgerError, UnknownInvoice, UnknownPayment
from ledger.money import Money
from ledger.stamp import Stamp

STRIPE_NAMESPACE = UUID("0d7c4a52-52a4-4f4e-8f0a-6a8b3f3e1c11")
ACTOR = "stripe"
# Stripe's payment method types that are bank debits: their money can fail late.
BANK_DEBITS = {"bacs_debit": "bacs", "sepa_debit": "direct_debit", "us_bank_account": "ach"}


def payment_id_for(key: str) -> UUID:
    """The ledger payment for a Stripe outcome: ``<pi>/succeeded`` or a failure's key."""
    return uuid5(STRIPE_NAMESPACE, key)


@dataclass
class Outcome:
    """What applying one event did: ``applied``, ``ignored`` (nothing to do: already
    done, or superseded), ``deferred`` (waits for its payment), ``unhandled`` (a type we
    do not map) or ``unmatched`` (no account could be found for it)."""

    outcome: str
    detail: str
    payment_intent: str | None = None
    positions: list[int] = field(default_factory=list)
    # The ledger payment the event was recorded as, and its status in the ledger.
    payment_id: UUID | None = None
    payment_status: str | None = None


def _stamp(event: dict[str, Any], at: int | None = None) -> Stamp:
    when = datetime.fromtimestamp(int(at if at is not None else event["created"]), UTC)
    return Stamp(ACTOR, str(event["id"]), f"stripe:{event['id']}", when)


def _day(epoch: int) -> date:
    return datetime.fromtimestamp(int(epoch), UTC).date()


def _metadata(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {str(k): str(v) for k, v in meta.items()}


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _method(obj: dict[str, Any]) -> str:
    types = obj.get("payment_method_types") or ["card"]
    return BANK_DEBITS.get(types[0], "card")


@dataclass(frozen=True)
class Recording:
    """The payment a PaymentIntent's outcome records (its success, or a failed attempt),
    and the invoice its metadata names, which a success is allocated to up to what that
    invoice still owes. Applied alone (``StripeEvents``) or many to a save
    (``channels/stripe_receipts.py``), it records the same payment under the same id."""

    payment: RecordPayment
    pi_id: str
    invoice_id: UUID | None = None

    @property
    def payment_id(self) -> UUID:
        return cast(UUID, self.payment.payment_id)

    @property
    def allocation_request(self) -> str:
        """The allocation's idempotency key: the payment allocates it once."""
        return f"stripe:{self.payment_id}/allocate"

    def outcome(self, recorded_before: bool, position: int | None = None) -> Outcome:
        """``applied``, or ``ignored`` when the ledger had the payment already; at
        ``position``, when it is known."""
        what = (
            f"payment {self.payment_id} succeeded"
            if self.payment.status == "succeeded"
            else f"failed attempt {self.payment_id}"
        )
        positions = [] if position is None else [position]
        done = Outcome("applied", what, self.pi_id, positions, self.payment_id)
        if recorded_before:
            done.outcome = "ignored"
            done.detail = what.removesuffix(" succeeded") + " was recorded before"
        return done


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
            return self.failure_of(event, obj, _stamp(event))
        if event["type"] == "checkout.session.completed":
            return self._session_success(event, obj)
        return self.success_of(obj, _stamp(event))

    # --- PaymentIntents ----------------------------------------------------------------

    def _account(self, obj: dict[str, Any], meta: dict[str, str]) -> UUID | None:
        found = _uuid(meta.get("account_id"))
        if found is None and obj.get("customer"):
            found = _uuid(self.account_of_customer(str(obj["customer"])))
        return found

    def succeeded(self, event: dict[str, Any], pi: dict[str, Any]) -> Outcome:
        return self.record_success(event, pi, _stamp(event))

    def record_success(self, event: dict[str, Any], pi: dict[str, Any], stamp: Stamp) -> Outcome:
        """A succeeded PaymentIntent: from its webhook, or taken by a coordinator."""
        return self._record(self.success_of(pi, stamp))

    def success_of(self, pi: dict[str, Any], stamp: Stamp) -> Recording | Outcome:
        """The payment a succeeded PaymentIntent records under ``stamp``."""
        amount = pi.get("amount_received") or pi["amount"]
        return self._success_of(str(pi["id"]), pi, _metadata(pi), amount, stamp)

    def session_completed(self, event: dict[str, Any], session: dict[str, Any]) -> Outcome:
        return self._record(self._session_success(event, session))

    def _session_success(
        self, event: dict[str, Any], session: dict[str, Any]
    ) -> Recording | Outcome:
        pi = session.get("payment_intent")
        pi_id = pi["id"] if isinstance(pi, dict) else pi
        if session.get("payment_status") != "paid" or not pi_id:
            return Outcome("ignored", f"checkout session {session['id']} is not paid yet")
        meta, amount = _metadata(session), session["amount_total"]
        return self._success_of(str(pi_id), session, meta, amount, _stamp(event))

    def _success_of(
        self, pi_id: str, obj: dict[str, Any], meta: dict[str, str], amount: int, stamp: Stamp
    ) -> Recording | Outcome:
        account = self._account(obj, meta)
        if account is None:
            return Outcome("unmatched", f"no account for {pi_id}: no account_id in metadata", pi_id)
        payment = RecordPayment(
            account_id=account,
            amount=Money(int(amount), str(obj["currency"]).upper()),
            method=_method(obj),
            received_on=stamp.effective_at.date(),
            stamp=stamp,
            reference=pi_id,
            payment_id=payment_id_for(f"{pi_id}/succeeded"),
        )
        return Recording(payment, pi_id, _uuid(meta.get("invoice_id")))

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
        return self.record_failure(event, pi, _stamp(event))

    def record_failure(self, event: dict[str, Any], pi: dict[str, Any], stamp: Stamp) -> Outcome:
        """A failed attempt at a PaymentIntent, with Stripe's decline code and message."""
        return self._record(self.failure_of(event, pi, stamp))

    def failure_of(
        self, event: dict[str, Any], pi: dict[str, Any], stamp: Stamp
    ) -> Recording | Outcome:
        """The failed attempt a PaymentIntent's failure records: one per charge."""
        meta = _metadata(pi)
        account = self._account(pi, meta)
        if account is None:
            return Outcome("unmatched", f"no account for {pi['id']}", pi["id"])
        error = pi.get("last_payment_error") or {}
        attempt = error.get("charge") or event["id"]
        payment = RecordPayment(
            account_id=account,
            amount=Money(int(pi["amount"]), str(pi["currency"]).upper()),
            method=_method(pi),
            received_on=stamp.effective_at.date(),
            stamp=stamp,
            reference=pi["id"],
            status="failed",
            failure_code=error.get("decline_code") or error.get("code") or "payment_failed",
            failure_message=error.get("message"),
            payment_id=payment_id_for(f"{pi['id']}/failed/{attempt}"),
        )
        return Recording(payment, str(pi["id"]))

    # --- what happens to a succeeded payment afterwards ---------------------------------

    def _paid(self, pi_id: str | None) -> UUID | None:
        """The ledger's succeeded payment of a PaymentIntent, if it has it yet."""
        if not pi_id:
            return None
        payment_id = payment_id_for(f"{pi_id}/succeeded")
        try:
            self.ledger.get_payment(payment_id)
        except UnknownPayment:
            return None
        return payment_id

    def refunded(self, event: dict[str, Any], charge: dict[str, Any]) -> Outcome:
        pi_id = _pi(charge)
        payment_id = self._paid(pi_id)
        if payment_id is None:
            return Outcome("deferred", f"no succeeded payment for {pi_id} yet", pi_id)
        refunds = (charge.get("refunds") or {}).get("data") or []
        if not refunds:  # an API version that does not embed them: the running total
            total = int(charge["amount_refunded"])
            refunds = [{"id": f"{charge['id']}/refunded/{total}", "amount": None, "total": total}]
        done = Outcome("ignored", "every refund was applied before", pi_id)
        currency = str(charge["currency"]).upper()
        for refund in refunds:
            amount = refund.get("amount")
            if amount is None:
                payment = self.ledger.get_payment(payment_id)
                amount = refund["total"] - payment.refunded.amount_minor
                if amount <= 0:
                    continue
            saved = self.ledger.refund_payment(
                RefundPayment(
                    payment_id=payment_id,
                    request_id=f"stripe:{refund['id']}",
                    amount=Money(int(amount), currency),
                    reason=f"refunded in Stripe ({refund['id']})",
                    refunded_on=_day(refund.get("created") or event["created"]),
                    stamp=_stamp(event),
                    reverse_allocations=True,
                )
            )
            if not saved.replayed:
                done.outcome, done.detail = "applied", "refunds applied"
                done.positions.append(saved.position)
        return done

    def dispute(self, event: dict[str, Any], dispute: dict[str, Any]) -> Outcome:
        pi_id = _pi(dispute)
        payment_id = self._paid(pi_id)
        if payment_id is None:
            return Outcome("deferred", f"no succeeded payment for {pi_id} yet", pi_id)
        done = Outcome("ignored", f"dispute {dispute['id']} already recorded", pi_id)
        opened = self.ledger.open_chargeback(
            OpenChargeback(
                payment_id=payment_id,
                chargeback_id=f"stripe:{dispute['id']}",
                amount=Money(int(dispute["amount"]), str(dispute["currency"]).upper()),
                reason=f"card dispute: {dispute.get('reason') or 'unspecified'}",
                opened_on=_day(dispute.get("created") or event["created"]),
                stamp=_stamp(event, dispute.get("created")),
            )
        )
        if not opened.replayed:
            done.outcome, done.detail = "applied", f"chargeback {dispute['id']} opened"
            done.positions.append(opened.position)
        if event["type"] == "charge.dispute.closed" and dispute.get("status") in ("won", "lost"):
            closed = self.ledger.close_chargeback(
                CloseChargeback(
                    payment_id=payment_id,
                    chargeback_id=f"stripe:{dispute['id']}",
                    won=dispute["status"] == "won",
                    reason=f"dispute {dispute['status']} in Stripe",
                    stamp=_stamp(event),
                )
            )
            if not closed.replayed:
                done.outcome = "applied"
                done.detail = f"chargeback {dispute['id']} {dispute['status']}"
                done.positions.append(closed.position)
        return done

    def charge_failed(self, event: dict[str, Any], charge: dict[str, Any]) -> Outcome:
        """A bank debit that failed after it had succeeded: a return. A card charge that
        failed is already told by ``payment_intent.payment_failed``."""
        pi_id = _pi(charge)
        payment_id = self._paid(pi_id)
        kind = (charge.get("payment_method_details") or {}).get("type")
        if payment_id is None and kind in BANK_DEBITS:
            return Outcome("deferred", f"the debit's success for {pi_id} has not arrived", pi_id)
        if payment_id is None:
            return Outcome("ignored", "a failed charge: the attempt's failure tells it", pi_id)
        if self.ledger.get_payment(payment_id).method == "card":
            return Outcome("ignored", "a card charge does not fail after it succeeded", pi_id)
        saved = self.ledger.return_payment(
            ReturnPayment(
                payment_id=payment_id,
                request_id=f"stripe:{charge['id']}/failed",
                return_code=str(charge.get("failure_code") or "debit_failed"),
                returned_on=_day(event["created"]),
                stamp=_stamp(event),
                reason=charge.get("failure_message"),
            )
        )
        return Outcome("applied", f"payment {payment_id} returned", pi_id, [saved.position])


def _pi(obj: dict[str, Any]) -> str | None:
    pi = obj.get("payment_intent")
    if isinstance(pi, dict):
        return str(pi["id"])
    return str(pi) if pi else None


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


def refused(error: LedgerError) -> Outcome:
    """An event the ledger's rules refused (a refund larger than the payment, say): kept,
    with the reason, for a person to look at; Stripe is told it arrived."""
    return Outcome("refused", f"{error.code}: {error.detail}")
