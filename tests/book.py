"""Random but valid (and some invalid) command sequences against the application service,
for fault-injection and property tests."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from ledger.application import Ledger
from ledger.commands import (
    AllocatePayment,
    DecideWriteOff,
    IssueCreditNote,
    OpenAccount,
    RaiseInvoice,
    RecordPayment,
    RequestWriteOff,
    VoidInvoice,
)
from ledger.errors import LedgerError
from ledger.money import Money
from ledger.stamp import Stamp

CURRENCIES = ("GBP", "EUR", "JPY", "KWD")


def stamp() -> Stamp:
    return Stamp("book-writer", str(uuid.uuid4()), str(uuid.uuid4()), dt.datetime.now(dt.UTC))


def write_book(ledger: Ledger, rng: random.Random, commands: int, accounts: int = 5) -> int:
    """Run ``commands`` random commands over ``accounts`` new accounts; return how many
    were refused (a refused command must append nothing, which the callers check by
    comparing the projection with the store)."""
    ids = [
        ledger.open_account(
            OpenAccount(f"Client {n}", rng.choice(CURRENCIES), 30, stamp())
        ).aggregate
        for n in range(accounts)
    ]
    invoices: dict[uuid.UUID, list[uuid.UUID]] = {a.id: [] for a in ids}
    payments: dict[uuid.UUID, list[uuid.UUID]] = {a.id: [] for a in ids}
    refused = 0
    for n in range(commands):
        account = rng.choice(ids)
        try:
            _one(ledger, rng, account.id, account.currency, n, invoices, payments)
        except LedgerError:
            refused += 1
    return refused


def _one(
    ledger: Ledger,
    rng: random.Random,
    account: uuid.UUID,
    currency: str,
    n: int,
    invoices: dict[uuid.UUID, list[uuid.UUID]],
    payments: dict[uuid.UUID, list[uuid.UUID]],
) -> None:
    roll = rng.random()
    if roll < 0.4 or not invoices[account]:
        issued = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(90))
        number = f"INV-{rng.randrange(n + 1)}"  # sometimes a duplicate: refused
        invoice = ledger.raise_invoice(
            RaiseInvoice(
                account,
                number,
                Money(rng.randrange(1, 50_000), currency),
                issued,
                issued + dt.timedelta(days=rng.choice((0, 14, 30))),
                stamp(),
            )
        ).aggregate
        invoices[account].append(invoice.id)
    elif roll < 0.48:
        invoice = rng.choice(invoices[account])
        amount = Money(rng.randrange(1, 20_000), currency)  # sometimes too much: refused
        ledger.issue_credit_note(
            IssueCreditNote(invoice, amount, "goodwill", dt.date(2026, 4, 1), stamp(), uuid.uuid4())
        )
    elif roll < 0.52:
        ledger.void_invoice(
            VoidInvoice(rng.choice(invoices[account]), "raised in error", stamp())
        )  # refused once anything is allocated
    elif roll < 0.56:
        amount = Money(rng.randrange(1, 40_000), currency)  # above 250: waits for approval
        write_off = ledger.request_write_off(
            RequestWriteOff(
                rng.choice(invoices[account]),
                amount,
                "uncollectable",
                "coordinator",
                stamp(),
                uuid.uuid4(),
            )
        ).aggregate
        if write_off.status == "pending_approval":
            ledger.decide_write_off(
                DecideWriteOff(
                    write_off.id,
                    rng.random() < 0.7,
                    "manager",
                    Stamp("a-manager", "c", "c", dt.datetime.now(dt.UTC)),
                    "checked",
                )
            )
    elif roll < 0.75:
        status = rng.choice(("succeeded", "succeeded", "succeeded", "failed", "pending"))
        payment = ledger.record_payment(
            RecordPayment(
                account,
                Money(rng.randrange(1, 60_000), currency),
                rng.choice(("card", "bacs")),
                dt.date(2026, 4, 1),
                stamp(),
                status=status,
                failure_code="card_declined" if status == "failed" else None,
            )
        ).aggregate
        payments[account].append(payment.id)
    elif payments[account]:
        payment = rng.choice(payments[account])
        if rng.random() < 0.5:
            ledger.allocate_payment(
                AllocatePayment(payment, str(uuid.uuid4()), stamp(), strategy="oldest_first")
            )
        else:
            invoice = rng.choice(invoices[account])
            amount = Money(rng.randrange(1, 30_000), currency)  # sometimes too much: refused
            ledger.allocate_payment(
                AllocatePayment(payment, str(uuid.uuid4()), stamp(), ((invoice, amount),))
            )
