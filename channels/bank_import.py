"""Importing a bank statement (BACS / ACH receipts) and working its exceptions.

Each receipt line is matched (``bank_match``) against the accounts and open invoices of
its currency, read from the balances read model once it has caught up with the store.
A confident match is recorded as a payment on the account, dated the day the bank
received it, and allocated; a line whose account is certain but whose invoices are not
is recorded on the account unallocated; any other line waits, unrecorded, with its
candidates. A receipt a person had already recorded by hand (same account, amount and
day) is taken as that payment, not recorded twice.

Lines are taken ``LINES_PER_SAVE`` at a time, in one transaction each: their rows in
``bank_lines`` and one ledger save of their payments, each payment recorded and
allocated together (``Payments.record_receipts``). One line never stops a file: a line
the ledger could not take as the bank wrote it (a reference longer than a payment
keeps) waits for a person with its candidates, and so does a line whose receipt the
ledger refuses, with the ledger's reason; the lines after it are taken all the same.

The payment a line becomes has an id derived from the line's fingerprint, so importing
a file again, or a later statement that overlaps it, adds nothing. The import itself is
a ``reconciliation.completed`` event (channel ``bank``) naming the file's SHA-256 and
every line that needs a person; the same file imported again answers with that first
import and appends nothing."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from psycopg import Connection
from psycopg_pool import ConnectionPool

from channels import bank_lines
from channels.bank_csv import StatementLine, kept_reference, read_statement
from channels.bank_match import (
    AccountFacts,
    Decision,
    InvoiceFacts,
    Matcher,
    invoice_candidates,
)
from channels.bank_queue import STATEMENT_NAMESPACE, payment_id_for_line, statement_json
from channels.read_model import balances_caught_up
from channels.reconcile import ReadModelBehind
from infra.settings import Settings
from ledger.application import Ledger
from ledger.commands import AllocatePayment, RecordPayment
from ledger.errors import InvalidRequest, LedgerError
from ledger.limits import REFERENCE_LENGTH_MAX
from ledger.money import Money
from ledger.payments import Receipt
from ledger.reconciliation import Reconciliation
from ledger.stamp import Stamp
from projections import balance_queries

log = logging.getLogger("arledger.bank")

PROGRESS_EVERY_S = 5.0
RECEIPT_METHODS = ("bacs", "ach", "direct_debit", "cheque", "cash", "other")
# Lines taken in one transaction, their payments in one ledger save (up to the ledger's
# ``RECEIPTS_PER_SAVE_MAX``). A chunk reads each invoice it pays once, so larger chunks
# read the invoices a statement pays again and again fewer times; a chunk of 1,000 lines
# (some 4,000 events) still re-decides little after a conflict and holds the store's
# lock for a moment only.
LINES_PER_SAVE = 1_000


@dataclass(frozen=True)
class Statement:
    content: str
    currency: str
    method: str = "bacs"
    bank_account: str = "default"
    date_format: str = "iso"
    filename: str | None = None
    tolerance_minor: int | None = None
    decimal_separator: str = "."

    def statement_id(self) -> UUID:
        digest = hashlib.sha256(self.content.encode()).hexdigest()
        return uuid5(STATEMENT_NAMESPACE, f"{self.bank_account}/{digest}")


def load_accounts(conn: Connection[Any], currency: str) -> list[AccountFacts]:
    accounts: dict[UUID, AccountFacts] = {}
    for row in balance_queries.account_invoices(conn, currency):
        account = accounts.get(row[0]) or AccountFacts(row[0], row[1], currency, row[3])
        accounts[row[0]] = account
        if row[4] is not None:
            account.invoices.append(InvoiceFacts(row[4], row[5], int(row[7]), row[6]))
    return list(accounts.values())


class ByHand:
    """The receipts a person recorded (``balance_queries.by_hand_payments``) by account,
    amount and day: a line finds the one it is at once, and takes it, so that no other
    line of the file does."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._waiting: dict[tuple[UUID, int, date], list[UUID]] = {}
        for payment_id, account_id, amount_minor, received_on in rows:
            key = (account_id, amount_minor, received_on)
            self._waiting.setdefault(key, []).append(payment_id)

    def take(self, account_id: UUID, amount_minor: int, on: date) -> UUID | None:
        waiting = self._waiting.get((account_id, amount_minor, on))
        return waiting.pop(0) if waiting else None


