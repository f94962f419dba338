"""A read model's rows as a batch of events sees them: the rows the batch touches are
read in one statement per table, changed in memory by the handlers, and written back in
one statement per table (the new rows inserted, the changed ones updated), instead of a
statement per event and row. The handlers stay small functions of a row and an event."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from psycopg import Connection, Cursor

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

    @property
    def key(self) -> str:
        return next(iter(self.columns))

    def select(self) -> str:
        return (
            f"SELECT {', '.join(self.columns)} FROM {self.name}"
            f" WHERE {self.key} = ANY(%b::{self.columns[self.key]}[])"
        )

    def insert(self, conflict: str = "") -> str:
        arrays = ", ".join(f"%b::{t}[]" for t in self.columns.values())
        return (
            f"INSERT INTO {self.name} ({', '.join(self.columns)})"
            f" SELECT * FROM unnest({arrays}) {conflict}"
        )

    def update(self) -> str:
        names = [self.key, *self.changing]
        arrays = ", ".join(f"%b::{self.columns[n]}[]" for n in names)
        sets = ", ".join(f"{n} = m.{n}" for n in self.changing)
        return (
            f"UPDATE {self.name} AS t SET {sets} FROM unnest({arrays}) AS m({', '.join(names)})"
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
            self._cursor.execute(self.table.select(), (wanted,))

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

    def has(self, key: Any) -> bool:
        return key in self.rows

    def add(self, key: Any, values: Row) -> Row:
        row = {**self.table.defaults, **values, self.table.key: key}
        self.rows[key] = row
        self._new.add(key)
        return row

    def write(self, conn: Connection[Any], conflict: str = "") -> None:
        """Insert the new rows and update the changed ones, a statement each."""
        table = self.table
        if self._new:
            new = [self.rows[k] for k in sorted(self._new)]
            conn.execute(table.insert(conflict), [[r.get(c) for r in new] for c in table.columns])
        changed = sorted(self._changed - self._new)
        if changed and table.changing:
            rows = [self.rows[k] for k in changed]
            conn.execute(
                table.update(),
                [changed, *([r[c] for r in rows] for c in table.changing)],
            )
        self._new.clear()
        self._changed.clear()


def json_text(value: Any) -> str:
    """``value`` as JSON text for a ``jsonb`` column, at a tenth of ``json.dumps``' cost."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # an integer wider than 64 bits: none today
        return json.dumps(value)
