"""What an invoice's recorded state says, apart from the events that set it: its id, its
outstanding, disputed and chaseable amounts, its status, and how a snapshot taken before
version 2 is brought up to date."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from ledger.money import Money

SEND_CHANNELS = ("email", "post", "portal")
_INVOICE_NAMESPACE = UUID("6f1f8f0e-7a5e-4c38-9d7c-2b1d5b7b9a01")


@lru_cache(maxsize=1024)  # raising an invoice asks twice (its claim, then the invoice)
def invoice_id_for(account_id: UUID, number: str) -> UUID:
    """An invoice's id follows from its account and number, so a number cannot be used
    twice on one account even by two racing requests: the second insert conflicts."""
    return uuid5(_INVOICE_NAMESPACE, f"{account_id}/{number}")


def dispute_credit_note_id(invoice_id: UUID, dispute_id: str) -> UUID:
    """The credit note an upheld dispute issues: one per dispute, whatever retries."""
    return uuid5(_INVOICE_NAMESPACE, f"{invoice_id}/dispute/{dispute_id}")


def invoice_status(
    allocated: int, credited: int, written_off: int, outstanding: int, voided: int
) -> str:
    """``open`` (nothing applied), ``partially_paid`` (something applied, something
    outstanding), ``paid`` (settled, payments among what settled it), ``written_off``
    (settled, a write-off and no payment among it), ``credited`` (settled by credit notes
    alone) or ``void``. Amounts in minor units."""
    if voided:
        return "void"
    if outstanding == 0:
        return "paid" if allocated else "written_off" if written_off else "credited"
    return "partially_paid" if allocated or credited or written_off else "open"


def upcast_state_v1_v2(state: dict[str, Any]) -> None:
    """A snapshot taken before version 2: no disputes, not yet noted overdue."""
    state.setdefault("disputes", {})
    state.setdefault("resolved_dispute_ids", [])
    state.setdefault("overdue_noted", False)
    state.setdefault("credit_limit_exceeded", False)
    state.setdefault("sends", [])
    state.setdefault("kind", "invoice")
    state.setdefault("charged_for", None)
    state.setdefault("late_charged_to", None)
    state.setdefault("late_charge_count", 0)


class InvoiceFigures:
    """What an invoice's amounts say now: what is outstanding, disputed and chaseable,
    and its status. A base of ``Invoice``, derived from the state its events set."""

    number: str
    amount: Money
    due_on: date
    allocated: Money
    credited: Money
    written_off: Money
    voided: Money
    disputes: dict[str, Money]

    @property
    def currency(self) -> str:
        return self.amount.currency

    @property
    def outstanding(self) -> Money:
        """The amount less allocations, credit notes and what a void cancelled."""
        return self.amount.less(self.allocated, self.credited, self.written_off, self.voided)

    @property
    def disputed(self) -> Money:
        """What the client disputes and is not chased for while the disputes are open."""
        total = Money.zero(self.currency)
        for amount in self.disputes.values():
            total = total + amount
        return total

    @property
    def undisputed(self) -> Money:
        """What can be chased: the outstanding amount less what is disputed (never below
        zero: payments may have reduced what is owed below the disputed amount)."""
        left = self.outstanding.amount_minor - self.disputed.amount_minor
        return Money(max(0, left), self.currency)

    @property
    def is_void(self) -> bool:
        return self.voided.is_positive()

    @property
    def status(self) -> str:
        return invoice_status(
            self.allocated.amount_minor,
            self.credited.amount_minor,
            self.written_off.amount_minor,
            self.outstanding.amount_minor,
            self.voided.amount_minor,
        )

    def is_overdue(self, on: date) -> bool:
        return self.outstanding.is_positive() and self.due_on < on

    @property
    def payment_link_id(self) -> str | None:
        """The link issued last (none before links existed)."""
        return getattr(self, "_payment_link_id", None)

    def written_off_on_authority_of(self, actor: str) -> Money:
        """What ``actor`` has already authorised writing off on this invoice."""
        by: dict[str, int] = getattr(self, "written_off_by", {})
        return Money(by.get(actor, 0), self.currency)
