"""The balances tables rebuilt in bulk (a rebuild's side schema, new and written by no one
else): the rows of accounts, invoices, payments and arrangements are kept in memory from
one batch of events to the next, each written once, by COPY, when the rebuild finishes
(or when more than ``ROWS_HELD_MAX`` are held), instead of read, inserted and updated
batch by batch; each account's history goes to the server as it is made, on a COPY of its
own (``projections/copy_stream.py``). The handlers are the consumer's
(``projections/balances.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from projections.balance_batch import Batch
from projections.balance_tables import EVENTS
from projections.balances import document, fold
from projections.copy_stream import CopyStream
from projections.table_rows import json_text
from projections.writer import account_positions, unseen_after

# Rows held in memory before they are written (a row is about a kilobyte): a book's
# accounts, invoices and payments up to this many are written once each, at the end.
ROWS_HELD_MAX = 200_000
ACCOUNTS_TABLE = "balance_accounts"


class BalancesBulk:
    """A :class:`projections.writer.Bulk` of the balances tables, on ``pool`` (the side
    schema's)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._batch = Batch()
        self._history = CopyStream(pool, EVENTS)
        self._written = False  # some rows are in the tables, no longer held

    def apply(self, conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None:
        """Apply new CloudEvents to the rows held (and those written, once some are)."""
        rows = self._batch.accounts.rows
        accounts = {ce["accountid"] for ce in events}
        known = {a: rows[a]["position"] for a in accounts if a in rows}
        if self._written:
            known.update(account_positions(conn, ACCOUNTS_TABLE, accounts - known.keys()))
        fresh = unseen_after(events, known)
        if not fresh:
            return
        if self._written:
            self._batch.load(conn, fresh)  # the rows not held: read back
        fold(self._batch, fresh, self._record)
        if self._batch.held() > ROWS_HELD_MAX:
            self._write(conn)

    def _record(self, ce: dict[str, Any]) -> None:
        row = (ce["position"], ce["accountid"], ce["type"], ce["time"], json_text(document(ce)))
        self._history.write(row)

    def _write(self, conn: Connection[Any]) -> None:
        """Write the rows held and let them go."""
        self._batch.write(conn, copy=True)
        self._batch.forget()
        self._written = True

    def finish(self) -> None:
        """Write every row held and end the history's COPY."""
        self._history.close()
        with self._pool.connection() as conn, conn.transaction():
            self._write(conn)

    def abandon(self) -> None:
        self._history.abandon()
        self._batch.forget()
