"""Copying an aggregate without copying what never changes.

The unit of work hands each command its own copy of a cached aggregate (the library's
``deepcopy_from_cache``), so that a command refused half-way leaves the cache as stored.
``copy.deepcopy`` rebuilds every object it meets unless it knows the type is immutable;
it does not know that of ``UUID``, ``date`` or ``datetime``, and an account's register of
invoice ids, or an invoice's allocations, made most of a copy's cost (an invoice with 25
allocations: 362 µs, 217 µs with amounts shared, 57 µs with ids and dates shared
too). ``Money`` says so itself (``ledger/money.py``); these standard types are told to
``copy`` here (``share_immutables``, called as the unit of work is loaded), as its own
immutable types are (its ``_deepcopy_atomic``). A container holding only such values is
copied whole (an account's register of 50 invoices: 7.8 to 4.7 µs), and a frozen record
of them is shared, as the event a new aggregate has pending is (a new payment's copy:
17.6 to 4.4 µs; ``deepcopy`` rebuilt the event field by field)."""

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
    shared = _SHARED
    twin.__dict__.update(
        {n: v if type(v) in shared else _copied(v) for n, v in vars(aggregate).items()}
    )
    return twin


def _copied(value: Any) -> Any:
    kind = type(value)
    if kind in _SHARED or copy._deepcopy_dispatch.get(kind) is _ATOMIC:  # type: ignore[attr-defined]
        return value
    # A container of shared values only (an account's register of invoice ids) is copied
    # whole, without a call per value.
    if kind is dict:
        if _SHARED.issuperset(map(type, value.values())):
            return value.copy()  # keys are hashable: kept
        return {key: _copied(item) for key, item in value.items()}
    if kind is list:
        if _SHARED.issuperset(map(type, value)):
            return value.copy()
        return [_copied(item) for item in value]
    if kind is set:
        return set(value)
    if kind is tuple and _SHARED.issuperset(map(type, value)):
        return value
    if _frozen_of_shared(kind, value):
        return value
    return copy.deepcopy(value)


# Whether each type met is a frozen dataclass, found once per type.
_FROZEN: dict[type, bool] = {}


def _frozen_of_shared(kind: type, value: Any) -> bool:
    """Whether ``value`` is a frozen dataclass holding shared values only, as the events
    a new aggregate has pending are: shared as it is, as ``Money`` is."""
    frozen = _FROZEN.get(kind)
    if frozen is None:
        params = getattr(kind, "__dataclass_params__", None)
        frozen = _FROZEN[kind] = params is not None and bool(params.frozen)
    state = getattr(value, "__dict__", None)
    return frozen and state is not None and _SHARED.issuperset(map(type, state.values()))


def share_frozen(kind: type) -> type:
    """Say a frozen dataclass of values that never change may be shared by copies."""
    params = getattr(kind, "__dataclass_params__", None)
    assert is_dataclass(kind) and params is not None and params.frozen, kind
    _SHARED.add(kind)
    return kind
