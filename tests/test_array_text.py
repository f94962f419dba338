"""Arrays sent as their text input (``infra/array_text.py``) reach PostgreSQL element for
element, whatever an element holds: a key taken from a message cannot split into two, or
end the array early."""

from __future__ import annotations

import psycopg

from infra.array_text import text_array


def test_each_element_arrives_whole_whatever_it_holds(database_url: str) -> None:
    awkward = ["a,b", 'with "quotes"', "back\\slash", "{braces}", "NULL", "", " spaced "]
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT %s::text[]", (text_array(awkward),)).fetchone()
    assert row is not None
    assert row[0] == awkward
