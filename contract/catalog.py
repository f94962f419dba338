"""The public face of events: their stable type names, ids and JSON payloads. Other
services read these names on Kafka; a name never changes once published, and a change of
shape bumps the schema version.

Each event class declares its contract where it is defined, nested in its aggregate: its
CloudEvents type (``cloudevent_type``), its data fields and their types (the class's
annotated fields), and its schema version (``class_version``, 1 unless declared, with an
``upcast_v1_v2`` for the events stored before a bump). ``tests/test_event_contract.py``
pins what is published against ``tests/golden/``."""

from __future__ import annotations

import dataclasses
import typing
from datetime import date, datetime
from functools import lru_cache
from hashlib import sha1
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from ledger.money import Money
from ledger.stamp import Stamp

EVENT_ID_NAMESPACE = UUID("0b9f3c8e-3c0a-4df0-a6a4-4b0a3f1f5e11")
# Attributes of the library's event classes that are envelope, not payload.
ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "stamp"}
)


class UndeclaredEventType(TypeError):
    """An event class that declares no CloudEvents type: it cannot be published."""


def type_of(cls: type) -> str:
    """The CloudEvents type an event class declares as ``cloudevent_type``."""
    declared = getattr(cls, "cloudevent_type", None)
    if isinstance(declared, str):
        return declared
    raise UndeclaredEventType(
        f"{cls.__module__}.{cls.__qualname__} declares no cloudevent_type; an event is "
        "published only under the type its class declares"
    )


def event_type(event: DomainEventProtocol[Any]) -> str:
    """The type ``event`` is published as: the one its class declares."""
    return type_of(type(event))


def data_fields(cls: type) -> dict[str, Any]:
    """The fields an event class declares and their types, in declaration order: the
    event's ``data`` (without the envelope, which the CloudEvent carries itself)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in ENVELOPE}


def schema_version(event: DomainEventProtocol[Any]) -> int:
    return int(getattr(type(event), "class_version", 1))


def event_id(event: DomainEventProtocol[Any]) -> str:
    """A stable id: the same event gets the same id however often it is published. It is
    ``uuid5(EVENT_ID_NAMESPACE, "<originator>/<version>")``, written out from the SHA-1
    here (the relay and every catch-up make one per event; ``uuid.uuid5`` and ``str`` of
    its ``UUID`` take twice as long)."""
    return event_id_of(event.originator_id, event.originator_version)


def event_id_of(originator_id: object, originator_version: int) -> str:
    """:func:`event_id` of the event ``originator_version`` of ``originator_id``."""
    name = f"{originator_id}/{originator_version}".encode()
    digest = bytearray(sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


def account_of(event: DomainEventProtocol[Any]) -> UUID:
    """The account an event concerns (an account's own events concern itself)."""
    account_id = getattr(event, "account_id", None)
    return account_id if isinstance(account_id, UUID) else UUID(str(event.originator_id))


def recorded_at(event: DomainEventProtocol[Any]) -> datetime:
    """When the event was recorded in the store (its library timestamp)."""
    timestamp = getattr(event, "timestamp", None)
    if not isinstance(timestamp, datetime):
        raise TypeError(f"{type(event).__qualname__} carries no timestamp")
    return timestamp


def stamp_of(event: DomainEventProtocol[Any]) -> Stamp:
    stamp = getattr(event, "stamp", None)
    if not isinstance(stamp, Stamp):
        raise TypeError(f"{type(event).__qualname__} carries no stamp")
    return stamp


def to_json(value: Any) -> Any:
    """Plain JSON for event payloads: money as ``{"amount", "currency"}``, ids as strings,
    times as ISO 8601."""
    kind = type(value)
    if kind in _PLAIN:  # most of an event's fields: nothing to do
        return value
    if kind is UUID:
        return uuid_text(value)
    if isinstance(value, Money):
        return value.to_json()
    if isinstance(value, UUID):
        return uuid_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


_PLAIN = frozenset({str, int, bool, type(None)})


@lru_cache(maxsize=1 << 16)
def uuid_text(value: UUID) -> str:
    """``str(value)``, remembered: an account's or an invoice's id is written into every
    CloudEvent about it, and ``UUID.__str__`` is slow."""
    return str(value)


def payload(event: DomainEventProtocol[Any]) -> dict[str, Any]:
    """The event's own facts, without the envelope."""
    fields = {k: v for k, v in vars(event).items() if k not in ENVELOPE}
    fields["subject_id"] = event.originator_id
    return {k: to_json(v) for k, v in sorted(fields.items())}
