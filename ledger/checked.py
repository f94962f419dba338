"""The checks every command makes of its own fields, whichever door it came through."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any

from ledger import limits
from ledger.errors import BadDates, InvalidRequest
from ledger.text import forbidden_character


class Checked:
    """Every command checks, whichever door it came through (the API, Stripe, a bank
    statement, the scheduler), that no text field holds a control character and that
    every date lies in the business years: such a value would be stored for good and
    then break the read models and every reader of the log."""

    def __post_init__(self) -> None:
        for name in _field_names(type(self)):
            _check_field(name, getattr(self, name))


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    """A command class's field names, found once: ``dataclasses.fields`` looks through
    the class's fields again on every call, and every command makes one."""
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    return names


def _check_field(name: str, value: Any) -> None:
    if isinstance(value, str):
        bad = forbidden_character(value)
        if bad is not None:
            raise InvalidRequest(f"{name} holds a control character ({bad}); remove it")
    elif isinstance(value, date):  # a datetime is a date too
        if not limits.BUSINESS_YEAR_MIN <= value.year <= limits.BUSINESS_YEAR_MAX:
            raise BadDates(
                f"{name} {value.isoformat()} is outside the years the ledger takes "
                f"({limits.BUSINESS_YEAR_MIN} to {limits.BUSINESS_YEAR_MAX})"
            )
    elif isinstance(value, tuple | list):
        for item in value:
            _check_field(name, item)
