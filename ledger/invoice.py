"""The invoice: an amount a client owes from its issue date, due on its due date."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.errors import CurrencyMismatch, OverAllocation
from ledger.money import Money
from ledger.stamp import Stamp

_INVOICE_NAMESPACE = UUID("6f1f8f0e-7a5e-4c38-9d7c-2b1d5b7b9a01")


def invoice_id_for(account_id: UUID, number: str) -> UUID:
    """An invoice's id follows from its account and number, so a number cannot be used
    twice on one account even by two racing requests: the second insert conflicts."""
    return uuid5(_INVOICE_NAMESPACE, f"{account_id}/{number}")


class Invoice(Aggregate):
    """An invoice and what has been applied to it."""

    @staticmethod
    def create_id(account_id: UUID, number: str, **_: Any) -> UUID:
        return invoice_id_for(account_id, number)

    @event("Raised")
    def __init__(
        self,
        account_id: UUID,
        number: str,
        amount: Money,
        issued_on: date,
        due_on: date,
        description: str | None,
        stamp: Stamp,
    ) -> None:
        self.account_id = account_id
        self.number = number
        self.amount = amount
        self.issued_on = issued_on
        self.due_on = due_on
        self.description = description
        self.allocated = Money.zero(amount.currency)
        self.allocations: list[tuple[UUID, Money]] = []

    @property
    def currency(self) -> str:
        return self.amount.currency

    @property
    def outstanding(self) -> Money:
        return self.amount - self.allocated

    @property
    def status(self) -> str:
        """``open`` (nothing applied), ``partially_paid``, or ``paid`` (settled)."""
        if self.outstanding.is_zero():
            return "paid"
        return "partially_paid" if self.allocated.is_positive() else "open"

    def is_overdue(self, on: date) -> bool:
        return self.outstanding.is_positive() and self.due_on < on

    def apply_payment(self, payment_id: UUID, amount: Money, stamp: Stamp) -> None:
        """Apply ``amount`` of a payment; never more than is outstanding."""
        if amount.currency != self.currency:
            raise CurrencyMismatch(
                f"invoice {self.number} is in {self.currency}; allocation is in {amount.currency}",
                expected=self.currency,
                got=amount.currency,
            )
        if self.outstanding < amount:
            raise OverAllocation(
                f"invoice {self.number} has {self.outstanding} outstanding; "
                f"cannot allocate {amount}",
                invoice_id=str(self.id),
                outstanding=self.outstanding.to_json(),
                requested=amount.to_json(),
            )
        self._payment_allocated(
            account_id=self.account_id, payment_id=payment_id, amount=amount, stamp=stamp
        )
        if self.outstanding.is_zero():
            self._settled(account_id=self.account_id, stamp=stamp)

    @event("PaymentAllocated")
    def _payment_allocated(
        self, account_id: UUID, payment_id: UUID, amount: Money, stamp: Stamp
    ) -> None:
        self.allocated = self.allocated + amount
        self.allocations.append((payment_id, amount))

    @event("Settled")
    def _settled(self, account_id: UUID, stamp: Stamp) -> None:
        """Nothing is outstanding: the event a booking system waits for to release a
        booking. It changes no amount; it says the invoice is settled, and when."""
