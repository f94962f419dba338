"""Random but valid (and some invalid) command sequences against the application service,
for fault-injection and property tests."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from ledger.application import Ledger
from ledger.commands import (
    AllocatePayment,
    CloseChargeback,
    DecideWriteOff,
    DisputeInvoice,
    ForfeitDeposit,
    IssueCreditNote,
    OpenAccount,
    OpenChargeback,
    RaiseInvoice,
    RecordPayment,
    RefundPayment,
    RequestWriteOff,
    ResolveDispute,
    ReturnPayment,
    UnallocatePayment,
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
    book = _Book(ledger, rng, {a.id: [] for a in ids}, {a.id: [] for a in ids})
    refused = 0
    for n in range(commands):
        account = rng.choice(ids)
        try:
            _one(book, account.id, account.currency, n)
        except LedgerError:
            refused += 1
    return refused


@dataclass
class _Book:
    ledger: Ledger
    rng: random.Random
    invoices: dict[uuid.UUID, list[uuid.UUID]]
    payments: dict[uuid.UUID, list[uuid.UUID]]

    def money(self, currency: str, most: int) -> Money:
        return Money(self.rng.randrange(1, most), currency)

    def raise_invoice(self, account: uuid.UUID, currency: str, n: int) -> None:
        issued = dt.date(2026, 1, 1) + dt.timedelta(days=self.rng.randrange(90))
        number = f"INV-{self.rng.randrange(n + 1)}"  # sometimes a duplicate: refused
        due = issued + dt.timedelta(days=self.rng.choice((0, 14, 30)))
        cmd = RaiseInvoice(account, number, self.money(currency, 50_000), issued, due, stamp())
        self.invoices[account].append(self.ledger.raise_invoice(cmd).aggregate.id)

    def credit(self, account: uuid.UUID, currency: str) -> None:
        invoice = self.rng.choice(self.invoices[account])
        amount = self.money(currency, 20_000)  # sometimes too much: refused
        self.ledger.issue_credit_note(
            IssueCreditNote(invoice, amount, "goodwill", dt.date(2026, 4, 1), stamp(), uuid.uuid4())
        )

    def void(self, account: uuid.UUID) -> None:
        """Void an invoice raised in error: refused once anything is allocated, once it is
        settled (nothing left), and a second time. Half the time the book looks for such
        an invoice (one paid, settled or voided already), so that each refusal is tried."""
        invoices = self.invoices[account]
        invoice = self.rng.choice(invoices)
        if self.rng.random() < 0.5:
            for candidate in self.rng.sample(invoices, k=min(3, len(invoices))):
                found = self.ledger.get_invoice(candidate)
                if found.is_void or found.allocated.is_positive() or found.outstanding.is_zero():
                    invoice = candidate
                    break
        self.ledger.void_invoice(VoidInvoice(invoice, "raised in error", stamp()))

    def write_off(self, account: uuid.UUID, currency: str) -> None:
        amount = self.money(currency, 40_000)  # above the coordinator's 250: needs approval
        invoice = self.rng.choice(self.invoices[account])
        cmd = RequestWriteOff(
            invoice, amount, "uncollectable", "coordinator", stamp(), uuid.uuid4()
        )
        write_off = self.ledger.request_write_off(cmd).aggregate
        if write_off.status == "pending_approval":
            manager = Stamp("a-manager", "c", "c", dt.datetime.now(dt.UTC))
            approve = self.rng.random() < 0.7
            self.ledger.decide_write_off(
                DecideWriteOff(write_off.id, approve, "manager", manager, "checked")
            )

    def pay(self, account: uuid.UUID, currency: str) -> None:
        status = self.rng.choice(("succeeded", "succeeded", "succeeded", "failed", "pending"))
        cmd = RecordPayment(
            account,
            self.money(currency, 60_000),
            self.rng.choice(("card", "bacs")),
            dt.date(2026, 4, 1),
            stamp(),
            status=status,
            failure_code="card_declined" if status == "failed" else None,
            purpose="deposit" if self.rng.random() < 0.15 else "payment",
        )
        self.payments[account].append(self.ledger.record_payment(cmd).aggregate.id)

    def allocate(self, account: uuid.UUID, currency: str) -> None:
        payment = self.rng.choice(self.payments[account])
        if self.rng.random() < 0.5:
            cmd = AllocatePayment(payment, str(uuid.uuid4()), stamp(), strategy="oldest_first")
        else:
            invoice = self.rng.choice(self.invoices[account])
            amount = self.money(currency, 30_000)  # sometimes too much: refused
            cmd = AllocatePayment(payment, str(uuid.uuid4()), stamp(), ((invoice, amount),))
        self.ledger.allocate_payment(cmd)

    def dispute(self, account: uuid.UUID, currency: str) -> None:
        """Dispute part of an invoice, then (often) resolve it: upheld credits it."""
        invoice = self.rng.choice(self.invoices[account])
        dispute_id = str(uuid.uuid4())
        amount = self.money(currency, 20_000)  # sometimes more than undisputed: refused
        self.ledger.dispute_invoice(DisputeInvoice(invoice, dispute_id, amount, "query", stamp()))
        if self.rng.random() < 0.7:
            upheld = self.rng.random() < 0.5
            cmd = ResolveDispute(
                invoice, dispute_id, upheld, "checked", dt.date(2026, 4, 3), stamp()
            )
            self.ledger.resolve_dispute(cmd)

    def take_back(self, account: uuid.UUID, currency: str) -> None:
        """Un-allocate, refund, return or charge back one of the account's payments (often
        refused: a failed payment, a card returned by a bank, too much asked)."""
        payment = self.rng.choice(self.payments[account])
        request = str(uuid.uuid4())
        kind = self.rng.choice(("unallocate", "refund", "return", "chargeback", "forfeit"))
        if kind == "unallocate":
            self.ledger.unallocate_payment(
                UnallocatePayment(payment, request, "misapplied", stamp())
            )
        elif kind == "refund":
            amount = self.money(currency, 30_000)
            reverse = self.rng.random() < 0.5
            cmd = RefundPayment(
                payment, request, amount, "overpaid", dt.date(2026, 4, 2), stamp(), reverse
            )
            self.ledger.refund_payment(cmd)
        elif kind == "forfeit":  # refused unless a deposit with that much unallocated
            amount = self.money(currency, 30_000)
            self.ledger.forfeit_deposit(ForfeitDeposit(payment, request, amount, "kept", stamp()))
        elif kind == "return":
            returned = ReturnPayment(payment, request, "ARUDD-0", dt.date(2026, 4, 5), stamp())
            self.ledger.return_payment(returned)
        else:
            amount = self.money(currency, 30_000)
            self.ledger.open_chargeback(
                OpenChargeback(payment, request, amount, "fraud", dt.date(2026, 4, 6), stamp())
            )
            if self.rng.random() < 0.6:
                won = self.rng.random() < 0.5
                self.ledger.close_chargeback(
                    CloseChargeback(payment, request, won, "scheme decided", stamp())
                )


def _one(book: _Book, account: uuid.UUID, currency: str, n: int) -> None:
    roll = book.rng.random()
    if roll < 0.4 or not book.invoices[account]:
        book.raise_invoice(account, currency, n)
    elif roll < 0.48:
        book.credit(account, currency)
    elif roll < 0.52:
        book.void(account)
    elif roll < 0.56:
        book.write_off(account, currency)
    elif roll < 0.6:
        book.dispute(account, currency)
    elif roll < 0.72:
        book.pay(account, currency)
    elif roll < 0.8 and book.payments[account]:
        book.take_back(account, currency)
    elif book.payments[account]:
        book.allocate(account, currency)
