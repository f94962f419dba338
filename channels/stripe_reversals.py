"""What happens to a succeeded card payment afterwards, as Stripe tells it: refunds
(partial too, one per Stripe refund id), disputes (a chargeback opened, then won or lost)
and the late failure of a bank debit (a return). Each needs the PaymentIntent's succeeded
payment: while the ledger lacks it, the event is ``deferred`` and applied when it arrives
(``channels/stripe_applier.py``, ``channels/reconcile.py``).

What a refund or a dispute asks of the ledger (``Asked``: its reversal commands, and the
outcome they come to) is decided from the event and from whether the payment is there,
so that it is the same applied alone (``refunded``, ``disputed``) or with a batch's
others in one save (``channels/stripe_reversal_runs.py``)."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from channels.stripe_outcome import BANK_DEBITS, Outcome, day_of, payment_id_for, stamp_of
from ledger.application import Ledger
from ledger.commands import CloseChargeback, OpenChargeback, RefundPayment, ReturnPayment
from ledger.errors import UnknownPayment
from ledger.money import Money
from ledger.reversals import Reversal
from ledger.store import Saved

# The events whose reversals ``asked_of`` decides without reading the ledger (a refund
# told as a running total, or a failed charge, reads it: those are applied alone).
ASKS_REVERSALS = ("charge.refunded", "charge.dispute.created", "charge.dispute.closed")


@dataclass(frozen=True)
class Asked:
    """What one event asks of the ledger once its payment is there: reversals, in order,
    and what they come to: ``ignored`` when none appended, else ``applied`` with the
    detail of the last one that did."""

    pi_id: str | None
    reversals: list[Reversal]
    ignored: str
    details: list[str]  # one a reversal

    def outcome(self, positions: Sequence[int | None]) -> Outcome:
        """The event's outcome, given the position each reversal appended at (None: it
        had run before)."""
        done = Outcome("ignored", self.ignored, self.pi_id)
        for detail, position in zip(self.details, positions, strict=True):
            if position is not None:
                done.outcome, done.detail = "applied", detail
                done.positions.append(position)
        return done


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


def succeeded_payments(ledger: Ledger, events: Sequence[dict[str, Any]]) -> set[UUID]:
    """Which of the events' PaymentIntents' succeeded payments the ledger has: one read."""
    pis = {_pi(event["data"]["object"]) for event in events}
    ids = [payment_id_for(f"{pi}/succeeded") for pi in pis if pi]
    return set(ledger.uow.latest_versions(ids)) if ids else set()


def asked_of(event: dict[str, Any], stored: Container[UUID]) -> Asked | Outcome | None:
    """What a refund or a dispute asks, given which succeeded payments the ledger has
    (``stored``); ``deferred`` while its payment is not there; None for an event that
    must read the ledger, to be applied alone (``ASKS_REVERSALS`` says which do not)."""
    obj = event["data"]["object"]
    if event["type"] not in ASKS_REVERSALS or (
        event["type"] == "charge.refunded" and _listed(obj) is None
    ):
        return None
    pi_id = _pi(obj)
    payment_id = payment_id_for(f"{pi_id}/succeeded") if pi_id else None
    if payment_id is None or payment_id not in stored:
        return _waits(pi_id)
    if event["type"] == "charge.refunded":
        return refunds_asked(event, obj, payment_id, _listed(obj) or [])
    return dispute_asked(event, obj, payment_id)


def refunded(ledger: Ledger, event: dict[str, Any], charge: dict[str, Any]) -> Outcome:
    pi_id = _pi(charge)
    payment_id = paid(ledger, pi_id)
    if payment_id is None:
        return _waits(pi_id)
    refunds = _listed(charge)
    if refunds is None:  # an API version that does not embed them: the running total
        total = int(charge["amount_refunded"])
        amount = total - ledger.get_payment(payment_id).refunded.amount_minor
        refund = {"id": f"{charge['id']}/refunded/{total}", "amount": amount}
        refunds = [refund] if amount > 0 else []
    return run_alone(ledger, refunds_asked(event, charge, payment_id, refunds))


def refunds_asked(
    event: dict[str, Any], charge: dict[str, Any], payment_id: UUID, refunds: list[dict[str, Any]]
) -> Asked:
    """One refund of the payment for each Stripe refund, keyed by its id."""
    currency = str(charge["currency"]).upper()
    reversals: list[Reversal] = [
        RefundPayment(
            payment_id=payment_id,
            request_id=f"stripe:{refund['id']}",
            amount=Money(int(refund["amount"]), currency),
            reason=f"refunded in Stripe ({refund['id']})",
            refunded_on=day_of(refund.get("created") or event["created"]),
            stamp=stamp_of(event),
            reverse_allocations=True,
        )
        for refund in refunds
    ]
    details = ["refunds applied"] * len(reversals)
    return Asked(_pi(charge), reversals, "every refund was applied before", details)


def disputed(ledger: Ledger, event: dict[str, Any], dispute: dict[str, Any]) -> Outcome:
    pi_id = _pi(dispute)
    payment_id = paid(ledger, pi_id)
    if payment_id is None:
        return _waits(pi_id)
    return run_alone(ledger, dispute_asked(event, dispute, payment_id))


def dispute_asked(event: dict[str, Any], dispute: dict[str, Any], payment_id: UUID) -> Asked:
    """A chargeback opened (once) and, when the dispute closed won or lost, closed."""
    key = f"stripe:{dispute['id']}"
    reversals: list[Reversal] = [
        OpenChargeback(
            payment_id=payment_id,
            chargeback_id=key,
            amount=Money(int(dispute["amount"]), str(dispute["currency"]).upper()),
            reason=f"card dispute: {dispute.get('reason') or 'unspecified'}",
            opened_on=day_of(dispute.get("created") or event["created"]),
            stamp=stamp_of(event, dispute.get("created")),
        )
    ]
    details = [f"chargeback {dispute['id']} opened"]
    if event["type"] == "charge.dispute.closed" and dispute.get("status") in ("won", "lost"):
        reversals.append(
            CloseChargeback(
                payment_id=payment_id,
                chargeback_id=key,
                won=dispute["status"] == "won",
                reason=f"dispute {dispute['status']} in Stripe",
                stamp=stamp_of(event),
            )
        )
        details.append(f"chargeback {dispute['id']} {dispute['status']}")
    ignored = f"dispute {dispute['id']} already recorded"
    return Asked(_pi(dispute), reversals, ignored, details)


def run_alone(ledger: Ledger, asked: Asked) -> Outcome:
    """Each reversal as its own ledger command, in order (the first refused raises)."""
    positions = []
    for reversal in asked.reversals:
        saved = _COMMANDS[type(reversal)](ledger, reversal)
        positions.append(None if saved.replayed else saved.position)
    return asked.outcome(positions)


_COMMANDS: dict[type, Callable[[Ledger, Any], Saved]] = {
    RefundPayment: Ledger.refund_payment,
    OpenChargeback: Ledger.open_chargeback,
    CloseChargeback: Ledger.close_chargeback,
}


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


def _waits(pi_id: str | None) -> Outcome:
    return Outcome("deferred", f"no succeeded payment for {pi_id} yet", pi_id)


def _listed(charge: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The charge's refunds, each with its amount; None when the API version does not
    embed them (then only the running total is told)."""
    refunds: list[dict[str, Any]] = (charge.get("refunds") or {}).get("data") or []
    return refunds or None


def _pi(obj: dict[str, Any]) -> str | None:
    pi = obj.get("payment_intent")
    if isinstance(pi, dict):
        return str(pi["id"])
    return str(pi) if pi else None
