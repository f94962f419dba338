"""The payment: money received (or attempted) from a client, and where it was applied."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger import payment_rules as rules
from ledger.money import Money
from ledger.payment_state import PaymentFigures
from ledger.payment_state import upcast_state_v1_v2 as _upcast_state_v1_v2
from ledger.stamp import Stamp

PAYMENT_METHODS = ("card", "bacs", "ach", "direct_debit", "cheque", "cash", "other")
PAYMENT_STATUSES = ("pending", "succeeded", "failed")
PAYMENT_PURPOSES = ("payment", "deposit")


class Payment(PaymentFigures, Aggregate):
    """A payment in one currency; only a succeeded payment holds cash to allocate."""

    # Version 2 added reversals: what is applied per invoice, refunds, returns, chargebacks.
    class_version = 2
    upcast_v1_v2 = staticmethod(_upcast_state_v1_v2)

    class Recorded(Aggregate.Created):
        """A payment was received or attempted (``status`` says which, and why it failed);
        a ``purpose`` of "deposit" is held as security."""

        cloudevent_type: ClassVar[str] = "arledger.payment.recorded"
        account_id: UUID
        amount: Money
        method: str
        received_on: date
        reference: str | None
        status: str
        failure_code: str | None
        failure_message: str | None
        stamp: Stamp
        purpose: str

    @event(Recorded)
    def __init__(
        self,
        account_id: UUID,
        amount: Money,
        method: str,
        received_on: date,
        reference: str | None,
        status: str,
        failure_code: str | None,
        failure_message: str | None,
        stamp: Stamp,
        purpose: str = "payment",
    ) -> None:
        # ``purpose``: "deposit" for money held as security, applied only when the
        # coordinator says so, refunded on termination or forfeited.
        self.purpose = purpose
        self.forfeited = Money.zero(amount.currency)
        self.account_id = account_id
        self.amount = amount
        self.method = method
        self.received_on = received_on
        self.reference = reference
        self.status = status
        self.failure_code = failure_code
        self.failure_message = failure_message
        self.allocated = Money.zero(amount.currency)
        self.allocation_requests: dict[str, list[tuple[UUID, Money]]] = {}
        # What is applied to each invoice now, newest allocation last (str keys: snapshots
        # are JSON), so reversals can take back the newest first.
        self.applied: dict[str, Money] = {}
        self.refunded = Money.zero(amount.currency)
        self.taken_back = Money.zero(amount.currency)  # returned or charged back
        self.chargebacks: dict[str, Money] = {}  # open chargebacks by id
        self.request_ids: list[str] = []  # reversals and refunds already done
        self.receipts = 0

    def succeed(self, stamp: Stamp) -> None:
        rules.require_pending(self, "succeed")
        self._succeeded(account_id=self.account_id, stamp=stamp)

    class Succeeded(Aggregate.Event):
        """A pending payment's money arrived."""

        cloudevent_type: ClassVar[str] = "arledger.payment.succeeded"
        account_id: UUID
        stamp: Stamp

    @event(Succeeded)
    def _succeeded(self, account_id: UUID, stamp: Stamp) -> None:
        self.status = "succeeded"

    def fail(self, failure_code: str, failure_message: str | None, stamp: Stamp) -> None:
        rules.require_pending(self, "fail")
        self._failed(self.account_id, failure_code, failure_message, stamp)

    class Failed(Aggregate.Event):
        """A pending payment failed, with the channel's code and message."""

        cloudevent_type: ClassVar[str] = "arledger.payment.failed"
        account_id: UUID
        failure_code: str
        failure_message: str | None
        stamp: Stamp

    @event(Failed)
    def _failed(
        self, account_id: UUID, failure_code: str, failure_message: str | None, stamp: Stamp
    ) -> None:
        self.status = "failed"
        self.failure_code = failure_code
        self.failure_message = failure_message

    def allocate(
        self,
        request_id: str,
        strategy: str,
        allocations: list[tuple[UUID, Money]],
        stamp: Stamp,
    ) -> None:
        """Record that this payment was applied to invoices, as one event, so that the
        split is visible as the single decision it was."""
        rules.check_allocation(self, allocations)
        rows = [{"invoice_id": inv, "amount": amt} for inv, amt in allocations]
        self._allocated(self.account_id, request_id, strategy, rows, stamp)

    class Allocated(Aggregate.Event):
        """The payment was applied to invoices: ``allocations`` rows of invoice and
        amount, by ``strategy``."""

        cloudevent_type: ClassVar[str] = "arledger.payment.allocated"
        account_id: UUID
        request_id: str
        strategy: str
        allocations: list[dict[str, Any]]
        stamp: Stamp

    @event(Allocated)
    def _allocated(
        self,
        account_id: UUID,
        request_id: str,
        strategy: str,
        allocations: list[dict[str, Any]],
        stamp: Stamp,
    ) -> None:
        applied = [(row["invoice_id"], row["amount"]) for row in allocations]
        for invoice_id, amount in applied:
            self.allocated = self.allocated + amount
            key = str(invoice_id)
            self.applied[key] = self.applied.pop(key, Money.zero(self.currency)) + amount
        self.allocation_requests[request_id] = applied

    # --- reversals -----------------------------------------------------------------

    def unallocate(
        self,
        request_id: str,
        rule: str,
        reason: str,
        rows: list[tuple[UUID, Money]],
        stamp: Stamp,
    ) -> None:
        """Take back allocations (never more than is applied to each invoice), recording
        the rule that produced the reversal: manual, refund, chargeback or return."""
        rules.check_unallocation(self, rows)
        allocations = [{"invoice_id": i, "amount": a} for i, a in rows]
        self._unallocated(self.account_id, request_id, rule, reason, allocations, stamp)

    class Unallocated(Aggregate.Event):
        """Allocations were taken back, by ``rule``: manual, refund, chargeback or
        return."""

        cloudevent_type: ClassVar[str] = "arledger.payment.unallocated"
        account_id: UUID
        request_id: str
        rule: str
        reason: str
        allocations: list[dict[str, Any]]
        stamp: Stamp

    @event(Unallocated)
    def _unallocated(
        self,
        account_id: UUID,
        request_id: str,
        rule: str,
        reason: str,
        allocations: list[dict[str, Any]],
        stamp: Stamp,
    ) -> None:
        for row in allocations:
            key, amount = str(row["invoice_id"]), row["amount"]
            self.allocated = self.allocated - amount
            left = self.applied[key] - amount
            if left.is_zero():
                del self.applied[key]
            else:
                self.applied[key] = left
        self.request_ids.append(request_id)

    def refund(
        self, request_id: str, amount: Money, reason: str, refunded_on: date, stamp: Stamp
    ) -> None:
        """Pay cash back to the client: only unallocated cash (reverse allocations first)."""
        rules.check_refund(self, amount)
        self._refunded(self.account_id, request_id, amount, reason, refunded_on, stamp)

    class Refunded(Aggregate.Event):
        """Unallocated cash was paid back to the client."""

        cloudevent_type: ClassVar[str] = "arledger.payment.refunded"
        account_id: UUID
        request_id: str
        amount: Money
        reason: str
        refunded_on: date
        stamp: Stamp

    @event(Refunded)
    def _refunded(
        self,
        account_id: UUID,
        request_id: str,
        amount: Money,
        reason: str,
        refunded_on: date,
        stamp: Stamp,
    ) -> None:
        self.refunded = self.refunded + amount
        self.request_ids.append(request_id)

    def mark_returned(
        self, request_id: str, return_code: str, reason: str | None, stamp: Stamp
    ) -> None:
        """The bank took the money back (a late direct-debit failure, a bounced cheque).
        Every allocation must have been reversed first; the payment then holds nothing."""
        rules.check_return(self)
        amount = self.unallocated
        self._returned(self.account_id, request_id, amount, return_code, reason, stamp)

    class Returned(Aggregate.Event):
        """The bank took the money back (a direct debit returned, a cheque bounced)."""

        cloudevent_type: ClassVar[str] = "arledger.payment.returned"
        account_id: UUID
        request_id: str
        amount: Money
        return_code: str
        reason: str | None
        stamp: Stamp

    @event(Returned)
    def _returned(
        self,
        account_id: UUID,
        request_id: str,
        amount: Money,
        return_code: str,
        reason: str | None,
        stamp: Stamp,
    ) -> None:
        self.taken_back = self.taken_back + amount
        self.status = "returned"
        self.request_ids.append(request_id)

    def open_chargeback(self, chargeback_id: str, amount: Money, reason: str, stamp: Stamp) -> None:
        """The card scheme took ``amount`` back pending the dispute; allocations covering
        it must have been reversed first."""
        rules.check_chargeback(self, amount)
        self._chargeback_opened(self.account_id, chargeback_id, amount, reason, stamp)

    class ChargebackOpened(Aggregate.Event):
        """The card scheme took ``amount`` back pending the card holder's dispute."""

        cloudevent_type: ClassVar[str] = "arledger.payment.chargeback_opened"
        account_id: UUID
        chargeback_id: str
        amount: Money
        reason: str
        stamp: Stamp

    @event(ChargebackOpened)
    def _chargeback_opened(
        self, account_id: UUID, chargeback_id: str, amount: Money, reason: str, stamp: Stamp
    ) -> None:
        self.taken_back = self.taken_back + amount
        self.chargebacks[chargeback_id] = amount
        self.request_ids.append(chargeback_id)

    def close_chargeback(self, chargeback_id: str, won: bool, reason: str, stamp: Stamp) -> None:
        """Won: the money comes back to the payment, unallocated. Lost: it stays gone."""
        rules.check_chargeback_open(self, chargeback_id)
        outcome, amount = "won" if won else "lost", self.chargebacks[chargeback_id]
        self._chargeback_closed(self.account_id, chargeback_id, outcome, amount, reason, stamp)

    class ChargebackClosed(Aggregate.Event):
        """A chargeback was won (the money is back, unallocated) or lost."""

        cloudevent_type: ClassVar[str] = "arledger.payment.chargeback_closed"
        account_id: UUID
        chargeback_id: str
        outcome: str
        amount: Money
        reason: str
        stamp: Stamp

    @event(ChargebackClosed)
    def _chargeback_closed(
        self,
        account_id: UUID,
        chargeback_id: str,
        outcome: str,
        amount: Money,
        reason: str,
        stamp: Stamp,
    ) -> None:
        del self.chargebacks[chargeback_id]
        if outcome == "won":
            self.taken_back = self.taken_back - amount

    def issue_receipt(self, channel: str, recipient: str | None, stamp: Stamp) -> None:
        """Send the client a receipt for cash received (only for a succeeded payment)."""
        rules.check_receipt(self)
        self._receipt_issued(self.account_id, channel, recipient, self.amount, stamp)

    class ReceiptIssued(Aggregate.Event):
        """The client was sent a receipt for the cash received."""

        cloudevent_type: ClassVar[str] = "arledger.payment.receipt_issued"
        account_id: UUID
        channel: str
        recipient: str | None
        amount: Money
        stamp: Stamp

    @event(ReceiptIssued)
    def _receipt_issued(
        self, account_id: UUID, channel: str, recipient: str | None, amount: Money, stamp: Stamp
    ) -> None:
        self.receipts += 1

    def forfeit(self, request_id: str, amount: Money, reason: str, stamp: Stamp) -> None:
        """Keep part or all of a deposit's unallocated cash (a termination's damages, a
        cancellation fee): it stops being the client's money."""
        rules.check_forfeit(self, amount)
        self._forfeited(self.account_id, request_id, amount, reason, stamp)

    class Forfeited(Aggregate.Event):
        """Part or all of a deposit's unallocated cash was kept: no longer the client's."""

        cloudevent_type: ClassVar[str] = "arledger.payment.forfeited"
        account_id: UUID
        request_id: str
        amount: Money
        reason: str
        stamp: Stamp

    @event(Forfeited)
    def _forfeited(
        self, account_id: UUID, request_id: str, amount: Money, reason: str, stamp: Stamp
    ) -> None:
        self.forfeited = self.forfeited + amount
        self.request_ids.append(request_id)
