"""The demo book's plan: the deterministic planning of the sample book from the seed.

The book is planned offline from ``random.Random(seed)`` and the day it is loaded on:
each account (see ``runtime.demo_accounts``), its invoices, and when and how its client pays
(or fails to), with every payment's allocation worked out in advance. Each invoice's
outstanding is kept locally, so that every allocation asked for is valid and the
server's ``oldest_first`` choice can be predicted and checked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from runtime.demo_accounts import (
    MINOR_PER_MAJOR,
    PROPERTY,
    SEGMENTS,
    InvoiceStep,
    Segment,
    account_body,
    choose_currency,
    plan_invoices,
)

# Fixed slots, so that any book of a few accounts shows a zero-decimal currency, a dollar
# account and debt that is never paid, whatever the seed.
NEVER_PAYS_INDEX = 2
JPY_ACCOUNT_INDEX = 3
USD_ACCOUNT_INDEX = 5
FAILURE_RATE_PERCENT = 18  # of card and direct-debit collections that fail at first
CARD_FAILURES = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
}
DIRECT_DEBIT_FAILURE = "Direct Debit returned unpaid by the payer's bank: refer to payer."
BEHAVIOURS = {"prompt": 36, "splitter": 20, "lump": 20, "overpayer": 14, "never": 10}


# --- the plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentStep:
    """A payment to record and, if it succeeded, how to allocate it: explicit ``rows``
    of (invoice number, amount), or oldest first; ``rows`` then holds what the server is
    expected to choose, and ``unallocated`` what should be left on the payment."""

    seq: int
    amount: int
    method: str
    received_on: date
    status: str
    reference: str
    failure_code: str | None = None
    failure_message: str | None = None
    rows: tuple[tuple[str, int], ...] = ()
    oldest_first: bool = False
    unallocated: int = 0


Step = InvoiceStep | PaymentStep


@dataclass
class AccountPlan:
    """One account of the book: its opening body and its steps in the order to post."""

    index: int
    segment: Segment
    behaviour: str
    currency: str
    method: str
    body: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    payments: int = 0


@dataclass
class _Book:
    """Each invoice's outstanding, kept locally so that every allocation the demo asks
    for is within what the invoice still owes."""

    invoices: dict[str, InvoiceStep] = field(default_factory=dict)
    outstanding: dict[str, int] = field(default_factory=dict)

    def add(self, invoice: InvoiceStep) -> None:
        """Raise ``invoice``: it owes its whole amount."""
        self.invoices[invoice.number] = invoice
        self.outstanding[invoice.number] = invoice.amount

    def open_oldest_first(self) -> list[str]:
        """Open invoices in the server's oldest-first order: due date, issue date, number."""
        open_ = [inv for inv in self.invoices.values() if self.outstanding[inv.number] > 0]
        open_.sort(key=lambda inv: (inv.due_on, inv.issued_on, inv.number))
        return [inv.number for inv in open_]

    def due_by(self, on: date) -> int:
        """What is still owed on invoices due on or before ``on``."""
        return sum(self.outstanding[n] for n, inv in self.invoices.items() if inv.due_on <= on)

    def total(self) -> int:
        """What is still owed on all the account's invoices."""
        return sum(self.outstanding.values())

    def oldest_first(self, amount: int) -> tuple[tuple[str, int], ...]:
        """The rows the server's ``oldest_first`` strategy will choose for ``amount``."""
        rows: list[tuple[str, int]] = []
        for number in self.open_oldest_first():
            if amount <= 0:
                break
            take = min(amount, self.outstanding[number])
            rows.append((number, take))
            amount -= take
        return tuple(rows)

    def apply(self, rows: tuple[tuple[str, int], ...]) -> None:
        """Allocate ``rows`` of (invoice number, amount); each must be within what the
        invoice still owes."""
        for number, amount in rows:
            if not 0 < amount <= self.outstanding[number]:
                raise AssertionError(f"demo plan over-allocates invoice {number}")
            self.outstanding[number] -= amount


