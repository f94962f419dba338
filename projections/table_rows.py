"""A read model's rows as a batch of events sees them: the rows the batch touches are
read in one statement per table, changed in memory by the handlers, and written back in
one statement per table (the new rows inserted, the changed ones updated), instead of a
statement per event and row. The handlers stay small functions of a row and an event."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from operator import itemgetter
from typing import Any

import orjson
from psycopg import Connection, Cursor

from infra.array_text import array_of, text_array
from projections.totals import whole

Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    """A table's shape for batch writes: its key, every column an insert writes with its
    SQL type (the key first), the defaults of a new row, and the columns events change
    (an update writes those). Column names come from our modules, never a message."""

    name: str
    columns: dict[str, str]
    defaults: dict[str, Any] = field(default_factory=dict)
    changing: tuple[str, ...] = ()
    totals: tuple[str, ...] = ()  # numeric columns, read back as exact ints

    def __post_init__(self) -> None:
        names = [self.name, *self.columns]
        assert all(n.isidentifier() for n in names), names
        assert set(self.changing) <= set(self.columns) and set(self.defaults) <= set(self.columns)

    @cached_property
    def key(self) -> str:
        return next(iter(self.columns))

    @cached_property
    def blank(self) -> Row:
        """A new row before its values: every column, its default or NULL."""
        return {**dict.fromkeys(self.columns), **self.defaults}

    @cached_property
    def documents(self) -> tuple[str, ...]:
        """The ``json`` and ``jsonb`` columns: their values are JSON text or plain JSON
        values."""
        return tuple(n for n, t in self.columns.items() if t in ("json", "jsonb"))

    def select(self) -> str:
        return (
            f"SELECT {', '.join(self.columns)} FROM {self.name}"
            f" WHERE {self.key} = ANY(%s::{self.columns[self.key]}[])"
        )

    def insert(self, conflict: str = "") -> str:
        """An INSERT of rows sent as an array a column, each array as its text input
        (:func:`infra.array_text.array_of`): psycopg's list dumper, which looks through
        every list for its elements' type, took a tenth of a small batch's time."""
        arrays = ", ".join(f"%s::{t}[]" for t in self.columns.values())
        return (
            f"INSERT INTO {self.name} ({', '.join(self.columns)})"
            f" SELECT * FROM unnest({arrays}) {conflict}"
        )

    def insert_rows(self, conflict: str = "") -> str:
        """An INSERT of rows sent as one JSON array of objects (:func:`rows_json`)."""
        names = ", ".join(self.columns)
        return (
            f"INSERT INTO {self.name} ({names}) SELECT {names}"
            f" FROM json_populate_recordset(NULL::{self.name}, %s::json) {conflict}"
        )

    def update_rows(self) -> str:
        """An UPDATE of the changing columns of rows sent as one JSON array of objects."""
        sets = ", ".join(f"{n} = m.{n}" for n in self.changing)
        return (
            f"UPDATE {self.name} AS t SET {sets}"
            f" FROM json_populate_recordset(NULL::{self.name}, %s::json) AS m"
            f" WHERE t.{self.key} = m.{self.key}"
        )


class TableRows:
    """The rows of one table a batch touches, by key (a uuid as text). :meth:`load` reads the
    existing ones; :meth:`get` hands a row to change (``None`` where the table has no
    such row: the handler leaves it, as an UPDATE of no row would); :meth:`add` makes a
    new one; :meth:`write` saves what changed."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.rows: dict[Any, Row] = {}
        self._new: set[Any] = set()
        self._changed: set[Any] = set()
        self._cursor: Cursor[Any] | None = None

    def load(self, conn: Connection[Any], keys: Iterable[Any]) -> None:
        """Start reading the rows of ``keys`` (those not already here); inside a pipeline
        several tables' reads share one round trip. :meth:`loaded` takes the result."""
        wanted = sorted(set(keys) - self.rows.keys())
        if wanted:
            self._cursor = conn.cursor()
            self._cursor.execute(self.table.select(), (text_array(map(str, wanted)),))

    def loaded(self) -> None:
        if self._cursor is None:
            return
        names = list(self.table.columns)
        for values in self._cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            for total in self.table.totals:
                row[total] = whole(row[total])
            self.rows[str(row[self.table.key])] = row
        self._cursor = None

    def get(self, key: Any) -> Row | None:
        row = self.rows.get(key)
        if row is not None:
            self._changed.add(key)
        return row

    @property
    def new_rows(self) -> int:
        """How many rows :meth:`add` made that are not yet written."""
        return len(self._new)

    def has(self, key: Any) -> bool:
        return key in self.rows

    def add(self, key: Any, values: Row) -> Row:
        row = {**self.table.blank, **values}
        row[self.table.key] = key
        self.rows[key] = row
        self._new.add(key)
        return row

    def forget(self) -> None:
        """Let go of every row, written or not."""
        self.rows.clear()
        self._new.clear()
        self._changed.clear()

    def write(self, conn: Connection[Any], conflict: str = "", *, arrays: bool = False) -> None:
        """Insert the new rows and update the changed ones, a statement each."""
        self.write_new(conn, conflict, arrays=arrays)
        self.write_changed(conn)

    def write_new(
        self, conn: Connection[Any], conflict: str = "", *, copy: bool = False, arrays: bool = False
    ) -> None:
        """Insert the new rows in one statement; ``copy``: by COPY, for a table that is new
        and that no one else writes (a rebuild's), where no row can conflict (COPY cannot
        be pipelined: call this outside a pipeline). ``arrays``: an array a column
        (:meth:`Table.insert`), a JSON column's text kept as it is, where the one JSON
        array of rows would have every string in it unescaped: PostgreSQL then refuses a
        ``\u0000`` even bound for a ``json`` column."""
        if not self._new:
            return
        new = [self.rows[k] for k in sorted(self._new)]
        if copy:
            copy_rows(conn, self.table, new)
        elif arrays:
            columns = [array_of(row[name] for row in new) for name in self.table.columns]
            conn.execute(self.table.insert(conflict), columns)
        else:
            conn.execute(self.table.insert_rows(conflict), (rows_json(self.table, new),))

    def write_changed(self, conn: Connection[Any]) -> None:
        """Update the changed rows that are not new, in one statement; forget both."""
        changed = sorted(self._changed - self._new)
        if changed and self.table.changing:
            rows = [self.rows[k] for k in changed]
            conn.execute(self.table.update_rows(), (rows_json(self.table, rows),))
        self._new.clear()
        self._changed.clear()