@dataclass(frozen=True)
class Matching:
    """One currency's matcher, and the receipts recorded by hand a line may be."""

    matcher: Matcher
    by_hand: ByHand


@dataclass(frozen=True)
class Taken:
    """What became of a line: its row's fields, the payment it records, if any, and the
    match that placed it (given back, and offered to a person, if the ledger refuses)."""

    fields: dict[str, Any]
    receipt: Receipt | None = None
    decision: Decision | None = None
    matcher: Matcher | None = None

    def refused(self, error: LedgerError) -> Taken:
        """The line waits for a person instead, nothing recorded: the ledger said why.
        What its match took off the invoices is given back to the matcher, and the
        account it chose is the person's candidate."""
        evidence = [*self.fields.get("evidence", []), f"the ledger refused it: {error.detail}"]
        candidates = self.fields.get("candidates") or []
        if self.matcher is not None and self.decision is not None and self.receipt is not None:
            self.matcher.settle(self.decision, sign=-1)
            if not candidates and self.decision.account_id is not None:
                candidates = invoice_candidates(
                    self.matcher.account(self.decision.account_id),
                    self.receipt.payment.amount,
                    self.decision.evidence,
                    [invoice for invoice, _ in self.decision.allocations],
                )
        fields = {"outcome": "exception", "reason": "ledger-refused", "evidence": evidence}
        return Taken({**fields, "candidates": candidates})