def plan_book(accounts: int, seed: int, today: date) -> list[AccountPlan]:
    """Plan the whole book, with no I/O. Accounts are planned one after another from one
    generator, so the first N accounts of a bigger book are the book of N accounts."""
    if accounts < 0:
        raise ValueError(f"accounts must not be negative; got {accounts}")
    rng = random.Random(seed)
    return [_plan_account(rng, index, today) for index in range(accounts)]


def _plan_account(rng: random.Random, index: int, today: date) -> AccountPlan:
    """Plan one account: who the client is, then its invoices and payments merged in date
    order (an invoice before a payment on the same day)."""
    segment = rng.choices(SEGMENTS, weights=[s.weight for s in SEGMENTS])[0]
    behaviour = rng.choices(list(BEHAVIOURS), weights=list(BEHAVIOURS.values()))[0]
    currency = choose_currency(rng, segment)
    if index in (JPY_ACCOUNT_INDEX, USD_ACCOUNT_INDEX):
        segment, currency = PROPERTY, "JPY" if index == JPY_ACCOUNT_INDEX else "USD"
    behaviour = "never" if index == NEVER_PAYS_INDEX else behaviour
    terms = rng.choice(segment.terms)
    plan = AccountPlan(
        index,
        segment,
        behaviour,
        currency,
        rng.choice(segment.methods),
        account_body(rng, index, segment, currency, terms),
    )
    book = _Book()
    invoices = plan_invoices(rng, segment, currency, terms, today)
    timeline: list[tuple[date, int, int, InvoiceStep | _Occasion]] = [
        (inv.issued_on, 0, i, inv) for i, inv in enumerate(invoices)
    ]
    timeline += [
        (occ.on, 1, i, occ) for i, occ in enumerate(_occasions(rng, plan, invoices, today))
    ]
    for _, _, _, item in sorted(timeline, key=lambda t: t[:3]):
        if isinstance(item, InvoiceStep):
            book.add(item)
            plan.steps.append(item)
        else:
            plan.steps.extend(_pay(rng, plan, book, item, today))
    return plan


# --- paying --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Occasion:
    """A day the client pays (or tries to); ``target`` is the invoice it means to pay,
    for clients who pay invoice by invoice."""

    on: date
    target: str | None = None


def _occasions(
    rng: random.Random, plan: AccountPlan, invoices: list[InvoiceStep], today: date
) -> list[_Occasion]:
    """When the client pays: around each due date for invoice-by-invoice payers (some
    chronically late), every month or so for lump payers, and for clients who never pay,
    only the odd collection attempt that fails."""
    if not invoices or (plan.behaviour == "never" and plan.method == "bacs"):
        return []
    if plan.behaviour in ("prompt", "splitter", "never"):
        lateness = rng.choice((0, 0, 0, 7, 21, 40))
        found = [
            _Occasion(
                max(inv.issued_on, inv.due_on + timedelta(days=lateness + rng.randint(-10, 12))),
                inv.number,
            )
            for inv in invoices
        ]
        if plan.behaviour == "never":
            found = [occ for occ in found if rng.random() < 0.35]
        return [occ for occ in found if occ.on <= today]
    found, on = [], invoices[0].issued_on + timedelta(days=rng.randint(15, 40))
    while on <= today:
        found.append(_Occasion(on))
        on += timedelta(days=rng.randint(25, 45))
    return found


def _round_unit(currency: str) -> int:
    """A round sum for a person paying a lump: ten pounds, ten euros, a thousand yen."""
    return 1_000 if currency == "JPY" else 10 * MINOR_PER_MAJOR[currency]


