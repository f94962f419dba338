"""What happens to a succeeded card payment afterwards, as Stripe tells it: refunds
(partial too, one per Stripe refund id), disputes (a chargeback opened, then won or lost)
and the late failure of a bank debit (a return). Each needs the PaymentIntent's succeeded
payment: while the ledger lacks it, the event is ``deferred`` and applied when it arrives
(``channels/stripe_applier.py``, ``channels/reconcile.py``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from channels.stripe_outcome import BANK_DEBITS, Outcome, day_of, payment_id_for, stamp_of
from ledger.application import Ledger
from ledger.commands import CloseChargeback, OpenChargeback, RefundPayment, ReturnPayment
from ledger.errors import UnknownPayment
from ledger.money import Money


def paid(ledger: Ledger, pi_id: str | None) -> UUID | None:
    """The ledger's succeeded payment of a PaymentIntent, if it has it yet."""
    if not pi_id:
        return None
    payment_id = payment_id_for(f"{pi_id}/succeeded")
    try:
        ledger.get_payment(payment_id)
    except UnknownPayment:
        return None
    return payment_id


def refunded(ledger: Ledger, event: dict[str, Any], charge: dict[str, Any]) -> Outcome:
    pi_id = _pi(charge)
    payment_id = paid(ledger, pi_id)
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
            payment = ledger.get_payment(payment_id)
            amount = refund["total"] - payment.refunded.amount_minor
            if amount <= 0:
                continue
        saved = ledger.refund_payment(
            RefundPayment(
                payment_id=payment_id,
                request_id=f"stripe:{refund['id']}",
                amount=Money(int(amount), currency),
                reason=f"refunded in Stripe ({refund['id']})",
                refunded_on=day_of(refund.get("created") or event["created"]),
                stamp=stamp_of(event),
                reverse_allocations=True,
            )
        )
        if not saved.replayed:
            done.outcome, done.detail = "applied", "refunds applied"
            done.positions.append(saved.position)
    return done


def disputed(ledger: Ledger, event: dict[str, Any], dispute: dict[str, Any]) -> Outcome:
    pi_id = _pi(dispute)
    payment_id = paid(ledger, pi_id)
    if payment_id is None:
        return Outcome("deferred", f"no succeeded payment for {pi_id} yet", pi_id)
    done = Outcome("ignored", f"dispute {dispute['id']} already recorded", pi_id)
    opened = ledger.open_chargeback(
        OpenChargeback(
            payment_id=payment_id,
            chargeback_id=f"stripe:{dispute['id']}",
            amount=Money(int(dispute["amount"]), str(dispute["currency"]).upper()),
            reason=f"card dispute: {dispute.get('reason') or 'unspecified'}",
            opened_on=day_of(dispute.get("created") or event["created"]),
            stamp=stamp_of(event, dispute.get("created")),
        )
    )
    if not opened.replayed:
        done.outcome, done.detail = "applied", f"chargeback {dispute['id']} opened"
        done.positions.append(opened.position)
    if event["type"] == "charge.dispute.closed" and dispute.get("status") in ("won", "lost"):
        closed = ledger.close_chargeback(
            CloseChargeback(
                payment_id=payment_id,
                chargeback_id=f"stripe:{dispute['id']}",
                won=dispute["status"] == "won",
                reason=f"dispute {dispute['status']} in Stripe",
                stamp=stamp_of(event),
            )
        )
        if not closed.replayed:
            done.outcome = "applied"
            done.detail = f"chargeback {dispute['id']} {dispute['status']}"
            done.positions.append(closed.position)
    return done


def charge_failed(ledger: Ledger, event: dict[str, Any], charge: dict[str, Any]) -> Outcome:
    """A bank debit that failed after it had succeeded: a return. A card charge that
    failed is already told by ``payment_intent.payment_failed``."""
    pi_id = _pi(charge)
    payment_id = paid(ledger, pi_id)
    kind = (charge.get("payment_method_details") or {}).get("type")
    if payment_id is None and kind in BANK_DEBITS:
        return Outcome("deferred", f"the debit's success for {pi_id} has not arrived", pi_id)
    if payment_id is None:
        return Outcome("ignored", "a failed charge: the attempt's failure tells it", pi_id)
    if ledger.get_payment(payment_id).method == "card":
        return Outcome("ignored", "a card charge does not fail after it succeeded", pi_id)
    saved = ledger.return_payment(
        ReturnPayment(
            payment_id=payment_id,
            request_id=f"stripe:{charge['id']}/failed",
            return_code=str(charge.get("failure_code") or "debit_failed"),
            returned_on=day_of(event["created"]),
            stamp=stamp_of(event),
            reason=charge.get("failure_message"),
        )
    )
    return Outcome("applied", f"payment {payment_id} returned", pi_id, [saved.position])


def _pi(obj: dict[str, Any]) -> str | None:
    pi = obj.get("payment_intent")
    if isinstance(pi, dict):
        return str(pi["id"])
    return str(pi) if pi else None
