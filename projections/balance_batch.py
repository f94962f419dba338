"""The rows of the balances read model's tables that one batch of events touches
(``projections/table_rows.py``): read together before the batch's handlers
(``projections/balances.py``) change them, written together after."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from psycopg import Connection

from projections import balance_tables
from projections.balance_tables import ACCOUNTS, ARRANGEMENTS, EVENTS, INVOICES, PAYMENTS
from projections.table_rows import TableRows
from projections.writer import OPENED

# The events that make the row they are about; the rest change one that exists.
CREATING = frozenset(
    {
        OPENED,
        "arledger.invoice.raised",
        "arledger.payment.recorded",
        "arledger.promise.made",
        "arledger.payment_plan.agreed",
    }
)

# An event's family (``arledger.<family>.<what>``) and the table of its subject.
_SUBJECT_TABLES = {
    "invoice": "invoices",
    "payment": "payments",
    "promise": "arrangements",
    "payment_plan": "arrangements",
}


# A table's new rows go by COPY from this many: below it, the COPY's two round trips cost
# more than writing the rows in the batch's last one.
COPY_ROWS_MIN = 64


@lru_cache(maxsize=256)
def _subject_table(kind: str) -> str | None:
    return _SUBJECT_TABLES.get(kind.split(".")[1] if kind.count(".") == 2 else "")


class Batch:
    """The rows of the balances tables that one batch of events touches."""

    def __init__(self) -> None:
        self.accounts = TableRows(ACCOUNTS)
        self.invoices = TableRows(INVOICES)
        self.payments = TableRows(PAYMENTS)
        self.arrangements = TableRows(ARRANGEMENTS)
        self.history = TableRows(EVENTS)

    def load(self, conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None:
        """Read, in one round trip, the existing rows the events will change: each
        account's, and each invoice's, payment's and arrangement's that the batch does
        not itself create."""
        keys: dict[TableRows, set[str]] = {
            self.accounts: set(),
            self.invoices: set(),
            self.payments: set(),
            self.arrangements: set(),
        }
        created: set[str] = set()
        for ce in events:
            kind = ce["type"]
            if kind in CREATING:
                created.add(ce["subject"] if kind != OPENED else ce["accountid"])
            if kind != OPENED:
                keys[self.accounts].add(ce["accountid"])
            rows = self._rows_of(kind)
            if rows is not None and kind not in CREATING:
                keys[rows].add(ce["subject"])
        with conn.pipeline():
            for rows, wanted in keys.items():
                rows.load(conn, wanted - created)
            for rows in keys:
                rows.loaded()

    def _rows_of(self, kind: str) -> TableRows | None:
        """The table whose row an event of ``kind`` is about (its subject), if any."""
        table = _subject_table(kind)
        return None if table is None else getattr(self, table)

    def write(self, conn: Connection[Any], *, copy: bool = False) -> None:
        """Write what the batch changed: a table's many new rows by COPY, then the rest
        in one round trip (a COPY is two: a small batch's few new rows go by INSERT with
        the updates). A new row cannot be there already: an account's rows and its
        history are written under its lock, with its position, and only for events after
        that position (``writer.unseen_per_account``); a second writer of the same new
        account fails on its row. Only an arrangement may be made again (the same promise
        or plan): it goes by INSERT, and is kept as it was, unless ``copy`` (the tables
        are new and no one else writes them, a rebuild's: every new row by COPY)."""
        again = () if copy else (self.arrangements,)
        copied = [
            rows
            for rows in self._tables()
            if rows not in again and (copy or rows.new_rows >= COPY_ROWS_MIN)
        ]
        for rows in copied:
            rows.write_new(conn, copy=True)
        with conn.pipeline():
            for rows in again:
                rows.write_new(conn, "ON CONFLICT (arrangement_id) DO NOTHING")
            for rows in self._tables():
                if rows not in again and rows not in copied:
                    rows.write_new(conn, arrays=True)
            for rows in self._tables():
                rows.write_changed(conn)

    def held(self) -> int:
        """How many rows the batch holds."""
        return sum(len(rows.rows) for rows in self._tables())

    def forget(self) -> None:
        """Let go of every row held (written, or abandoned)."""
        for rows in self._tables():
            rows.forget()

    def _tables(self) -> tuple[TableRows, ...]:
        return (self.accounts, self.invoices, self.payments, self.arrangements, self.history)

    def add_to_account(self, ce: dict[str, Any], column: str, amount: int) -> None:
        assert column in balance_tables.ACCOUNT_TOTALS, column
        account = self.accounts.get(ce["accountid"])
        if account is not None:
            account[column] += amount
