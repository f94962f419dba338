"""The payment: money received (or attempted) from a client, and where it was applied."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import (
    CurrencyMismatch,
    OverAllocation,
    PaymentNotAllocatable,
    PaymentNotPending,
    RuleViolation,
)
from ledger.money import Money
from ledger.stamp import Stamp

PAYMENT_METHODS = ("card", "bacs", "ach", "direct_debit", "cheque", "cash", "other")
PAYMENT_STATUSES = ("pending", "succeeded", "failed")
PAYMENT_PURPOSES = ("payment", "deposit")
# Methods whose money can come back days after it arrived (a direct debit the payer's bank
# returns, a cheque that bounces): a returned payment reverses everything it paid.
RETURNABLE_METHODS = ("bacs", "ach", "direct_debit", "cheque")
CHARGEBACK_METHODS = ("card",)


class OverUnallocation(RuleViolation):
    code = "over-unallocation"
    title = "More would be un-allocated than was allocated"


class RefundExceedsUnallocated(RuleViolation):
    code = "refund-exceeds-unallocated"
    title = "The refund is larger than the payment's unallocated cash"


class PaymentNotReversible(RuleViolation):
    code = "payment-not-reversible"
    title = "The payment cannot be refunded, returned or charged back"


class ChargebackNotOpen(RuleViolation):
    code = "chargeback-not-open"
    title = "No open chargeback with that id"


class Payment(Aggregate):
    """A payment in one currency; only a succeeded payment holds cash to allocate."""

    # Version 2 added reversals: what is applied per invoice, refunds, returns, chargebacks.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot taken before version 2 had only allocations, never reversed: what
        is applied per invoice is the sum of its allocation requests."""
        zero = Money.zero(state["amount"].currency)
        applied: dict[str, Money] = {}
        for rows in state["allocation_requests"].values():
            for invoice_id, amount in rows:
                key = str(invoice_id)
                applied[key] = applied.pop(key, zero) + amount
        state.setdefault("applied", applied)
        state.setdefault("refunded", zero)
        state.setdefault("taken_back", zero)
        state.setdefault("chargebacks", {})
        state.setdefault("request_ids", [])
        state.setdefault("receipts", 0)
        state.setdefault("purpose", "payment")
        state.setdefault("forfeited", zero)

    @event("Recorded")
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

    @property
    def currency(self) -> str:
        return self.amount.currency

    @property
    def held(self) -> Money:
        """The cash this payment still holds: received, less refunds and what the bank or
        card scheme took back."""
        if self.status != "succeeded":
            return Money.zero(self.currency)
        return self.amount - self.refunded - self.taken_back - self.forfeited

    @property
    def unallocated(self) -> Money:
        """Cash held on the account from this payment and not yet applied to invoices."""
        if self.status != "succeeded":
            return Money.zero(self.currency)
        return self.held - self.allocated

    def succeed(self, stamp: Stamp) -> None:
        self._require_pending("succeed")
        self._succeeded(account_id=self.account_id, stamp=stamp)

    @event("Succeeded")
    def _succeeded(self, account_id: UUID, stamp: Stamp) -> None:
        self.status = "succeeded"

    def fail(self, failure_code: str, failure_message: str | None, stamp: Stamp) -> None:
        self._require_pending("fail")
        self._failed(
            account_id=self.account_id,
            failure_code=failure_code,
            failure_message=failure_message,
            stamp=stamp,
        )

    @event("Failed")
    def _failed(
        self, account_id: UUID, failure_code: str, failure_message: str | None, stamp: Stamp
    ) -> None:
        self.status = "failed"
        self.failure_code = failure_code
        self.failure_message = failure_message

    def _require_pending(self, what: str) -> None:
        if self.status != "pending":
            raise PaymentNotPending(
                f"payment {self.id} is already {self.status}; only a pending payment can {what}"
            )

    def allocate(
        self,
        request_id: str,
        strategy: str,
        allocations: list[tuple[UUID, Money]],
        stamp: Stamp,
    ) -> None:
        """Record that this payment was applied to invoices, as one event, so that the
        split is visible as the single decision it was."""
        if self.status != "succeeded":
            raise PaymentNotAllocatable(
                f"payment {self.id} is {self.status}; only a succeeded payment can be allocated"
            )
        total = Money.zero(self.currency)
        for _, amount in allocations:
            if amount.currency != self.currency:
                raise CurrencyMismatch(
                    f"payment is in {self.currency}; allocation is in {amount.currency}",
                    expected=self.currency,
                    got=amount.currency,
                )
            total = total + amount
        if self.unallocated < total:
            raise OverAllocation(
                f"payment {self.id} has {self.unallocated} unallocated; cannot allocate {total}",
                payment_id=str(self.id),
                unallocated=self.unallocated.to_json(),
                requested=total.to_json(),
            )
        rows = [{"invoice_id": inv, "amount": amt} for inv, amt in allocations]
        self._allocated(
            account_id=self.account_id,
            request_id=request_id,
            strategy=strategy,
            allocations=rows,
            stamp=stamp,
        )

    @event("Allocated")
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

    def applied_to(self, invoice_id: UUID) -> Money:
        return self.applied.get(str(invoice_id), Money.zero(self.currency))

    def newest_first(self, amount: Money) -> list[tuple[UUID, Money]]:
        """Which allocations to take back to free ``amount``: the newest first."""
        plan: list[tuple[UUID, Money]] = []
        left = amount
        for key in reversed(list(self.applied)):
            if not left.is_positive():
                break
            take = min(self.applied[key].amount_minor, left.amount_minor)
            if take:
                plan.append((UUID(key), Money(take, self.currency)))
                left = Money(left.amount_minor - take, self.currency)
        return plan

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
        for invoice_id, amount in rows:
            if self.applied_to(invoice_id) < amount:
                raise OverUnallocation(
                    f"payment {self.id} has {self.applied_to(invoice_id)} allocated to invoice "
                    f"{invoice_id}; cannot un-allocate {amount}",
                    allocated=self.applied_to(invoice_id).to_json(),
                    requested=amount.to_json(),
                )
        self._unallocated(
            account_id=self.account_id,
            request_id=request_id,
            rule=rule,
            reason=reason,
            allocations=[{"invoice_id": i, "amount": a} for i, a in rows],
            stamp=stamp,
        )

    @event("Unallocated")
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
        self._require_reversible("refund")
        if self.unallocated < amount:
            raise RefundExceedsUnallocated(
                f"payment {self.id} has {self.unallocated} unallocated; cannot refund {amount} "
                "(reverse allocations first, or pass reverse_allocations)",
                unallocated=self.unallocated.to_json(),
                requested=amount.to_json(),
            )
        self._refunded(
            account_id=self.account_id,
            request_id=request_id,
            amount=amount,
            reason=reason,
            refunded_on=refunded_on,
            stamp=stamp,
        )

    @event("Refunded")
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
        self._require_reversible("return")
        if self.method not in RETURNABLE_METHODS:
            raise PaymentNotReversible(
                f"a {self.method} payment is not returned by a bank "
                f"(only {', '.join(RETURNABLE_METHODS)}); a card payment is charged back"
            )
        self._returned(
            account_id=self.account_id,
            request_id=request_id,
            amount=self.unallocated,
            return_code=return_code,
            reason=reason,
            stamp=stamp,
        )

    @event("Returned")
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
        self._require_reversible("charge back")
        if self.method not in CHARGEBACK_METHODS:
            raise PaymentNotReversible(f"only a card payment is charged back, not {self.method}")
        if self.unallocated < amount:
            raise RefundExceedsUnallocated(
                f"payment {self.id} has {self.unallocated} unallocated; a chargeback of "
                f"{amount} needs its allocations reversed first",
                unallocated=self.unallocated.to_json(),
                requested=amount.to_json(),
            )
        self._chargeback_opened(
            account_id=self.account_id,
            chargeback_id=chargeback_id,
            amount=amount,
            reason=reason,
            stamp=stamp,
        )

    @event("ChargebackOpened")
    def _chargeback_opened(
        self, account_id: UUID, chargeback_id: str, amount: Money, reason: str, stamp: Stamp
    ) -> None:
        self.taken_back = self.taken_back + amount
        self.chargebacks[chargeback_id] = amount
        self.request_ids.append(chargeback_id)

    def close_chargeback(self, chargeback_id: str, won: bool, reason: str, stamp: Stamp) -> None:
        """Won: the money comes back to the payment, unallocated. Lost: it stays gone."""
        if chargeback_id not in self.chargebacks:
            raise ChargebackNotOpen(f"payment {self.id} has no open chargeback {chargeback_id}")
        self._chargeback_closed(
            account_id=self.account_id,
            chargeback_id=chargeback_id,
            outcome="won" if won else "lost",
            amount=self.chargebacks[chargeback_id],
            reason=reason,
            stamp=stamp,
        )

    @event("ChargebackClosed")
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

    def _require_reversible(self, what: str) -> None:
        if self.status != "succeeded":
            raise PaymentNotReversible(
                f"payment {self.id} is {self.status}; only a succeeded payment can {what}"
            )

    def issue_receipt(self, channel: str, recipient: str | None, stamp: Stamp) -> None:
        """Send the client a receipt for cash received (only for a succeeded payment)."""
        if self.status != "succeeded":
            raise PaymentNotReversible(
                f"payment {self.id} is {self.status}; a receipt is for a succeeded payment"
            )
        self._receipt_issued(
            account_id=self.account_id,
            channel=channel,
            recipient=recipient,
            amount=self.amount,
            stamp=stamp,
        )

    @event("ReceiptIssued")
    def _receipt_issued(
        self, account_id: UUID, channel: str, recipient: str | None, amount: Money, stamp: Stamp
    ) -> None:
        self.receipts += 1

    def forfeit(self, request_id: str, amount: Money, reason: str, stamp: Stamp) -> None:
        """Keep part or all of a deposit's unallocated cash (a termination's damages, a
        cancellation fee): it stops being the client's money."""
        self._require_reversible("be forfeited")
        if self.purpose != "deposit":
            raise PaymentNotReversible(
                f"payment {self.id} is not a deposit; only a deposit is forfeited"
            )
        if self.unallocated < amount:
            raise RefundExceedsUnallocated(
                f"deposit {self.id} has {self.unallocated} unallocated; cannot forfeit {amount}",
                unallocated=self.unallocated.to_json(),
                requested=amount.to_json(),
            )
        self._forfeited(
            account_id=self.account_id,
            request_id=request_id,
            amount=amount,
            reason=reason,
            stamp=stamp,
        )

    @event("Forfeited")
    def _forfeited(
        self, account_id: UUID, request_id: str, amount: Money, reason: str, stamp: Stamp
    ) -> None:
        self.forfeited = self.forfeited + amount
        self.request_ids.append(request_id)
