"""The book the query benchmark (``benchmarks/queries.py``) reads: accounts billed month
by month over the last ``HISTORY_MONTHS`` months up to today, paid as their clients pay.

Each account is planned offline from its index and the seed (so a book grows by planning
the next indices, and a writer process plans its own share): its currency (mostly GBP),
terms, how its client pays (``BEHAVIOURS``), its billing runs, and what each payment
settles. Every hundredth account is a key account, billed 15 to 30 invoices a month for
the whole history: the long accounts the audit-trail page is read on. The plan tracks
what each invoice still owes, so every command it asks for is valid.

The invoices are raised through the bulk path (``ledger.bulk``, what
``POST /v1/invoices/batch`` runs), 1,000 to a call; payments, allocations (explicit,
one payment per billing run), failed card payments, credit notes, disputes, contacts
and promises to pay go through the ``Ledger`` facade one command each. Payments dated
after today are not made, so recent invoices are current or overdue, a share of failed
card payments are not retried yet, and never-payers' debt ages past 90 days."""

from __future__ import annotations

import datetime as dt
import random
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from ledger.application import Ledger
from ledger.commands import (
    AllocatePayment,
    DisputeInvoice,
    IssueCreditNote,
    LogContact,
    MakePromise,
    OpenAccount,
    RaiseInvoice,
    RecordPayment,
)
from ledger.errors import LedgerError
from ledger.invoice import invoice_id_for
from ledger.money import Money
from ledger.stamp import Stamp

HISTORY_MONTHS = 18
KEY_ACCOUNT_EVERY = 100  # the key accounts' indices: 7, 107, 207, ...
BULK_INVOICES = 1_000  # invoices per bulk call, as many as one batch request takes
# Regular accounts' clients, by weight; key accounts pay prompt or late.
BEHAVIOURS = {"prompt": 45, "late": 22, "partial": 10, "never": 8, "card": 15}
CURRENCIES = {"GBP": 80, "EUR": 12, "USD": 8}
TERMS_DAYS = (14, 30, 30, 30, 60)
CARD_FAILS_PERCENT = 35
DISPUTE_PERCENT = 4  # of the invoices still owing
CREDIT_PERCENT = 3  # of the invoices still owing
CONTACTED_PERCENT = 60  # of the accounts with debt past due
PROMISE_PERCENT = 15  # of the accounts with debt past due
ACCOUNT_NAMESPACE = uuid.UUID("1b7e0c52-93a4-4f55-8a47-0d6f3c9c2e11")
NAMES = ("Acme", "Northwind", "Harbour", "Kestrel", "Pennine", "Solent", "Tamar", "Wessex")
TRADES = ("Logistics", "Foods", "Builders", "Media", "Clinics", "Motors", "Textiles")
C = TypeVar("C")  # a command


@dataclass(frozen=True)
class Bill:
    """One invoice of the plan."""

    number: str
    amount_minor: int
    issued_on: dt.date
    due_on: dt.date


@dataclass(frozen=True)
class Receipt:
    """One payment: a failed attempt (no rows), or cash allocated to the rows
    (bill index, amount); ``settles`` counts the rows that pay a bill off."""

    received_on: dt.date
    method: str
    amount_minor: int
    rows: tuple[tuple[int, int], ...] = ()
    settles: int = 0

    @property
    def failed(self) -> bool:
        return not self.rows

    @property
    def events(self) -> int:
        return 1 if self.failed else 2 + len(self.rows) + self.settles


@dataclass(frozen=True)
class Promise:
    amount_minor: int
    made_on: dt.date
    promised_on: dt.date
    bills: tuple[int, ...]


@dataclass
class AccountPlan:
    """One account of the book and everything that happens to it, in the order written."""

    index: int
    account_id: uuid.UUID
    currency: str
    terms_days: int
    behaviour: str
    bills: list[Bill] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    credits: list[tuple[int, int, dt.date]] = field(default_factory=list)  # bill, amount, on
    disputes: list[tuple[int, int]] = field(default_factory=list)  # bill, amount
    contacts: list[dt.date] = field(default_factory=list)
    promise: Promise | None = None

    @property
    def name(self) -> str:
        n = self.index
        return f"{NAMES[n % len(NAMES)]} {TRADES[n // 8 % len(TRADES)]} {n:06d} Ltd"

    @property
    def events(self) -> int:
        """The events writing this plan appends (a credit note never settles a bill)."""
        return (
            1
            + 2 * len(self.bills)
            + sum(r.events for r in self.receipts)
            + len(self.credits)
            + len(self.disputes)
            + len(self.contacts)
            + (1 if self.promise else 0)
        )


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def plan_account(seed: int, index: int, today: dt.date) -> AccountPlan:
    """The plan of the account at ``index``: the same for the same seed and day."""
    rng = random.Random(f"{seed}-{index}")
    key = index % KEY_ACCOUNT_EVERY == 7
    plan = AccountPlan(
        index=index,
        account_id=uuid.uuid5(ACCOUNT_NAMESPACE, f"{seed}-{index}"),
        currency="GBP" if key else _weighted(rng, CURRENCIES),
        terms_days=30 if key else rng.choice(TERMS_DAYS),
        behaviour=rng.choice(("prompt", "prompt", "late")) if key else _weighted(rng, BEHAVIOURS),
    )
    months = HISTORY_MONTHS if key else rng.randint(1, HISTORY_MONTHS)
    owed: list[int] = []
    for run in _billing_runs(rng, plan, months, key, today):
        owed += [b.amount_minor for b in run]
        first = len(plan.bills)
        plan.bills += run
        plan.receipts += _pay(rng, plan.behaviour, run, first, owed, today)
    _chase(rng, plan, owed, today)
    return plan


