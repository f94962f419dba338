"""The demo book: a realistic sample of accounts, invoices and payments, loaded through
the HTTP API.

It goes through the API (not into the store directly) so that it exercises what a real
client does (validation, idempotency, the allocation rules, read-your-writes positions)
and works against any running deployment. The book is planned first, offline and
deterministically from ``random.Random(seed)`` and the day it is loaded on, keeping each
invoice's outstanding locally so that every allocation asked for is valid; then it is
posted. Every POST carries an ``Idempotency-Key`` derived from the seed, the day and the
item, so loading the same seed again on the same day replays the first replies
(``Idempotent-Replayed: true``) instead of duplicating the book; on another day the
dates move, so the keys do too and a fresh book is loaded rather than a 409.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

HISTORY_DAYS = 183  # about six months of trading before today
PROGRESS_EVERY = 10  # accounts between two progress lines on stderr
REQUEST_TIMEOUT_SECONDS = 30.0
MINOR_PER_MAJOR = {"GBP": 100, "EUR": 100, "USD": 100, "JPY": 1}
SYMBOL = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}
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


@dataclass(frozen=True)
class DemoSummary:
    """What one load did: counts of what was posted (replays included), how many replies
    were replays of an earlier load, and the highest store position a command replied."""

    accounts: int
    invoices: int
    payments: int
    failed_payments: int
    allocations: int  # allocation requests (one may split a payment over two invoices)
    replayed: int
    last_position: int


@dataclass(frozen=True)
class Segment:
    """A kind of client: its share of the book, its terms, how often it is invoiced and
    how it usually pays."""

    name: str
    weight: int
    terms: tuple[int, ...]
    cadence: tuple[int, int]  # days between two invoices
    methods: tuple[str, ...]


SEGMENTS = (
    Segment("meeting_rooms", 40, (14, 30), (9, 24), ("card", "card", "card", "bacs")),
    Segment("sme", 35, (30, 30, 45), (26, 34), ("direct_debit", "direct_debit", "bacs", "card")),
    Segment("property", 25, (30, 45, 60), (35, 75), ("bacs",)),
)
_PROPERTY = SEGMENTS[2]

_ROOM_A = (
    "Harbour",
    "Kestrel",
    "Northgate",
    "Blue Door",
    "Riverside",
    "Oakwood",
    "Lantern",
    "Copper Beech",
    "Meridian",
    "Fieldfare",
    "Saltmarsh",
    "Granary",
)
_ROOM_B = (
    "Coaching",
    "Recruitment",
    "Design Studio",
    "Training",
    "Mediation",
    "Architects",
    "Consulting",
    "Therapy Rooms",
    "Events",
    "Legal",
)
_SME_A = (
    "Brightwater",
    "Thistle",
    "Hollis & Crane",
    "Marlow",
    "Pennant",
    "Ashby",
    "Quayside",
    "Redfern",
    "Wolds",
    "Bramble",
)
_SME_B = (
    "Logistics",
    "Software",
    "Catering",
    "Print",
    "Dental",
    "Engineering",
    "Accountants",
    "Media",
    "Bakery",
    "Lettings",
)
_SME_SUFFIX = ("Ltd", "Ltd", "LLP", "& Co", "Limited")
_BUYERS = {
    "EUR": (
        "Sofia Rossi",
        "Lukas Becker",
        "Camille Laurent",
        "Joao Almeida",
        "Ingrid Nilsen",
        "Pieter de Vries",
        "Aoife Byrne",
        "Marta Kowalska",
    ),
    "USD": ("Daniel Whitaker", "Priya Raman", "Carlos Mendoza", "Rachel Goldberg", "Omar Haddad"),
    "GBP": ("Hamid Al-Sayed", "Wei Zhang", "Anya Petrova", "Rahul Mehta"),
    "JPY": ("Kenji Tanaka", "Yuki Sato"),
}
_PROPERTY_ITEMS = (
    "Reservation deposit",
    "Exchange deposit (10%)",
    "Stage payment: foundations",
    "Stage payment: topping out",
    "Service charge (half-year)",
    "Furniture pack",
    "Lettings management fee",
)
_SME_ITEMS = (
    "Serviced office: monthly licence fee",
    "Virtual office and mail handling",
    "Hot-desk membership (10 seats)",
    "Private office and parking",
)


# --- the plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceStep:
    """An invoice to raise (amount in minor units of the account's currency)."""

    number: str
    amount: int
    issued_on: date
    due_on: date
    description: str


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
        self.invoices[invoice.number] = invoice
        self.outstanding[invoice.number] = invoice.amount

    def open_oldest_first(self) -> list[str]:
        """Open invoices in the server's oldest-first order: due date, issue date, number."""
        open_ = [inv for inv in self.invoices.values() if self.outstanding[inv.number] > 0]
        open_.sort(key=lambda inv: (inv.due_on, inv.issued_on, inv.number))
        return [inv.number for inv in open_]

    def due_by(self, on: date) -> int:
        return sum(self.outstanding[n] for n, inv in self.invoices.items() if inv.due_on <= on)

    def total(self) -> int:
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
    segment = rng.choices(SEGMENTS, weights=[s.weight for s in SEGMENTS])[0]
    behaviour = rng.choices(list(BEHAVIOURS), weights=list(BEHAVIOURS.values()))[0]
    currency = _currency(rng, segment)
    if index in (JPY_ACCOUNT_INDEX, USD_ACCOUNT_INDEX):
        segment, currency = _PROPERTY, "JPY" if index == JPY_ACCOUNT_INDEX else "USD"
    behaviour = "never" if index == NEVER_PAYS_INDEX else behaviour
    terms = rng.choice(segment.terms)
    plan = AccountPlan(
        index,
        segment,
        behaviour,
        currency,
        rng.choice(segment.methods),
        _account_body(rng, index, segment, currency, terms),
    )
    book = _Book()
    invoices = _plan_invoices(rng, plan, terms, today)
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


def _currency(rng: random.Random, segment: Segment) -> str:
    """Mostly pounds: overseas buyers pay in euros, dollars or pounds, a few SMEs in euros."""
    if segment.name == "property":
        return rng.choices(("GBP", "EUR", "USD"), weights=(30, 45, 25))[0]
    if segment.name == "sme":
        return rng.choices(("GBP", "EUR"), weights=(85, 15))[0]
    return "GBP"


def _account_body(
    rng: random.Random, index: int, segment: Segment, currency: str, terms: int
) -> dict[str, Any]:
    """The POST /v1/accounts body: a plausible name and contact for the segment."""
    if segment.name == "property":
        name = rng.choice(_BUYERS[currency])
        email = name.lower().replace(" ", ".").replace("-", "") + "@example.com"
    else:
        parts = (_ROOM_A, _ROOM_B) if segment.name == "meeting_rooms" else (_SME_A, _SME_B)
        trade = f"{rng.choice(parts[0])} {rng.choice(parts[1])}"
        name = f"{trade} {rng.choice(_SME_SUFFIX)}"
        slug = "".join(c for c in trade.lower() if c.isalnum())
        email = f"accounts@{slug}.example"
    body: dict[str, Any] = {
        "name": name,
        "currency": currency,
        "payment_terms_days": terms,
        "email": email,
        "external_ref": f"CRM-{10_000 + index:05d}",
    }
    if segment.name == "sme":
        limit = rng.choice((5_000, 10_000, 25_000)) * MINOR_PER_MAJOR[currency]
        body["credit_limit"] = {"amount": limit, "currency": currency}
    return body


def _plan_invoices(
    rng: random.Random, plan: AccountPlan, terms: int, today: date
) -> list[InvoiceStep]:
    """Invoices at the segment's cadence over the last six months, numbered per account
    as ``INV-<year>-<sequence>``."""
    invoices: list[InvoiceStep] = []
    seq = rng.randint(1, 400)
    issued = today - timedelta(days=HISTORY_DAYS - rng.randint(0, 30))
    while issued <= today:
        amount, description = _invoice_line(rng, plan.segment.name, plan.currency, issued)
        number = f"INV-{issued.year}-{seq:04d}"
        invoices.append(
            InvoiceStep(number, amount, issued, issued + timedelta(days=terms), description)
        )
        seq += 1
        issued += timedelta(days=rng.randint(*plan.segment.cadence))
    return invoices


def _invoice_line(rng: random.Random, segment: str, currency: str, issued: date) -> tuple[int, str]:
    """An invoice amount in minor units, and what it is for."""
    if segment == "meeting_rooms":
        hours, rate = rng.randint(3, 60), rng.choice((35, 45, 55, 65, 85, 120))
        net = hours * rate * MINOR_PER_MAJOR[currency]
        return net * 6 // 5, (
            f"Meeting room hire, {issued:%B %Y}: {hours} h at "
            f"{SYMBOL[currency]}{rate}/h plus 20% VAT"
        )
    if segment == "sme":
        return rng.randint(250_00, 6_500_00), f"{rng.choice(_SME_ITEMS)}, {issued:%B %Y}"
    if currency == "JPY":
        amount = rng.randint(30, 900) * 10_000
    else:
        amount = rng.randint(40, 1_200) * 50 * MINOR_PER_MAJOR[currency]
    return amount, f"{rng.choice(_PROPERTY_ITEMS)}, plot {rng.randint(1, 80)}"


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


