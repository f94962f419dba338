"""The rows of the receivables read model that one batch of events touches
(``projections/table_rows.py``): the accounts, invoices and payments read together
before the batch's handlers (``projections/receivables.py``) run, the new movements and
cash rows made in memory, and the running sums added up in memory; all of it written
together after, a statement per table, whatever the batch's length."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from psycopg import Connection

from infra.array_text import array_of
from projections.table_rows import Row, Table, TableRows

# The tables' shapes for batch writes; the tables themselves are ``receivables.SCHEMA``.
ACCOUNTS = Table(
    "receivable_accounts",
    {"account_id": "uuid", "name": "text", "currency": "text", "position": "bigint"},
    changing=("name", "position"),
)
INVOICES = Table(
    "receivable_invoices",
    {
        "invoice_id": "uuid",
        "account_id": "uuid",
        "number": "text",
        "currency": "text",
        "amount_minor": "bigint",
        "issued_on": "date",
        "due_on": "date",
        "recorded_at": "timestamptz",
        "settled_on": "date",
        "owed_minor": "numeric",
    },
    defaults={"settled_on": None, "owed_minor": 0},
    changing=("settled_on", "owed_minor"),
    totals=("owed_minor",),
)
PAYMENTS = Table(
    "receivable_payments",
    {
        "payment_id": "uuid",
        "account_id": "uuid",
        "currency": "text",
        "amount_minor": "bigint",
        "method": "text",
        "purpose": "text",
    },
)
MOVEMENTS = Table(
    "receivable_movements",
    {
        "position": "bigint",
        "account_id": "uuid",
        "invoice_id": "uuid",
        "payment_id": "uuid",
        "currency": "text",
        "kind": "text",
        "amount_minor": "bigint",
        "effective_on": "date",
        "recorded_at": "timestamptz",
    },
)
CASH = Table(
    "receivable_cash",
    {
        "position": "bigint",
        "account_id": "uuid",
        "payment_id": "uuid",
        "currency": "text",
        "method": "text",
        "purpose": "text",
        "kind": "text",
        "amount_minor": "bigint",
        "effective_on": "date",
        "recorded_at": "timestamptz",
    },
)
DAYS = Table(
    "receivable_days",
    {
        "currency": "text",
        "effective_on": "date",
        "kind": "text",
        "amount_minor": "numeric",
        "days_minor": "numeric",
    },
)
NOT_YET_DUE = Table(
    "receivable_not_yet_due",
    {"currency": "text", "due_on": "date", "effective_on": "date", "amount_minor": "numeric"},
)

# The running sums by day are shared by every partition's consumer: each batch adds its
# own to them (never writes a sum it read), its rows taken in key order, so that
# consumers adding to the same days at once cannot deadlock.
_ADD_TO_DAYS = (
    "ON CONFLICT (currency, effective_on, kind) DO UPDATE"
    " SET amount_minor = receivable_days.amount_minor + EXCLUDED.amount_minor,"
    " days_minor = receivable_days.days_minor + EXCLUDED.days_minor"
)
_ADD_TO_NOT_YET_DUE = (
    "ON CONFLICT (currency, due_on, effective_on) DO UPDATE"
    " SET amount_minor = receivable_not_yet_due.amount_minor + EXCLUDED.amount_minor"
)
# Rows made by an event: an event the read model applied once is never applied again
# (``writer.unseen_per_account``), so these conflict with nothing; as before, a row
# already there is kept as it is.
_KEEP = "ON CONFLICT ({}) DO NOTHING"


class Batch:
    """The receivables rows one batch of events touches, and what it adds to the sums."""

    def __init__(self) -> None:
        self.accounts = TableRows(ACCOUNTS)
        self.invoices = TableRows(INVOICES)
        self.payments = TableRows(PAYMENTS)
        self.movements = TableRows(MOVEMENTS)
        self.cash = TableRows(CASH)
        # (currency, effective_on, kind) -> [amount, amount times days since issue]
        self.days: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0])
        # (currency, due_on, effective_on) -> [amount]
        self.not_yet_due: dict[tuple[str, date, date], list[int]] = defaultdict(lambda: [0])

    def load(
        self,
        conn: Connection[Any],
        accounts: Iterable[str],
        invoices: Iterable[str],
        payments: Iterable[str],
    ) -> None:
        """Read the existing rows of these accounts, invoices and payments (those a batch
        raises or records too: a row there already is kept), in one round trip."""
        with conn.pipeline():
            self.accounts.load(conn, accounts)
            self.invoices.load(conn, invoices)
            self.payments.load(conn, payments)
            self.accounts.loaded()
            self.invoices.loaded()
            self.payments.loaded()

    def move(
        self, ce: dict[str, Any], invoice: Row, kind: str, amount: int, on: date, payment: Any
    ) -> None:
        """A movement of ``invoice`` by ``amount`` (signed), dated ``on`` but never before
        the invoice's issue, and what it adds to the invoice's ``owed_minor``, to its day's
        sums and, moved before the invoice fell due, to its due date's."""
        issued_on, due_on, currency = invoice["issued_on"], invoice["due_on"], invoice["currency"]
        effective_on = max(on, issued_on)
        self.movements.add(
            ce["position"],
            {
                "account_id": str(invoice["account_id"]),
                "invoice_id": str(invoice["invoice_id"]),
                "payment_id": payment,
                "currency": currency,
                "kind": kind,
                "amount_minor": amount,
                "effective_on": effective_on,
                "recorded_at": ce["time"],
            },
        )
        invoice["owed_minor"] += amount
        day = self.days[(currency, effective_on, kind)]
        day[0] += amount
        day[1] += amount * (effective_on - issued_on).days
        if effective_on <= due_on:
            self.not_yet_due[(currency, due_on, effective_on)][0] += amount

    def cash_moved(
        self, ce: dict[str, Any], payment: Row, kind: str, amount: int, on: date
    ) -> None:
        """Cash into (+) or out of (-) ``payment``, dated ``on``."""
        self.cash.add(
            ce["position"],
            {
                "account_id": str(payment["account_id"]),
                "payment_id": str(payment["payment_id"]),
                "currency": payment["currency"],
                "method": payment["method"],
                "purpose": payment["purpose"],
                "kind": kind,
                "amount_minor": amount,
                "effective_on": on,
                "recorded_at": ce["time"],
            },
        )

    def write(self, conn: Connection[Any]) -> None:
        """Every table's new and changed rows, a statement each, in one round trip."""
        with conn.pipeline():
            self.accounts.write(conn, _KEEP.format("account_id"))
            self.invoices.write(conn, _KEEP.format("invoice_id"))
            self.payments.write(conn, _KEEP.format("payment_id"))
            self.movements.write(conn, _KEEP.format("position"))
            self.cash.write(conn, _KEEP.format("position"))
            _add_sums(conn, DAYS.insert(_ADD_TO_DAYS), self.days)
            _add_sums(conn, NOT_YET_DUE.insert(_ADD_TO_NOT_YET_DUE), self.not_yet_due)


def _add_sums(conn: Connection[Any], sql: str, sums: dict[Any, list[int]]) -> None:
    """Add ``sums`` (by their key's columns, the sums' columns after) to their table's
    rows, in key order."""
    if not sums:
        return
    rows = [(*key, *values) for key, values in sorted(sums.items())]
    conn.execute(sql, [array_of(column) for column in zip(*rows, strict=True)])