def rows_json(table: Table, rows: list[Row]) -> str:
    """``rows`` as one JSON array for ``json_populate_recordset``: each value as its
    column's type reads it from JSON text, a JSON column's JSON text as it is."""
    documents = table.documents
    try:
        if not documents:
            return orjson.dumps(rows).decode()
        return orjson.dumps([_with_documents(row, documents) for row in rows]).decode()
    except (orjson.JSONEncodeError, TypeError):  # an integer wider than 64 bits: none today
        return json.dumps([_parsed_documents(row, documents) for row in rows], default=_text)


def _with_documents(row: Row, documents: tuple[str, ...]) -> Row:
    """The row, its JSON columns given as JSON text put in the array as they are."""
    if all(type(row.get(c)) is not str for c in documents):
        return row
    return {**row, **{c: orjson.Fragment(row[c]) for c in documents if type(row.get(c)) is str}}


def _parsed_documents(row: Row, documents: tuple[str, ...]) -> Row:
    return {k: json.loads(v) if k in documents and type(v) is str else v for k, v in row.items()}


def _text(value: Any) -> str:
    """JSON for what ``json`` cannot write: times, dates and ids as PostgreSQL reads them."""
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def copy_rows(conn: Connection[Any], table: Table, rows: list[Row]) -> None:
    """``rows`` (made by :meth:`TableRows.add` or read: every column there) into ``table``
    by COPY, each column as text, a JSON one's plain JSON values written as JSON."""
    columns = list(table.columns)
    values = itemgetter(*columns)
    documents = [columns.index(c) for c in table.documents]
    with conn.cursor().copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            if not documents:
                copy.write_row(values(row))
                continue
            line = list(values(row))
            for i in documents:
                line[i] = _document(line[i])
            copy.write_row(line)


def _document(value: Any) -> Any:
    """A JSON column's value as JSON text: a text is JSON text already."""
    return value if value is None or type(value) is str else json_text(value)


def json_text(value: Any) -> str:
    """``value`` as JSON text for a JSON column, at a tenth of ``json.dumps``' cost."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # an integer wider than 64 bits: none today
        return json.dumps(value)
