"""A statement of account: a pure fold over the account's events (as the audit read
model holds them, in store order). Its balance is what the client owes: invoices and late
charges add to it, payments, credit notes, voids and write-offs take from it, and cash
going back (refunds, bank returns, chargebacks) adds again. An allocation moves cash onto
an invoice and leaves the balance as it was, so it shows as a line with no amount.

A deposit is security held apart, never cash against invoices until it is applied: its
receipt is a line with no amount that adds to ``deposits_held``, and each application is
a line on the day it was applied (the allocation's date) that takes it from the deposits
held and reduces the balance then; taken back, the balance rises again. Cash leaving a
deposit (refunded, returned, charged back, forfeited) leaves what is held, not the
balance. Lines are dated by when they took effect; ``as_known_at`` and ``position`` bound
what was committed, so a past statement reproduces exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ledger.money import Money

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
Effect = tuple[str, str, str, int, int]  # kind, reference, description, debit, credit


@dataclass(frozen=True)
class Line:
    on: date
    kind: str
    reference: str
    description: str
    debit: int
    credit: int
    balance: int
    position: int


@dataclass(frozen=True)
class OpenItem:
    invoice_id: str
    number: str
    due_on: date
    outstanding: int
    days_overdue: int
    bucket: str
    payment_link: str | None


@dataclass
class Statement:
    account_id: str
    account_name: str
    currency: str
    period_from: date
    period_to: date
    as_known_at: datetime | None
    position: int
    opening: int = 0
    lines: list[Line] = field(default_factory=list)
    closing: int = 0
    open_items: list[OpenItem] = field(default_factory=list)
    deposits_held: int = 0

    @property
    def ageing(self) -> dict[str, int]:
        totals = dict.fromkeys(BUCKETS, 0)
        for item in self.open_items:
            totals[item.bucket] += item.outstanding
        return totals

    @property
    def unallocated(self) -> int:
        """Payments received and not yet applied to an invoice (a credit on the account);
        never a deposit's cash, which is ``deposits_held``."""
        return sum(item.outstanding for item in self.open_items) - self.closing

    def money(self, amount_minor: int) -> dict[str, Any]:
        return Money(amount_minor, self.currency).to_json()

    def to_json(self) -> dict[str, Any]:
        m = self.money
        return {
            "account_id": self.account_id,
            "account_name": self.account_name,
            "currency": self.currency,
            "from": self.period_from.isoformat(),
            "to": self.period_to.isoformat(),
            "as_known_at": self.as_known_at.isoformat() if self.as_known_at else None,
            "position": self.position,
            "opening_balance": m(self.opening),
            "lines": [_line_json(line, m) for line in self.lines],
            "closing_balance": m(self.closing),
            "ageing": {bucket: m(total) for bucket, total in self.ageing.items()},
            "open_invoices": [_item_json(item, m) for item in self.open_items],
            "unallocated": m(self.unallocated),
            "deposits_held": m(self.deposits_held),
        }


