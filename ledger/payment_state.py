"""What a payment's recorded state says, apart from the events that set it: the cash it
holds, what is unallocated and applied where, which allocations a reversal takes back,
and how a snapshot taken before version 2 is brought up to date."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.money import Money


def upcast_state_v1_v2(state: dict[str, Any]) -> None:
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


class PaymentFigures:
    """What a payment's amounts say now: the cash it holds, what is unallocated, what is
    applied to each invoice. A base of ``Payment``, derived from the state its events
    set."""

    amount: Money
    status: str
    refunded: Money
    taken_back: Money
    forfeited: Money
    allocated: Money
    applied: dict[str, Money]

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
