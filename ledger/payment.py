"""The payment: money received (or attempted) from a client, and where it was applied."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import CurrencyMismatch, OverAllocation, PaymentNotAllocatable, PaymentNotPending
from ledger.money import Money
from ledger.stamp import Stamp

PAYMENT_METHODS = ("card", "bacs", "ach", "direct_debit", "cheque", "cash", "other")
PAYMENT_STATUSES = ("pending", "succeeded", "failed")


class Payment(Aggregate):
    """A payment in one currency; only a succeeded payment holds cash to allocate."""

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
    ) -> None:
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

    @property
    def currency(self) -> str:
        return self.amount.currency

    @property
    def unallocated(self) -> Money:
        """Cash held on the account from this payment and not yet applied to invoices."""
        if self.status != "succeeded":
            return Money.zero(self.currency)
        return self.amount - self.allocated

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
        for _, amount in applied:
            self.allocated = self.allocated + amount
        self.allocation_requests[request_id] = applied
