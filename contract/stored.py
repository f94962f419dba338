"""A stored event's CloudEvent read straight from its stored JSON, without making the
domain event first.

The mapper's way (``ledger.decode``) builds every value of the event (money, dates,
stamps, ids) and the codec then writes each back out as JSON; for the relay, a catch-up
and a rebuild, which read the whole log, that was most of their time. Here the stored
JSON is parsed once (orjson) and each value the transcoder marked (``{"_type_": ...,
"_data_": ...}``) is written out as the codec would write the value it stands for, each
through the same parse and ``isoformat`` the long way takes (a time already as
``isoformat`` writes it is only parsed), so the result is the same dict. Anything this
cannot be sure of (a cipher or compressor, an event stored under an older schema
version, which the mapper upcasts, a marker it does not know, JSON orjson refuses)
returns ``None``: the caller takes the long way. ``tests/test_readmodel_decode.py``
holds the two ways equal for every event type and a mixed book."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import resolve_topic

from contract import catalog


class _Unsure(Exception):
    """A value the short way does not know how to write: take the long way."""


_HEX = frozenset("0123456789abcdef")


@lru_cache(maxsize=1 << 16)
def _id(data: Any) -> str:
    """A ``uuid_hex`` value, remembered: most ids are written into many events."""
    text = _text(data)
    if len(text) == 32 and _HEX.issuperset(text):  # as ``UUID.hex`` writes it
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return str(UUID(text))


@lru_cache(maxsize=1 << 16)
def _subject(number: int) -> str:
    """``str`` of the UUID whose ``int`` is ``number``: remembered by the number, which
    hashes in C, where a ``UUID`` key hashes and compares in Python."""
    h = f"{number:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _money(data: Any) -> Any:
    if type(data) is not dict or len(data) != 2:
        raise _Unsure
    amount, currency = data["amount"], data["currency"]
    if type(amount) is not int or type(currency) is not str:
        raise _Unsure
    return {"amount": amount, "currency": currency}


def _text(data: Any) -> str:
    if type(data) is not str:
        raise _Unsure
    return data


@lru_cache(maxsize=4096)
def _date(data: str) -> str:
    return date.fromisoformat(_text(data)).isoformat()


# A time as ``isoformat`` writes an aware UTC time with microseconds (how the transcoder
# writes a timestamp). Parsed, such a text is written back out as it is, unless its
# microseconds are all 0 (``isoformat`` then leaves them out), so it is not written again.
_UTC_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00")


def _time(data: Any) -> str:
    text = _text(data)
    moment = datetime.fromisoformat(text)  # fails where the long way fails
    if moment.microsecond and _UTC_ISO.fullmatch(text):
        return text
    return moment.isoformat()


# An ``effective_at`` is often the start of a day, shared by many events.
_effective_time = lru_cache(maxsize=4096)(_time)


# Each transcoding the ledger registers, as ``catalog.to_json`` writes what it decodes to.
_MARKED: dict[str, Callable[[Any], Any]] = {
    "money": _money,
    "date_iso": _date,
    "datetime_iso": _time,
    "uuid_hex": _id,
}
_SCALARS = frozenset({str, int, bool, float, type(None)})


def _plain(value: Any) -> Any:
    """``value`` as the codec writes what the transcoder would decode it to."""
    kind = type(value)
    if kind is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            write = _MARKED.get(value["_type_"])
            if write is None:
                raise _Unsure
            return write(value["_data_"])
        return {k: v if type(v) in _SCALARS else _plain(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else _plain(v) for v in value]
    return value


def _marked(value: Any, name: str) -> Any:
    """What ``value`` holds if the transcoder marked it ``name``; else unsure."""
    if type(value) is not dict or len(value) != 2 or value.get("_type_") != name:
        raise _Unsure
    return value["_data_"]


@dataclass(frozen=True)
class _Kind:
    """What the CloudEvent of an event class says of the class."""

    type: str
    version: int
    dataschema: str


@lru_cache(maxsize=1024)
def _kind(topic: str) -> _Kind | None:
    """The CloudEvents type and schema version of the class stored under ``topic``; None
    when an attribute of the class itself could stand for a field (``account_id``)."""
    cls = resolve_topic(topic)
    if getattr(cls, "account_id", None) is not None:
        return None
    kind = catalog.type_of(cls)
    return _Kind(kind, int(getattr(cls, "class_version", 1)), f"/v1/schemas/{kind}")


@lru_cache(maxsize=1024)
def _data_keys(names: tuple[str, ...]) -> tuple[str, ...]:
    """The payload's field names among a stored state's ``names``, in the order the codec
    writes them (by name), ``subject_id`` among them."""
    return tuple(sorted((frozenset(names) - catalog.ENVELOPE) | {"subject_id"}))


def cloudevent(
    mapper: Mapper[Any], notification: Notification, source: str
) -> dict[str, Any] | None:
    """The CloudEvent ``contract.cloudevents.to_cloudevent`` makes of ``notification``,
    or None where only the mapper can say."""
    if mapper.cipher is not None or mapper.compressor is not None:
        return None
    kind = _kind(notification.topic)
    if kind is None:
        return None
    try:
        state = orjson.loads(notification.state)
        if type(state) is not dict or state.pop("class_version", 1) != kind.version:
            return None
        return _envelope(notification, kind, state, source)
    except (_Unsure, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _envelope(
    notification: Notification, kind: _Kind, state: dict[str, Any], source: str
) -> dict[str, Any]:
    originator = notification.originator_id
    if type(originator) is not UUID:
        raise _Unsure
    subject = _subject(originator.int)
    stamp = _marked(state["stamp"], "stamp")
    actor, correlation, causation = stamp["actor"], stamp["correlation_id"], stamp["causation_id"]
    if type(actor) is not str or type(correlation) is not str or type(causation) is not str:
        raise _Unsure
    account = state.get("account_id")
    version = notification.originator_version
    return {
        "specversion": "1.0",
        "id": catalog.event_id_of(subject, version),
        "source": source,
        "type": kind.type,
        "subject": subject,
        "time": _time(_marked(state["timestamp"], "datetime_iso")),
        "datacontenttype": "application/json",
        "dataschema": kind.dataschema,
        "position": notification.id,
        # An ``account_id`` that is not an id: unsure, as the long way then falls back to
        # the originator (``catalog.account_of``).
        "accountid": subject if account is None else _id(_marked(account, "uuid_hex")),
        "aggregateversion": version,
        "schemaversion": kind.version,
        "actor": actor,
        "effectivetime": _effective_time(stamp["effective_at"]),
        "correlationid": correlation,
        "causationid": causation,
        "data": _payload(state, subject),
    }


def _payload(state: dict[str, Any], subject: str) -> dict[str, Any]:
    """``catalog.payload``: the fields without the envelope, the subject's id added, by name."""
    state["subject_id"] = subject  # the subject's id stands for a field of that name
    scalars = _SCALARS
    return {k: v if type(v := state[k]) in scalars else _plain(v) for k in _data_keys(tuple(state))}
