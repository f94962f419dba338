"""A JSON Schema for every event type, as published on Kafka: the CloudEvents envelope
with this ledger's extensions, and the event's own ``data``. Read from what each event
class declares (``contract/catalog.py``): its type and its fields, so a field added to an
event appears in its schema, and ``tests/test_event_contract.py`` notices."""

from __future__ import annotations

import typing
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from contract import catalog
from ledger.account import Account
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.notification import Notification
from ledger.payment import Payment
from ledger.payment_plan import PaymentPlan
from ledger.promise import Promise
from ledger.reconciliation import Reconciliation
from ledger.write_off import WriteOff

MONEY = {
    "type": "object",
    "required": ["amount", "currency"],
    "additionalProperties": False,
    "properties": {
        "amount": {"type": "integer", "description": "minor units (pence, cents, yen)"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    },
}
_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    UUID: {"type": "string", "format": "uuid"},
    date: {"type": "string", "format": "date"},
    datetime: {"type": "string", "format": "date-time"},
    Money: MONEY,
}
# Fields whose Python type says less than their shape.
_ALLOCATION_ROWS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["invoice_id", "amount"],
        "properties": {"invoice_id": {"type": "string", "format": "uuid"}, "amount": MONEY},
    },
}
_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("Payment.Allocated", "allocations"): _ALLOCATION_ROWS,
    ("Payment.Unallocated", "allocations"): _ALLOCATION_ROWS,
    ("PaymentPlan.Agreed", "instalments"): {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["due_on", "amount"],
            "properties": {"due_on": {"type": "string", "format": "date"}, "amount": MONEY},
        },
    },
    ("Invoice.LateCharged", "periods"): {
        "type": "array",
        "description": "the days charged, as spans with what was owed undisputed on each",
        "items": {
            "type": "object",
            "required": ["from", "to", "days", "undisputed"],
            "properties": {
                "from": {"type": "string", "format": "date"},
                "to": {"type": "string", "format": "date", "description": "the day after"},
                "days": {"type": "integer"},
                "undisputed": MONEY,
            },
        },
    },
    ("Account.NoticeIssued", "invoices"): {
        "type": "array",
        "description": "the invoices the notice rested on, with why each was eligible",
        "items": {
            "type": "object",
            "required": ["invoice_id", "number", "days_overdue", "outstanding", "chased"],
            "properties": {
                "invoice_id": {"type": "string", "format": "uuid"},
                "number": {"type": "string"},
                "due_on": {"type": "string", "format": "date"},
                "days_overdue": {"type": "integer"},
                "outstanding": MONEY,
                "disputed": MONEY,
                "chased": MONEY,
                "reissue": {"type": "boolean"},
            },
        },
    },
}
_LIBRARY_BASES = {"Event", "Created", "Snapshot"}  # the library's own, never stored as such
_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}


def event_classes() -> list[type[Aggregate.Event]]:
    """Every event class of every aggregate, in a stable order."""
    found = []
    aggregates = (Account, Invoice, Payment, WriteOff, Promise, PaymentPlan, Reconciliation)
    for aggregate in (*aggregates, Notification):
        for value in vars(aggregate).values():
            if (
                isinstance(value, type)
                and issubclass(value, Aggregate.Event)
                and value.__name__ not in _LIBRARY_BASES
            ):
                found.append(value)
    return sorted(found, key=lambda cls: cls.__qualname__)


def type_name(cls: type[Aggregate.Event]) -> str:
    """The CloudEvents type ``cls`` declares."""
    return catalog.type_of(cls)


def _field_schema(owner: str, name: str, annotation: Any) -> dict[str, Any]:
    if (owner, name) in _OVERRIDES:
        return _OVERRIDES[(owner, name)]
    args = typing.get_args(annotation)
    if type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return {"anyOf": [_field_schema(owner, name, inner), {"type": "null"}]}
    if typing.get_origin(annotation) in (list, tuple):
        return {"type": "array"}
    return _SCALARS.get(annotation, {})


def data_schema(cls: type[Aggregate.Event]) -> dict[str, Any]:
    fields = catalog.data_fields(cls)
    properties = {n: _field_schema(cls.__qualname__, n, t) for n, t in fields.items()}
    properties["subject_id"] = {
        "type": "string",
        "format": "uuid",
        "description": "the aggregate the event belongs to",
    }
    return {"type": "object", "required": sorted(properties), "properties": properties}


def cloudevent_schema(cls: type[Aggregate.Event]) -> dict[str, Any]:
    """The whole message as it appears on the topic and in an account's history."""
    name = type_name(cls)
    time = {"type": "string", "format": "date-time"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"/v1/schemas/{name}",
        "title": name,
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "position",
            "accountid",
            "actor",
            "effectivetime",
            "data",
        ],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": _STRING,
            "source": _STRING,
            "type": {"const": name},
            "subject": _STRING,
            "time": time,
            "datacontenttype": {"const": "application/json"},
            "dataschema": _STRING,
            "position": _INTEGER,
            "accountid": _STRING,
            "aggregateversion": _INTEGER,
            "schemaversion": _INTEGER,
            "actor": _STRING,
            "effectivetime": time,
            "correlationid": _STRING,
            "causationid": _STRING,
            "partitionprev": _INTEGER,
            "data": data_schema(cls),
        },
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    return {type_name(cls): cloudevent_schema(cls) for cls in event_classes()}