class BankStatements:
    def __init__(
        self,
        ledger: Ledger,
        pool: ConnectionPool,
        caught_up: Callable[[int], bool],
        tolerance_minor: int,
        similarity_percent: int,
    ) -> None:
        self.ledger, self.pool, self.caught_up = ledger, pool, caught_up
        self.tolerance, self.similarity = tolerance_minor, similarity_percent

    # --- importing -----------------------------------------------------------------

    def import_statement(self, statement: Statement, stamp: Stamp) -> dict[str, Any]:
        if statement.method not in RECEIPT_METHODS:
            raise InvalidRequest(f"method must be one of {', '.join(RECEIPT_METHODS)}")
        lines = read_statement(
            statement.content,
            statement.currency,
            statement.bank_account,
            statement.date_format,
            statement.decimal_separator,
        )
        statement_id = statement.statement_id()
        earlier = self._recorded(statement_id)
        if earlier is not None:
            return self._report(lines, earlier, self.ledger.head_position(), duplicate=True)
        if not self.caught_up(self.ledger.head_position()):
            raise ReadModelBehind("the balances read model is behind the store; try again")
        tolerance = (
            self.tolerance if statement.tolerance_minor is None else statement.tolerance_minor
        )
        matching: dict[str, Matching] = {}
        taken: dict[UUID, dict[str, Any]] = {}  # the rows of the lines taken now
        logged = time.monotonic()
        for start in range(0, len(lines), LINES_PER_SAVE):
            chunk = lines[start : start + LINES_PER_SAVE]
            for currency in dict.fromkeys(line.amount.currency for line in chunk):
                if currency not in matching:
                    matching[currency] = self._matching(currency, lines, tolerance)
            taken |= self._take(chunk, statement_id, statement.method, matching, stamp)
            if time.monotonic() - logged >= PROGRESS_EVERY_S:
                logged = time.monotonic()
                done = start + len(chunk)
                log.info("importing bank statement", extra={"done": done, "total": len(lines)})
        run, position = self._record(statement, statement_id, lines, stamp)
        log.info("bank statement imported", extra={"statement_id": str(statement_id), **run.counts})
        return self._report(lines, run, position, duplicate=False, taken=taken)

    def _matching(self, currency: str, lines: list[StatementLine], tolerance: int) -> Matching:
        days = [ln.on for ln in lines]
        with self.pool.connection() as conn:
            accounts = load_accounts(conn, currency)
            by_hand = balance_queries.by_hand_payments(conn, currency, min(days), max(days))
        return Matching(Matcher(accounts, tolerance, self.similarity), ByHand(by_hand))

    def _take(
        self,
        chunk: list[StatementLine],
        statement_id: UUID,
        method: str,
        matching: dict[str, Matching],
        stamp: Stamp,
    ) -> dict[UUID, dict[str, Any]]:
        """Claim, decide and record a chunk of lines in one transaction, their payments
        in one ledger save (one more after each line the ledger refuses: that line waits
        for a person, and the others are taken all the same); the rows of the lines
        taken, as the table now holds them."""
        with self.pool.connection() as conn, conn.transaction():
            claimed = bank_lines.claim_many(conn, chunk, statement_id, method)
            # A line not claimed now was taken before: by an import of this file that
            # died, or by another file.
            taken = [line for line in chunk if line.fingerprint in claimed]
            decided = [self._decide(line, method, matching, stamp) for line in taken]
            self._record_receipts(decided)
            settled = [(line.fingerprint, d.fields) for line, d in zip(taken, decided, strict=True)]
            bank_lines.settle_many(conn, settled)
        return {
            line.fingerprint: bank_lines.settled_row(
                line, statement_id, method, claimed[line.fingerprint], d.fields
            )
            for line, d in zip(taken, decided, strict=True)
        }

    def _record_receipts(self, decided: list[Taken]) -> None:
        """Record the lines' payments, in one save unless the ledger refuses one: that
        line becomes ``ledger-refused`` (in ``decided``) and those after it are saved."""
        waiting = [n for n, taken in enumerate(decided) if taken.receipt is not None]
        while waiting:
            receipts = [r for r in (decided[n].receipt for n in waiting) if r is not None]
            recorded = self.ledger.payments.record_receipts(receipts)
            if recorded.refused is None:
                return
            refused = waiting[recorded.recorded]
            log.warning(
                "bank statement line refused by the ledger",
                extra={"problem": recorded.refused.code, "detail": recorded.refused.detail},
            )
            decided[refused] = decided[refused].refused(recorded.refused)
            waiting = waiting[recorded.recorded + 1 :]

    def _decide(
        self, line: StatementLine, method: str, matching: dict[str, Matching], stamp: Stamp
    ) -> Taken:
        if line.outgoing:
            return Taken({"outcome": "outgoing"})
        currency = matching[line.amount.currency]
        if line.problem is not None:  # the bank wrote what the ledger cannot keep
            decision = currency.matcher.held(line, "reference-too-long", line.problem)
        else:
            decision = currency.matcher.decide(line)
        taken = self._apply(line, decision, method, currency, stamp)
        currency.matcher.settle(decision)  # the next line sees what this one allocated
        return taken

    def _apply(
        self,
        line: StatementLine,
        decision: Decision,
        method: str,
        currency: Matching,
        stamp: Stamp,
    ) -> Taken:
        fields: dict[str, Any] = {
            "outcome": decision.outcome,
            "reason": decision.reason,
            "account_id": decision.account_id,
            "evidence": decision.evidence,
            "candidates": decision.candidates,
        }
        if decision.account_id is None:
            return Taken(fields)
        earlier = currency.by_hand.take(decision.account_id, line.amount.amount_minor, line.on)
        if earlier is not None:
            decision.allocations.clear()  # the person who recorded it placed it too
            return Taken(
                {**fields, "outcome": "already-in-ledger", "reason": None, "payment_id": earlier}
            )
        payment_id = payment_id_for_line(line.fingerprint)
        line_stamp = stamp.effective_on(line.on)
        payment = RecordPayment(
            account_id=decision.account_id,
            amount=line.amount,
            method=method,
            received_on=line.on,
            stamp=line_stamp,
            reference=kept_reference(line.reference),
            payment_id=payment_id,
        )
        fields["payment_id"] = payment_id
        if not decision.allocations:
            return Taken(fields, Receipt(payment), decision, currency.matcher)
        plan = tuple(
            (inv.invoice_id, Money(amount, line.amount.currency))
            for inv, amount in decision.allocations
        )
        allocation = AllocatePayment(payment_id, f"bank:{line.fingerprint}/match", line_stamp, plan)
        fields["allocations"] = [
            {"invoice_id": str(inv.invoice_id), "number": inv.number, "amount": amount}
            for inv, amount in decision.allocations
        ]
        return Taken(fields, Receipt(payment, allocation), decision, currency.matcher)

    # --- the record of an import -----------------------------------------------------

    def _recorded(self, statement_id: UUID) -> Reconciliation | None:
        try:
            run: Any = self.ledger.repository.get(statement_id)
        except AggregateNotFoundError:
            return None
        return run if isinstance(run, Reconciliation) else None

    def _record(
        self, statement: Statement, statement_id: UUID, lines: list[StatementLine], stamp: Stamp
    ) -> tuple[Reconciliation, int]:
        with self.pool.connection() as conn:
            rows = bank_lines.outcomes_of(conn, statement_id)
        counts: dict[str, Any] = {"lines": len(lines), "already-imported": len(lines) - len(rows)}
        for row in rows:
            key = row["reason"] if row["outcome"] == "exception" else row["outcome"]
            counts[key] = counts.get(key, 0) + 1
        findings: list[dict[str, Any]] = [
            {
                "kind": "statement-file",
                "sha256": hashlib.sha256(statement.content.encode()).hexdigest(),
                "bank_account": statement.bank_account,
                "filename": statement.filename,
            }
        ]
        findings += [
            {
                "kind": r["reason"],
                "line_id": str(r["line_id"]),
                "row": r["row_number"],
                "amount": Money(r["amount_minor"], r["currency"].strip()).to_json(),
                "reference": r["reference"][:REFERENCE_LENGTH_MAX],  # the line keeps it whole
                "payer": r["payer"],
                "account_id": str(r["account_id"]) if r["account_id"] else None,
            }
            for r in rows
            if r["outcome"] == "exception"
        ]
        days = [ln.on for ln in lines]
        saved = self.ledger.record_reconciliation(
            statement_id, "bank", (min(days), max(days)), counts, findings, stamp
        )
        run = saved.aggregate
        assert isinstance(run, Reconciliation)
        return run, saved.position

    def _report(
        self,
        lines: list[StatementLine],
        run: Reconciliation,
        position: int,
        duplicate: bool,
        taken: dict[UUID, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The import's reply: each line as the table holds it, the rows of the lines
        ``taken`` now as this import left them (not read again), the others read."""
        taken = taken or {}
        unread = [ln.fingerprint for ln in lines if ln.fingerprint not in taken]
        with self.pool.connection() as conn:
            read = {row["line_id"]: row for row in bank_lines.of_lines(conn, unread)}
        found = (taken.get(ln.fingerprint) or read.get(ln.fingerprint) for ln in lines)
        rows = [row for row in found if row is not None]
        return statement_json(run, position, duplicate, rows)


def start(settings: Settings, ledger: Ledger, pool: ConnectionPool) -> BankStatements:
    with pool.connection() as conn:
        bank_lines.ensure_schema(conn)
    return BankStatements(
        ledger,
        pool,
        balances_caught_up(settings, pool),
        settings.bank_amount_tolerance,
        settings.bank_payer_similarity,
    )