def _billing_runs(
    rng: random.Random, plan: AccountPlan, months: int, key: bool, today: dt.date
) -> Iterator[list[Bill]]:
    """One run a month for the last ``months`` months, each on its own day, up to today."""
    year, month_index = divmod(today.year * 12 + today.month - 1 - (months - 1), 12)
    month = dt.date(year, month_index + 1, 1)
    while month <= today:
        issued = month.replace(day=rng.randint(1, 28))
        if issued <= today:
            due = issued + dt.timedelta(days=plan.terms_days)
            count = rng.randint(15, 30) if key else rng.choice((1, 1, 2, 3))
            most = 2_000_000 if key else 500_000
            yield [
                Bill(f"INV-{issued:%y%m}-{n:03d}", rng.randint(5_000, most), issued, due)
                for n in range(count)
            ]
        month = (month + dt.timedelta(days=32)).replace(day=1)


def _pay(
    rng: random.Random,
    behaviour: str,
    run: list[Bill],
    first: int,
    owed: list[int],
    today: dt.date,
) -> list[Receipt]:
    """How the client pays one billing run: never, in full, in part, late, or by card
    (which fails at first now and then, and is retried some days later)."""
    due = run[0].due_on
    if behaviour == "never":
        return []
    percent, late_days, method = 100, rng.randint(-7, 5), rng.choice(("bacs", "direct_debit"))
    if behaviour == "late":
        late_days = rng.randint(15, 110)
        percent = 100 if rng.random() < 0.85 else rng.randint(50, 90)
    elif behaviour == "partial":
        late_days, percent = rng.randint(0, 45), rng.randint(40, 90)
    receipts: list[Receipt] = []
    on = due + dt.timedelta(days=late_days)
    if behaviour == "card":
        method, on = "card", due
        if rng.randint(1, 100) <= CARD_FAILS_PERCENT and on <= today:
            receipts.append(Receipt(on, method, sum(b.amount_minor for b in run)))
            on = due + dt.timedelta(days=rng.randint(3, 12))
    if on > today:
        return receipts
    rows = [(first + n, max(1, b.amount_minor * percent // 100)) for n, b in enumerate(run)]
    settles = sum(1 for i, amount in rows if amount == owed[i])
    for i, amount in rows:
        owed[i] -= amount
    receipts.append(Receipt(on, method, sum(a for _, a in rows), tuple(rows), settles))
    return receipts


def _chase(rng: random.Random, plan: AccountPlan, owed: list[int], today: dt.date) -> None:
    """Credit notes and disputes on what is still owed; contacts and a promise to pay on
    accounts with debt past due."""
    for i, bill in enumerate(plan.bills):
        if owed[i] > 1 and rng.randint(1, 100) <= CREDIT_PERCENT:
            amount = rng.randint(1, owed[i] - 1)
            plan.credits.append((i, amount, min(today, bill.issued_on + dt.timedelta(days=20))))
            owed[i] -= amount
        if owed[i] > 0 and rng.randint(1, 100) <= DISPUTE_PERCENT:
            plan.disputes.append((i, rng.randint(1, owed[i])))
    overdue = [i for i, b in enumerate(plan.bills) if owed[i] > 0 and b.due_on < today]
    if not overdue:
        return
    if rng.randint(1, 100) <= CONTACTED_PERCENT:
        plan.contacts = sorted(
            today - dt.timedelta(days=rng.randint(0, 40)) for _ in range(rng.randint(1, 3))
        )
    if rng.randint(1, 100) <= PROMISE_PERCENT:
        chosen = tuple(overdue[:5])
        amount = max(1, sum(owed[i] for i in chosen) * rng.randint(10, 100) // 100)
        made = today - dt.timedelta(days=rng.randint(0, 10))
        plan.promise = Promise(amount, made, today + dt.timedelta(days=rng.randint(1, 21)), chosen)


def plan_range(seed: int, first: int, events: int, today: dt.date) -> list[AccountPlan]:
    """Accounts from index ``first`` on, as many as it takes to plan ``events`` events."""
    plans: list[AccountPlan] = []
    planned = 0
    while planned < events:
        plans.append(plan_account(seed, first + len(plans), today))
        planned += plans[-1].events
    return plans


# --- writing -------------------------------------------------------------------------


def _stamp(on: dt.date | None = None) -> Stamp:
    now = dt.datetime.now(dt.UTC)
    at = now if on is None else dt.datetime.combine(on, dt.time(10, 0), tzinfo=dt.UTC)
    return Stamp("bench-book", str(uuid.uuid4()), str(uuid.uuid4()), at)


@dataclass
class Written:
    """What a writer was refused (a plan that asked for something the ledger refuses)."""

    refused: int = 0
    first_errors: list[str] = field(default_factory=list)

    def refuse(self, what: str, error: LedgerError | str) -> None:
        self.refused += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(f"{what}: {error}")
            print(f"refused: {what}: {error}", file=sys.stderr, flush=True)


def write(ledger: Ledger, plans: Sequence[AccountPlan]) -> Written:
    """Open the accounts, raise every invoice in bulk, then each account's payments and
    the rest, one command each."""
    written = Written()
    for plan in plans:
        ledger.open_account(
            OpenAccount(plan.name, plan.currency, plan.terms_days, _stamp(),
                        email=f"ar{plan.index}@example.com", external_ref=f"CUST-{plan.index:07d}",
                        account_id=plan.account_id)
        )  # fmt: skip
    for chunk in _chunks(_invoices(plans), BULK_INVOICES):
        for outcome in ledger.bulk.raise_invoices(chunk):
            if outcome.status != "raised":
                written.refuse(f"invoice {chunk[outcome.index].number}", str(outcome.error))
    for plan in plans:
        _settle(ledger, plan, written)
    return written


def _invoices(plans: Iterable[AccountPlan]) -> Iterator[RaiseInvoice]:
    for plan in plans:
        for b in plan.bills:
            amount = Money(b.amount_minor, plan.currency)
            yield RaiseInvoice(plan.account_id, b.number, amount, b.issued_on, b.due_on, _stamp())


def _chunks(items: Iterable[RaiseInvoice], size: int) -> Iterator[list[RaiseInvoice]]:
    chunk: list[RaiseInvoice] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _settle(ledger: Ledger, plan: AccountPlan, written: Written) -> None:
    """The account's payments, credit notes, disputes, contacts and promise."""
    cur = plan.currency
    ids = [invoice_id_for(plan.account_id, b.number) for b in plan.bills]
    for r in plan.receipts:
        _receive(ledger, plan, r, ids, written)
    for i, amount, on in plan.credits:
        cmd = IssueCreditNote(ids[i], Money(amount, cur), "goodwill", on, _stamp(), uuid.uuid4())
        _run(written, f"credit note on {plan.bills[i].number}", ledger.issue_credit_note, cmd)
    for i, amount in plan.disputes:
        dispute = DisputeInvoice(ids[i], str(uuid.uuid4()), Money(amount, cur), "query", _stamp())
        _run(written, f"dispute of {plan.bills[i].number}", ledger.dispute_invoice, dispute)
    for on in plan.contacts:
        contact = LogContact(plan.account_id, "call", "outbound", "left a message", _stamp(on))
        _run(written, f"contact with {plan.name}", ledger.log_contact, contact)
    if p := plan.promise:
        bills = tuple(ids[i] for i in p.bills)
        promise = MakePromise(plan.account_id, uuid.uuid4(), Money(p.amount_minor, cur),
                              p.made_on, p.promised_on, _stamp(), bills)  # fmt: skip
        _run(written, f"promise of {plan.name}", ledger.make_promise, promise)


def _receive(
    ledger: Ledger, plan: AccountPlan, r: Receipt, ids: list[uuid.UUID], written: Written
) -> None:
    amount = Money(r.amount_minor, plan.currency)
    status = "failed" if r.failed else "succeeded"
    cmd = RecordPayment(plan.account_id, amount, r.method, r.received_on, _stamp(),
                        reference=f"REM-{plan.index}-{r.received_on:%y%m%d}", status=status,
                        failure_code="card_declined" if r.failed else None)  # fmt: skip
    try:
        payment = ledger.record_payment(cmd).aggregate.id
    except LedgerError as error:
        written.refuse(f"payment of {plan.name}", error)
        return
    if r.failed:
        return
    rows = tuple((ids[i], Money(a, plan.currency)) for i, a in r.rows)
    allocate = AllocatePayment(payment, str(uuid.uuid4()), _stamp(), rows)
    _run(written, f"allocation for {plan.name}", ledger.allocate_payment, allocate)


def _run(written: Written, what: str, command: Callable[[C], object], cmd: C) -> None:
    try:
        command(cmd)
    except LedgerError as error:
        written.refuse(what, error)
