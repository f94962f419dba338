"""Rows COPYed into a table over a connection of their own, the COPY kept open across many
batches: the server stores each row while this process goes on reading and applying the
next events, instead of the process waiting for it batch by batch. For a table that is new
and that no one else writes (a rebuild's), whose rows are seen once the stream closes."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from psycopg import Copy
from psycopg_pool import ConnectionPool

from projections.table_rows import Table


class CopyStream:
    """A COPY into ``table``'s columns, in order, opened on the first row written."""

    def __init__(self, pool: ConnectionPool, table: Table) -> None:
        self._pool = pool
        self._table = table
        self._stack = ExitStack()
        self._copy: Copy | None = None

    def write(self, row: Sequence[Any]) -> None:
        """One row: a value per column, JSON ones as JSON text."""
        if self._copy is None:
            self._copy = self._open()
        self._copy.write_row(row)

    def _open(self) -> Copy:
        conn = self._stack.enter_context(self._pool.connection())
        self._stack.enter_context(conn.transaction())
        columns = ", ".join(self._table.columns)
        statement = f"COPY {self._table.name} ({columns}) FROM STDIN"
        return self._stack.enter_context(conn.cursor().copy(statement))

    def close(self) -> None:
        """End the COPY and commit its rows; wait for the server to have stored them."""
        self._copy = None
        self._stack.close()

    def abandon(self) -> None:
        """End the COPY without its rows."""
        self._copy = None
        failed = RuntimeError("the rows streamed are abandoned")
        self._stack.__exit__(type(failed), failed, None)
