"""Copying an aggregate without copying what never changes.

The unit of work hands each command its own copy of a cached aggregate (the library's
``deepcopy_from_cache``), so that a command refused half-way leaves the cache as stored.
``copy.deepcopy`` rebuilds every object it meets unless it knows the type is immutable;
it does not know that of ``UUID``, ``date`` or ``datetime``, and an account's register of
invoice ids, or an invoice's allocations, made most of a copy's cost (an invoice with 25
allocations: 362 µs, 217 µs with amounts shared, 57 µs with ids and dates shared
too). ``Money`` says so itself (``ledger/money.py``); these standard types are told to
``copy`` here (``share_immutables``, called as the unit of work is loaded), as its own
immutable types are (its ``_deepcopy_atomic``)."""

from __future__ import annotations

import copy
from datetime import date, datetime, time, timedelta
from uuid import UUID

IMMUTABLE = (UUID, date, datetime, time, timedelta)


def share_immutables() -> None:
    """Let ``copy.deepcopy`` return these types' values as they are."""
    dispatch = copy._deepcopy_dispatch  # type: ignore[attr-defined]  # copy's own table
    atomic = copy._deepcopy_atomic  # type: ignore[attr-defined]
    for kind in IMMUTABLE:
        dispatch.setdefault(kind, atomic)