def _decide(
    rng: random.Random, plan: AccountPlan, book: _Book, occ: _Occasion
) -> tuple[int, tuple[tuple[str, int], ...], bool]:
    """How much the client pays on ``occ`` and how it should be applied: (amount,
    explicit rows, oldest first?). An amount of 0 means nothing is paid."""
    unit = _round_unit(plan.currency)
    if plan.behaviour in ("prompt", "never"):
        owed = book.outstanding.get(occ.target or "", 0)
        return owed, ((occ.target or "", owed),) if owed else (), False
    if plan.behaviour == "splitter":
        return _split(rng, book, unit)
    if plan.behaviour == "lump":
        due = book.due_by(occ.on + timedelta(days=7))
        share = due * rng.randint(60, 100) // 100 // unit * unit
        return (share or due), (), True
    total = book.total()  # an over-payer rounds up, or pays on account when nothing is owed
    if total == 0:
        return rng.randint(2, 20) * unit * 10, (), False
    return (total // unit + 1 + rng.randint(0, 30)) * unit, (), True


def _split(
    rng: random.Random, book: _Book, unit: int
) -> tuple[int, tuple[tuple[str, int], ...], bool]:
    """Pay the oldest open invoice in full and part of the next, split explicitly; or
    part of the only open one."""
    open_ = book.open_oldest_first()
    if not open_:
        return 0, (), False
    first = book.outstanding[open_[0]]
    if len(open_) == 1:
        part = _part(first, rng.randint(40, 80), unit)
        return part, ((open_[0], part),), False
    second = book.outstanding[open_[1]]
    part = _part(second, rng.randint(25, 75), unit)
    return first + part, ((open_[0], first), (open_[1], part)), False


def _part(owed: int, percent: int, unit: int) -> int:
    """``percent`` of ``owed``, rounded down to a round sum where it can be, never
    zero and never more than is owed."""
    share = owed * percent // 100
    return min(owed, max(1, share // unit * unit if share >= unit else share))


def _pay(
    rng: random.Random, plan: AccountPlan, book: _Book, occ: _Occasion, today: date
) -> list[PaymentStep]:
    """The payment steps of one occasion: perhaps a failed collection first (retried a few
    days later), pending when too recent to have cleared, else succeeded and allocated."""
    amount, rows, oldest = _decide(rng, plan, book, occ)
    if amount <= 0:
        return []
    method = plan.method if plan.behaviour == "never" or rng.random() < 0.9 else "bacs"
    steps: list[PaymentStep] = []
    on = occ.on
    collected = method in ("card", "direct_debit")
    if collected and (plan.behaviour == "never" or rng.randint(1, 100) <= FAILURE_RATE_PERCENT):
        steps.append(_failed(rng, plan, amount, method, on))
        on += timedelta(days=rng.randint(1, 5))
        if plan.behaviour == "never" or on > today:
            return steps
    plan.payments += 1
    reference = _reference(rng, method, plan, rows)
    if _pending(rng, method, on, today):
        return [*steps, PaymentStep(plan.payments, amount, method, on, "pending", reference)]
    if oldest:
        rows = book.oldest_first(amount)
    book.apply(rows)
    left = amount - sum(a for _, a in rows)
    steps.append(
        PaymentStep(
            plan.payments,
            amount,
            method,
            on,
            "succeeded",
            reference,
            rows=rows,
            oldest_first=oldest,
            unallocated=left,
        )
    )
    return steps


def _failed(
    rng: random.Random, plan: AccountPlan, amount: int, method: str, on: date
) -> PaymentStep:
    """A collection that failed: a declined or expired card, or a bounced direct debit."""
    plan.payments += 1
    code = rng.choice(list(CARD_FAILURES)) if method == "card" else "insufficient_funds"
    message = CARD_FAILURES[code] if method == "card" else DIRECT_DEBIT_FAILURE
    return PaymentStep(
        plan.payments,
        amount,
        method,
        on,
        "failed",
        _reference(rng, method, plan, ()),
        failure_code=code,
        failure_message=message,
    )


def _pending(rng: random.Random, method: str, on: date, today: date) -> bool:
    """Bank transfers and direct debits of the last few days, and some card payments of
    the last day, have not cleared yet."""
    age = (today - on).days
    if method == "card":
        return age <= 1 and rng.random() < 0.5
    return age <= 3 and rng.random() < 0.6


def _reference(
    rng: random.Random, method: str, plan: AccountPlan, rows: tuple[tuple[str, int], ...]
) -> str:
    """What the bank or Stripe shows for the payment."""
    if method == "card":
        return f"pi_{rng.getrandbits(64):016x}"
    if method == "direct_debit":
        return f"DD-MANDATE-{10_000 + plan.index:05d}-{plan.payments:03d}"
    return f"BACS {rows[0][0] if rows else plan.body['external_ref']}"
