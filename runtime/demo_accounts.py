"""The demo book's clients and what they are billed: the kinds of client (segments),
plausible names and contacts, currencies, and each account's invoices over the last six
months.

Everything here is drawn from the ``random.Random`` the planner passes in, in a fixed
order, so that the same seed and day always give the same accounts and invoices.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

HISTORY_DAYS = 183  # about six months of trading before today
MINOR_PER_MAJOR = {"GBP": 100, "EUR": 100, "USD": 100, "JPY": 1}
SYMBOL = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}


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
PROPERTY = SEGMENTS[2]

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


@dataclass(frozen=True)
class InvoiceStep:
    """An invoice to raise (amount in minor units of the account's currency)."""

    number: str
    amount: int
    issued_on: date
    due_on: date
    description: str


def choose_currency(rng: random.Random, segment: Segment) -> str:
    """Mostly pounds: overseas buyers pay in euros, dollars or pounds, a few SMEs in euros."""
    if segment.name == "property":
        return rng.choices(("GBP", "EUR", "USD"), weights=(30, 45, 25))[0]
    if segment.name == "sme":
        return rng.choices(("GBP", "EUR"), weights=(85, 15))[0]
    return "GBP"


def account_body(
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


def plan_invoices(
    rng: random.Random, segment: Segment, currency: str, terms: int, today: date
) -> list[InvoiceStep]:
    """Invoices at the segment's cadence over the last six months, numbered per account
    as ``INV-<year>-<sequence>``."""
    invoices: list[InvoiceStep] = []
    seq = rng.randint(1, 400)
    issued = today - timedelta(days=HISTORY_DAYS - rng.randint(0, 30))
    while issued <= today:
        amount, description = _invoice_line(rng, segment.name, currency, issued)
        number = f"INV-{issued.year}-{seq:04d}"
        invoices.append(
            InvoiceStep(number, amount, issued, issued + timedelta(days=terms), description)
        )
        seq += 1
        issued += timedelta(days=rng.randint(*segment.cadence))
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
