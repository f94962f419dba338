"""What an account owed at a date, worked out from its events alone: a fold over the
CloudEvents of ``history``, independent of the read models it is checked against.

The dates follow PRODUCT.md, as the receivables read model does: an invoice counts from
its ``issued_on``; a change to what an invoice owes takes effect on its event's effective
date but never before the invoice was issued; cash moves on its event's effective date.
Only what took effect by the end of ``as_of`` counts. The totals mean what the balances
read model's do: ``invoiced`` net of voids, ``paid`` the cash held (received less
refunds, returns and chargebacks; a deposit only as far as it is applied, on the day it
was applied), ``deposits_held`` the rest of the deposits, ``outstanding`` invoiced less
allocations, credits and write-offs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from ledger.invoice import invoice_status
from projections.ageing import Aged, bucket_for
from projections.receivables import effective_date

# What each event does to an invoice's figures: the figure and its sign.
INVOICE_FIGURES = {
    "arledger.invoice.payment_allocated": ("allocated", +1),
    "arledger.invoice.payment_unallocated": ("allocated", -1),
    "arledger.invoice.credit_note_issued": ("credited", +1),
    "arledger.invoice.voided": ("voided", +1),
    "arledger.invoice.written_off": ("written_off", +1),
}
# What each event does to a payment's cash: the figure and its sign.
PAYMENT_FIGURES = {
    "arledger.payment.refunded": ("refunded", +1),
    "arledger.payment.returned": ("taken_back", +1),
    "arledger.payment.chargeback_opened": ("taken_back", +1),
    "arledger.payment.forfeited": ("taken_back", +1),
}


@dataclass
class InvoiceAsOf:
    invoice_id: UUID
    number: str
    kind: str
    amount: int
    issued_on: date
    due_on: date
    allocated: int = 0
    credited: int = 0
    written_off: int = 0
    voided: int = 0
    disputed: int = 0

    @property
    def outstanding(self) -> int:
        return self.amount - self.allocated - self.credited - self.written_off - self.voided

    @property
    def status(self) -> str:
        return invoice_status(
            self.allocated, self.credited, self.written_off, self.outstanding, self.voided
        )


@dataclass
class PaymentAsOf:
    amount: int
    purpose: str
    status: str = "pending"
    received: int = 0
    refunded: int = 0
    taken_back: int = 0
    allocated: int = 0

    @property
    def held(self) -> int:
        return self.received - self.refunded - self.taken_back


@dataclass
class AccountAsOf:
    """The account at the end of ``as_of``, amounts in minor units of ``currency``."""

    account_id: UUID
    as_of: date
    name: str = ""
    currency: str = ""
    standing: str = "active"
    position: int = 0
    events: int = 0
    invoices: dict[UUID, InvoiceAsOf] = field(default_factory=dict)
    payments: dict[UUID, PaymentAsOf] = field(default_factory=dict)

    @property
    def invoiced(self) -> int:
        return sum(i.amount - i.voided for i in self.invoices.values())

    @property
    def allocated(self) -> int:
        return sum(i.allocated for i in self.invoices.values())

    @property
    def credited(self) -> int:
        return sum(i.credited for i in self.invoices.values())

    @property
    def written_off(self) -> int:
        return sum(i.written_off for i in self.invoices.values())

    @property
    def outstanding(self) -> int:
        return sum(i.outstanding for i in self.invoices.values())

    @property
    def overdue(self) -> int:
        return sum(i.outstanding for i in self.invoices.values() if i.due_on < self.as_of)

    @property
    def paid(self) -> int:
        """Cash held against invoices: a deposit counts only as far as it is applied."""
        return sum(
            p.allocated if p.purpose == "deposit" else p.held for p in self.payments.values()
        )

    @property
    def refunded(self) -> int:
        return sum(p.refunded for p in self.payments.values())

    @property
    def deposits_held(self) -> int:
        return sum(
            p.held - p.allocated
            for p in self.payments.values()
            if p.purpose == "deposit" and p.status == "succeeded"
        )

    @property
    def aged(self) -> Aged:
        aged = Aged()
        for invoice in self.invoices.values():
            if invoice.outstanding:
                aged.add(bucket_for((self.as_of - invoice.due_on).days), invoice.outstanding)
        return aged


def fold(account_id: UUID, events: Iterable[dict[str, Any]], as_of: date) -> AccountAsOf:
    """The account at the end of ``as_of`` from its events in store order."""
    state = AccountAsOf(account_id=account_id, as_of=as_of)
    for ce in events:
        state.events += 1
        state.position = max(state.position, int(ce["position"]))
        _apply(state, ce, effective_date(ce))
    return state


def _apply(state: AccountAsOf, ce: dict[str, Any], on: date) -> None:
    kind, d, subject = ce["type"], ce["data"], UUID(ce["subject"])
    if kind == "arledger.account.opened":
        state.name, state.currency = d["name"], d["currency"]
    elif kind == "arledger.account.details_updated":
        state.name = d["changes"].get("name") or state.name
    elif kind == "arledger.account.standing_changed" and on <= state.as_of:
        state.standing = d["status"]
    elif kind == "arledger.invoice.raised" and date.fromisoformat(d["issued_on"]) <= state.as_of:
        state.invoices[subject] = InvoiceAsOf(
            subject,
            d["number"],
            d.get("kind", "invoice"),
            d["amount"]["amount"],
            date.fromisoformat(d["issued_on"]),
            date.fromisoformat(d["due_on"]),
        )
    elif subject in state.invoices:
        _apply_to_invoice(state.invoices[subject], kind, d, on, state.as_of)
    elif kind == "arledger.payment.recorded":
        payment = PaymentAsOf(d["amount"]["amount"], d.get("purpose", "payment"))
        state.payments[subject] = payment
        if on <= state.as_of:
            payment.status = d["status"]
            payment.received = payment.amount if d["status"] == "succeeded" else 0
    elif subject in state.payments and on <= state.as_of:
        _apply_to_payment(state.payments[subject], kind, d)


def _apply_to_invoice(
    invoice: InvoiceAsOf, kind: str, d: dict[str, Any], on: date, as_of: date
) -> None:
    if max(on, invoice.issued_on) > as_of:
        return
    if kind in INVOICE_FIGURES:
        figure, sign = INVOICE_FIGURES[kind]
        setattr(invoice, figure, getattr(invoice, figure) + sign * d["amount"]["amount"])
    elif kind == "arledger.invoice.disputed":
        invoice.disputed += d["amount"]["amount"]
    elif kind == "arledger.invoice.dispute_resolved":
        invoice.disputed -= d["disputed"]["amount"]


def _apply_to_payment(payment: PaymentAsOf, kind: str, d: dict[str, Any]) -> None:
    if kind == "arledger.payment.succeeded":
        payment.status, payment.received = "succeeded", payment.amount
    elif kind == "arledger.payment.failed":
        payment.status = "failed"
    elif kind in PAYMENT_FIGURES:
        figure, sign = PAYMENT_FIGURES[kind]
        setattr(payment, figure, getattr(payment, figure) + sign * d["amount"]["amount"])
        if kind == "arledger.payment.returned":
            payment.status = "returned"
    elif kind == "arledger.payment.chargeback_closed" and d["outcome"] == "won":
        payment.taken_back -= d["amount"]["amount"]
    elif kind in ("arledger.payment.allocated", "arledger.payment.unallocated"):
        sign = 1 if kind.endswith(".allocated") else -1
        payment.allocated += sign * sum(row["amount"]["amount"] for row in d["allocations"])
