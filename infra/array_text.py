"""Arrays sent to PostgreSQL as their text input (``{"a","b"}``), cast in the statement
(``%s::uuid[]``). psycopg's list dumper first looks through a list for the type of its
elements: for a batch's thousand keys that took longer than the statement itself."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson


def text_array(elements: Iterable[str]) -> str:
    """``elements`` as one array literal, each element quoted (so a comma, a brace or a
    quote in one stays inside it)."""
    return joined(quoted(e) for e in elements)


def joined(elements: Iterable[str]) -> str:
    """Elements already written as the array's input wants them (quoted, or numbers,
    uuids and NULL, which need no quotes) as one array literal."""
    return "{" + ",".join(elements) + "}"


def quoted(text: str) -> str:
    """An array element in double quotes, its backslashes and quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def uuid_element(value: UUID | str) -> str:
    """A uuid as an element of a ``uuid[]``: a ``UUID``'s 32 hex digits, which PostgreSQL
    reads as it reads the hyphenated form (``str`` of a ``UUID`` slices and joins its hex
    in Python, three times the cost); a text as it is."""
    return value.hex if isinstance(value, UUID) else value


def array_of(values: Iterable[Any]) -> str:
    """Python values as one array literal, each as its column reads it from text (cast
    in the statement: ``%s::date[]``): None as NULL, text, a date or time and JSON
    quoted, numbers and uuids as they are."""
    return joined(map(element, values))


def element(value: Any) -> str:
    """One value of :func:`array_of`: a dict or list as its JSON text."""
    kind = type(value)
    if kind is str:
        return quoted(value)
    if value is None:
        return "NULL"
    if kind is int or kind is Decimal:
        return str(value)
    if kind is bool:
        return "t" if value else "f"
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, date):  # a datetime too, its offset written
        return quoted(value.isoformat())
    try:
        return quoted(orjson.dumps(value).decode())
    except orjson.JSONEncodeError:  # an integer wider than 64 bits: none today
        return quoted(json.dumps(value))
