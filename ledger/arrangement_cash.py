"""Which cash keeps a promise or a plan instalment, counted once.

A promise or an instalment that names invoices is kept only by cash applied (allocated)
to those invoices; one on the whole account (a promise naming no invoice) by cash that
reached the account. Either way only cash dated within its window counts (from the day
it was made, or the plan began, to its date), deposits never count (they are security,
not payment), and each unit of a payment's cash counts towards one arrangement only:
what an earlier kept decision counted (its ``kept_by``) is spent, and a later one
counts only what is left.

The scheduler decides an account's arrangements in the order their decisions fall
(the earliest day first, then the arrangement made first), so a run after days down
decides as runs day by day would have."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from ledger.money import Money


@dataclass(frozen=True)
class Cash:
    """What one payment put on one invoice (``invoice_id``), or on the account (None),
    and the business day it counts from; amounts in minor units."""

    payment_id: UUID
    invoice_id: UUID | None
    on: date
    amount: int

    @property
    def key(self) -> tuple[UUID, UUID | None]:
        return self.payment_id, self.invoice_id

    def row(self, currency: str) -> dict[str, Any]:
        """As a kept event records it."""
        return {
            "payment_id": self.payment_id,
            "invoice_id": self.invoice_id,
            "amount": Money(self.amount, currency),
        }


def cash_of_rows(rows: Iterable[dict[str, Any]], on: date) -> list[Cash]:
    """A kept event's ``kept_by`` rows back as cash (the day does not matter once spent)."""
    return [
        Cash(_uuid(r["payment_id"]), _uuid_or_none(r["invoice_id"]), on, r["amount"].amount_minor)
        for r in rows
    ]


@dataclass(frozen=True)
class Terms:
    """What an arrangement counts: cash on ``invoice_ids`` (on the account when empty)
    dated ``start`` to ``end``, until it reaches ``target``."""

    invoice_ids: frozenset[UUID]
    start: date
    end: date
    target: int


@dataclass(frozen=True)
class Tally:
    """The day the target was reached (None: not reached), the cash counted (the target
    when reached, else all there was) and, when reached, the cash that kept it."""

    reached_on: date | None
    counted: int
    kept_by: tuple[Cash, ...] = ()


@dataclass
class CashBook:
    """An account's countable cash: what each payment holds (``held``, deposits left
    out), what it received on the account and applied to each invoice, less what kept
    decisions have already counted."""

    held: dict[UUID, int]
    received: list[Cash]
    applied: list[Cash]
    _used: dict[tuple[UUID, UUID | None], int] = field(default_factory=dict)
    _spent: dict[UUID, int] = field(default_factory=dict)

    def spend(self, kept_by: Iterable[Cash]) -> None:
        """Cash a kept decision counted: it keeps nothing else."""
        for cash in kept_by:
            self._used[cash.key] = self._used.get(cash.key, 0) + cash.amount
            self._spent[cash.payment_id] = self._spent.get(cash.payment_id, 0) + cash.amount

    def count(self, terms: Terms) -> Tally:
        """Count the cash ``terms`` allow, oldest first, until the target is reached."""
        left = {p: held - self._spent.get(p, 0) for p, held in self.held.items()}
        taken: list[Cash] = []
        total = 0
        for cash in self._pieces(terms):
            room = min(cash.amount - self._used.get(cash.key, 0), left.get(cash.payment_id, 0))
            if room <= 0:
                continue
            take = min(room, terms.target - total)
            left[cash.payment_id] -= take
            taken.append(replace(cash, amount=take))
            total += take
            if total >= terms.target:
                return Tally(cash.on, total, tuple(taken))
        return Tally(None, total)

    def _pieces(self, terms: Terms) -> list[Cash]:
        if terms.invoice_ids:
            pool = [c for c in self.applied if c.invoice_id in terms.invoice_ids]
        else:
            pool = self.received
        dated = [c for c in pool if terms.start <= c.on <= terms.end]
        return sorted(dated, key=lambda c: c.on)  # stable: the caller's order within a day


@dataclass(frozen=True)
class Pending:
    """An arrangement's next decision to take: a promise, or a plan's next instalment.
    ``order`` breaks ties between decisions falling on the same day (made first, first);
    ``before`` is what the arrangement counted already (a plan's kept instalments)."""

    arrangement_id: UUID
    kind: str
    order: int
    terms: Terms
    currency: str
    before: int = 0


@dataclass(frozen=True)
class Decision:
    pending: Pending
    kept: bool
    on: date
    tally: Tally


def next_decision(book: CashBook, pending: Sequence[Pending], today: date) -> Decision | None:
    """The decision that falls first by ``today``: kept on the day its cash reached the
    target, or missed the day after its date; None when nothing is due yet."""
    best: Decision | None = None
    for arrangement in pending:
        terms = arrangement.terms
        tally = book.count(replace(terms, end=min(terms.end, today)))
        if tally.reached_on is not None:
            decision = Decision(arrangement, True, tally.reached_on, tally)
        elif today > terms.end:
            decision = Decision(arrangement, False, terms.end + timedelta(days=1), tally)
        else:
            continue
        if best is None or (decision.on, arrangement.order) < (best.on, best.pending.order):
            best = decision
    return best


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _uuid_or_none(value: Any) -> UUID | None:
    return None if value is None else _uuid(value)