# --- posting -------------------------------------------------------------------------


class _Loader:
    """Posts planned accounts through the API, checks each reply against the plan, and
    counts what happened."""

    def __init__(self, client: httpx.Client, key_base: str) -> None:
        self.client = client
        self.key_base = key_base
        self.counts = {
            "accounts": 0,
            "invoices": 0,
            "payments": 0,
            "failed_payments": 0,
            "allocations": 0,
            "replayed": 0,
            "last_position": 0,
        }

    def post(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        """POST with an Idempotency-Key; raise RuntimeError on any failure."""
        try:
            reply = self.client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError as e:
            raise RuntimeError(
                f"POST {path} failed: {e!r} (is the API at {self.client.base_url} running?)"
            ) from e
        if not reply.is_success:
            raise RuntimeError(f"POST {path} failed: HTTP {reply.status_code}: {reply.text}")
        if reply.headers.get("Idempotent-Replayed", "").lower() == "true":
            self.counts["replayed"] += 1
        data: dict[str, Any] = reply.json()
        position = data.get("position")
        if isinstance(position, int):
            self.counts["last_position"] = max(self.counts["last_position"], position)
        return data

    def load(self, plan: AccountPlan) -> None:
        """Open the account, then raise its invoices and record its payments in order."""
        key = f"{self.key_base}-a{plan.index:03d}"
        account_id = str(self.post("/v1/accounts", plan.body, key)["id"])
        self.counts["accounts"] += 1
        ids: dict[str, str] = {}
        for step in plan.steps:
            if isinstance(step, InvoiceStep):
                ids[step.number] = self._invoice(account_id, plan.currency, step, key)
            else:
                self._payment(account_id, plan.currency, step, ids, key)

    def _invoice(self, account_id: str, currency: str, step: InvoiceStep, key: str) -> str:
        body = {
            "account_id": account_id,
            "number": step.number,
            "amount": {"amount": step.amount, "currency": currency},
            "issued_on": step.issued_on.isoformat(),
            "due_on": step.due_on.isoformat(),
            "description": step.description,
        }
        reply = self.post("/v1/invoices", body, f"{key}-{step.number}")
        self.counts["invoices"] += 1
        return str(reply["id"])

    def _payment(
        self, account_id: str, currency: str, step: PaymentStep, ids: dict[str, str], key: str
    ) -> None:
        body: dict[str, Any] = {
            "account_id": account_id,
            "amount": {"amount": step.amount, "currency": currency},
            "method": step.method,
            "received_on": step.received_on.isoformat(),
            "reference": step.reference,
            "status": step.status,
        }
        if step.failure_code:
            body["failure_code"] = step.failure_code
            body["failure_message"] = step.failure_message
        key = f"{key}-p{step.seq:03d}"
        reply = self.post("/v1/payments", body, key)
        self.counts["payments"] += 1
        self.counts["failed_payments"] += int(step.status == "failed")
        _expect("POST /v1/payments status", reply.get("status"), step.status)
        if step.rows:
            self._allocate(str(reply["id"]), currency, step, ids, key)

    def _allocate(
        self, payment_id: str, currency: str, step: PaymentStep, ids: dict[str, str], key: str
    ) -> None:
        """Allocate a succeeded payment, and check the server did what the plan expects,
        so that the plan's outstanding (and so every later allocation) stays true."""
        path = f"/v1/payments/{payment_id}/allocations"
        body: dict[str, Any] = (
            {"strategy": "oldest_first"}
            if step.oldest_first
            else {
                "allocations": [
                    {"invoice_id": ids[n], "amount": {"amount": a, "currency": currency}}
                    for n, a in step.rows
                ]
            }
        )
        reply = self.post(path, body, f"{key}-alloc")
        self.counts["allocations"] += 1
        got = [(row["invoice_id"], row["amount"]["amount"]) for row in reply["allocations"]]
        _expect(f"POST {path} allocations", got, [(ids[n], a) for n, a in step.rows])
        _expect(
            f"POST {path} unallocated",
            reply["unallocated"],
            {"amount": step.unallocated, "currency": currency},
        )

    def summary(self) -> DemoSummary:
        return DemoSummary(**self.counts)


def _expect(what: str, got: object, expected: object) -> None:
    """Stop at the first reply that disagrees with the plan: every later allocation is
    planned from the same local outstanding and could otherwise be refused."""
    if got != expected:
        raise RuntimeError(f"{what}: the server replied {got!r}; the demo expected {expected!r}")


def _progress(summary: DemoSummary, total: int) -> None:
    print(
        f"demo: {summary.accounts}/{total} accounts, {summary.invoices} invoices, "
        f"{summary.payments} payments",
        file=sys.stderr,
        flush=True,
    )


def load_demo(
    base_url: str, api_key: str, *, accounts: int = 40, seed: int = 7, today: date | None = None
) -> DemoSummary:
    """Load a sample book of ``accounts`` accounts through the API at ``base_url``, and
    say what was loaded. The same seed on the same day (UTC) replays rather than
    duplicates; ``today`` fixes the day the book is dated back from."""
    day = today or datetime.now(UTC).date()
    plans = plan_book(accounts, seed, day)
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(
        base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:
        loader = _Loader(client, f"arledger-demo-s{seed}-{day:%Y%m%d}")
        for done, plan in enumerate(plans, start=1):
            loader.load(plan)
            if done % PROGRESS_EVERY == 0 or done == len(plans):
                _progress(loader.summary(), len(plans))
    summary = loader.summary()
    print(
        f"demo: loaded {summary.accounts} accounts, {summary.invoices} invoices, "
        f"{summary.payments} payments ({summary.failed_payments} failed), "
        f"{summary.allocations} allocations; {summary.replayed} replies were replays; "
        f"store position {summary.last_position}; {time.monotonic() - started:.1f}s"
    )
    return summary