def _line_json(line: Line, m: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    return {
        "date": line.on.isoformat(),
        "kind": line.kind,
        "reference": line.reference,
        "description": line.description,
        "debit": m(line.debit),
        "credit": m(line.credit),
        "balance": m(line.balance),
        "position": line.position,
    }


def _item_json(item: OpenItem, m: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    return {
        "invoice_id": item.invoice_id,
        "number": item.number,
        "due_on": item.due_on.isoformat(),
        "outstanding": m(item.outstanding),
        "days_overdue": item.days_overdue,
        "bucket": item.bucket,
        "payment_link": item.payment_link,
    }


def bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    return "61-90" if days_overdue <= 90 else "90+"


def _amount(data: dict[str, Any]) -> int:
    return int(data["amount"]["amount"])


class _Fold:
    """What the statement needs to remember while it reads the events."""

    def __init__(self) -> None:
        self.name = ""
        self.currency = ""
        self.invoices: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.held = 0  # deposits received, less what was applied or left them

    def number(self, invoice_id: str) -> str:
        return str(self.invoices.get(invoice_id, {}).get("number", invoice_id))

    def payment_ref(self, payment_id: str) -> str:
        payment = self.payments.get(payment_id, {})
        return str(payment.get("reference") or f"payment {payment_id[:8]}")

    def is_deposit(self, payment_id: str) -> bool:
        return self.payments.get(payment_id, {}).get("purpose") == "deposit"

    def outstanding(self, invoice_id: str, change: int) -> None:
        if invoice_id in self.invoices:
            self.invoices[invoice_id]["outstanding"] += change

    def remember(self, row: dict[str, Any]) -> None:
        """What holds whatever the period: the account's name and currency, and each
        payment's reference, amount and purpose."""
        data = row["data"]
        if row["type"] == "arledger.account.opened":
            self.name, self.currency = data["name"], data["currency"]
        elif row["type"] == "arledger.account.details_updated":
            self.name = data.get("changes", {}).get("name") or self.name
        elif row["type"] == "arledger.payment.recorded":
            self.payments[str(row["subject"])] = {
                "reference": data.get("reference"),
                "amount": Money(_amount(data), data["amount"]["currency"]),
                "purpose": data.get("purpose") or "payment",
            }

    def effect(self, row: dict[str, Any]) -> Effect | None:
        handler = _HANDLERS.get(row["type"])
        return handler(self, str(row["subject"]), row["data"]) if handler else None


def _raised(f: _Fold, subject: str, d: dict[str, Any]) -> Effect:
    amount = _amount(d)
    due_on = date.fromisoformat(d["due_on"])
    f.invoices[subject] = {"number": d["number"], "due_on": due_on, "outstanding": amount}
    kind = "late_charge" if d.get("kind") == "late_charge" else "invoice"
    what = "Late-payment charge" if kind == "late_charge" else "Invoice"
    return kind, d["number"], f"{what} {d['number']}, due {due_on.isoformat()}", amount, 0


def _allocated(f: _Fold, subject: str, d: dict[str, Any]) -> Effect:
    """A payment's allocation moves cash already counted; a deposit's is the day it
    becomes cash against the invoice: it leaves what is held and reduces the balance."""
    amount, payment_id = _amount(d), str(d["payment_id"])
    f.outstanding(subject, -amount)
    number, ref = f.number(subject), f.payment_ref(payment_id)
    shown = Money(amount, d["amount"]["currency"])
    if f.is_deposit(payment_id):
        f.held -= amount
        return "deposit_applied", number, f"{shown} of deposit {ref} applied to {number}", 0, amount
    return "allocation", number, f"{shown} of {ref} applied to {number}", 0, 0


def _unallocated(f: _Fold, subject: str, d: dict[str, Any]) -> Effect:
    """Taken back: a deposit's cash is held again and the invoice owes it again."""
    amount, payment_id = _amount(d), str(d["payment_id"])
    f.outstanding(subject, amount)
    number, ref = f.number(subject), f.payment_ref(payment_id)
    shown = Money(amount, d["amount"]["currency"])
    if f.is_deposit(payment_id):
        f.held += amount
        what = f"{shown} of deposit {ref} taken back from {number}, held again"
        return "deposit_unapplied", number, what, amount, 0
    return "unallocation", number, f"{shown} of {ref} taken back from {number}", 0, 0


def _reducing(kind: str, what: str) -> Callable[[_Fold, str, dict[str, Any]], Effect]:
    def handle(f: _Fold, subject: str, d: dict[str, Any]) -> Effect:
        f.outstanding(subject, -_amount(d))
        number = f.number(subject)
        reason = f": {d['reason']}" if d.get("reason") else ""
        return kind, number, f"{what} on {number}{reason}", 0, _amount(d)

    return handle


def _recorded(f: _Fold, subject: str, d: dict[str, Any]) -> Effect | None:
    if d.get("status") != "succeeded":
        return None
    return _received(f, subject, d)


def _received(f: _Fold, subject: str, d: dict[str, Any]) -> Effect:
    """Cash arrived: a payment's reduces the balance; a deposit's is held apart."""
    received: Money = f.payments[subject]["amount"]
    ref = f.payment_ref(subject)
    if f.is_deposit(subject):
        f.held += received.amount_minor
        return "deposit", ref, f"Deposit of {received} received, held as security", 0, 0
    return "payment", ref, "Payment received", 0, received.amount_minor


def _cash_out(kind: str, what: str) -> Callable[[_Fold, str, dict[str, Any]], Effect]:
    """Cash leaving a payment owes again; leaving a deposit, it leaves what is held."""

    def handle(f: _Fold, subject: str, d: dict[str, Any]) -> Effect:
        ref = f.payment_ref(subject)
        if f.is_deposit(subject):
            f.held -= _amount(d)
            shown = Money(_amount(d), d["amount"]["currency"])
            return kind, ref, f"{what} ({ref}): {shown} of the deposit held", 0, 0
        return kind, ref, f"{what} ({ref})", _amount(d), 0

    return handle


def _chargeback_closed(f: _Fold, subject: str, d: dict[str, Any]) -> Effect | None:
    if d.get("outcome") != "won":
        return None
    ref = f.payment_ref(subject)
    if f.is_deposit(subject):
        f.held += _amount(d)
        return "chargeback_won", ref, f"Chargeback won back ({ref}), held as deposit", 0, 0
    return "chargeback_won", ref, f"Chargeback won back ({ref})", 0, _amount(d)


def _link(f: _Fold, subject: str, d: dict[str, Any]) -> None:
    if subject in f.invoices:
        f.invoices[subject]["link"] = d.get("url")


_HANDLERS: dict[str, Callable[[_Fold, str, dict[str, Any]], Effect | None]] = {
    "arledger.invoice.raised": _raised,
    "arledger.invoice.payment_allocated": _allocated,
    "arledger.invoice.payment_unallocated": _unallocated,
    "arledger.invoice.credit_note_issued": _reducing("credit_note", "Credit note"),
    "arledger.invoice.voided": _reducing("void", "Invoice voided"),
    "arledger.invoice.written_off": _reducing("write_off", "Written off"),
    "arledger.invoice.payment_link_issued": _link,
    "arledger.payment.recorded": _recorded,
    "arledger.payment.succeeded": _received,
    "arledger.payment.refunded": _cash_out("refund", "Refund paid"),
    "arledger.payment.returned": _cash_out("return", "Payment returned by the bank"),
    "arledger.payment.chargeback_opened": _cash_out("chargeback", "Card chargeback"),
    "arledger.payment.forfeited": _cash_out("forfeit", "Forfeited"),
    "arledger.payment.chargeback_closed": _chargeback_closed,
}


def build(
    account_id: str,
    rows: Iterable[dict[str, Any]],
    period: tuple[date, date],
    as_known_at: datetime | None,
) -> Statement:
    """The statement for ``period`` (inclusive) from the account's events in store order.
    Effects count on the day they took effect; an event effective after the period is
    left out (its invoice's figures too), so the closing balance is as at ``period[1]``."""
    start, end = period
    fold, dated, position = _Fold(), [], 0
    for row in rows:
        position = max(position, int(row["position"]))
        fold.remember(row)
        on = row["effective_at"].astimezone(UTC).date()
        if on > end:
            continue
        effect = fold.effect(row)
        if effect is not None:
            dated.append((on, int(row["position"]), effect))
    statement = Statement(account_id, fold.name, fold.currency, start, end, as_known_at, position)
    _lines(statement, sorted(dated, key=lambda item: (item[0], item[1])))
    statement.open_items = _open_items(fold, end)
    statement.deposits_held = fold.held
    return statement


def _lines(statement: Statement, dated: list[tuple[date, int, Effect]]) -> None:
    balance = 0
    for on, position, (kind, reference, description, debit, credit) in dated:
        balance += debit - credit
        if on < statement.period_from:
            statement.opening = balance
            continue
        statement.lines.append(
            Line(on, kind, reference, description, debit, credit, balance, position)
        )
    statement.closing = balance


def _open_items(fold: _Fold, on: date) -> list[OpenItem]:
    items = []
    for invoice_id, invoice in fold.invoices.items():
        if invoice["outstanding"] <= 0:
            continue
        days = (on - invoice["due_on"]).days
        items.append(
            OpenItem(
                invoice_id,
                invoice["number"],
                invoice["due_on"],
                invoice["outstanding"],
                max(days, 0),
                bucket(days),
                invoice.get("link"),
            )
        )
    return sorted(items, key=lambda item: (item.due_on, item.number))
