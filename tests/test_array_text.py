"""Arrays sent as their text input (``infra/array_text.py``) reach PostgreSQL element for
element, whatever an element holds: a key taken from a message cannot split into two, or
end the array early."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg

from infra.array_text import array_of, text_array


def test_each_element_arrives_whole_whatever_it_holds(database_url: str) -> None:
    awkward = ["a,b", 'with "quotes"', "back\\slash", "{braces}", "NULL", "", " spaced "]
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT %s::text[]", (text_array(awkward),)).fetchone()
    assert row is not None
    assert row[0] == awkward


def test_rows_written_as_arrays_arrive_as_their_columns_read_them(database_url: str) -> None:
    """A row's values of every kind a read model writes (``array_of``): none is read as
    another, and a NUL kept in JSON's escape stays in a ``json`` column."""
    moment = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
    key = uuid.uuid4()
    columns = {
        "id": ("uuid", [key, str(key), None]),
        "amount": ("numeric", [10**20, -5, None]),
        "count": ("bigint", [0, 2**62, None]),
        "on_day": ("date", [dt.date(2026, 2, 28), "2026-03-01", None]),
        "at": ("timestamptz", [moment, moment.isoformat(), None]),
        "open": ("boolean", [True, False, None]),
        "name": ("text", ['A, "B" {C}', "NULL", None]),
        "doc": ("json", [{"note": "a\x00b", "n": 1}, '{"raw": "\\u0000"}', None]),
    }
    select = ", ".join(f"unnest(%s::{kind}[])" for kind, _ in columns.values())
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT {select}", [array_of(values) for _, values in columns.values()]
        ).fetchall()
    assert rows[0] == (
        key, 10**20, 0, dt.date(2026, 2, 28), moment, True, 'A, "B" {C}',
        {"note": "a\x00b", "n": 1},
    )  # fmt: skip
    assert rows[1] == (
        key, -5, 2**62, dt.date(2026, 3, 1), moment, False, "NULL", {"raw": "\x00"},
    )  # fmt: skip
    assert rows[2] == (None,) * len(columns)
