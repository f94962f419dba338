"""Field types for what the API takes in, strict where it is money or time.

- ``Day``: an ISO date, ``YYYY-MM-DD`` and nothing else (no time part, no number of
  seconds), between ``BUSINESS_YEAR_MIN`` and ``BUSINESS_YEAR_MAX``;
- ``Moment``: an ISO 8601 date and time (a date alone is refused), UTC when no offset is
  given, in the same years once turned to UTC;
- ``Position``: a store position or page cursor that fits PostgreSQL's bigint;
- ``Count``: an integer sent as a JSON integer, not ``30.0`` or ``"30"``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, Strict

from ledger import limits

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")
_WINDOW = f"between {limits.BUSINESS_YEAR_MIN} and {limits.BUSINESS_YEAR_MAX}"


def _in_window(year: int, shown: str) -> None:
    if not limits.BUSINESS_YEAR_MIN <= year <= limits.BUSINESS_YEAR_MAX:
        raise ValueError(f"{shown} is outside the years the ledger takes ({_WINDOW})")


def parse_day(value: Any) -> date:
    """An ISO date in the business window; anything else is a ValueError saying why."""
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a calendar date") from None
    else:
        raise ValueError(f"a date must be an ISO date such as 2026-11-30; got {value!r}")
    _in_window(day.year, day.isoformat())
    return day


def parse_moment(value: Any) -> datetime:
    """An ISO 8601 date and time (UTC unless it says otherwise) in the business window."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and _ISO_MOMENT.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
    else:
        raise ValueError(
            f"a time must be an ISO 8601 date and time such as 2026-11-30T09:00:00Z; got {value!r}"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is outside the years the ledger takes ({_WINDOW})") from None
    _in_window(in_utc.year, in_utc.isoformat())
    return in_utc


Day = Annotated[date, BeforeValidator(parse_day)]
Moment = Annotated[datetime, BeforeValidator(parse_moment)]
Position = Annotated[int, Field(ge=0, le=limits.POSITION_MAX)]
Count = Annotated[int, Strict()]
