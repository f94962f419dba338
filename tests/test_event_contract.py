"""The published event contract, pinned.

* Every event type's JSON Schema, as `GET /v1/schemas/{type}` serves it, is compared with
  ``golden/event-schemas.json``.
* One event of each type, as the relay puts it on Kafka (the CloudEvent for a fixed
  sample event, with fixed ids and times), is compared with
  ``golden/published-events.json``.
* Every event class of the aggregates that declare their events names its CloudEvents
  type itself, nested in its aggregate, and that type and its fields are the golden ones.

A change to an event's shape fails here until it is made on purpose: bump the event's
schema version (``class_version``), keep an upcast (``upcast_v1_v2``) for the events
already stored, and write the golden files again with
``ARLEDGER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_event_contract.py``."""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import jsonschema
import pytest
from eventsourcing.domain import Aggregate, CanInitAggregate, event
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from hypothesis import given
from hypothesis import strategies as st

from contract import catalog
from contract.cloudevents import to_cloudevent
from contract.schemas import all_schemas, event_classes
from ledger.account import Account
from ledger.application import Ledger
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.notification import Notification as NotificationAggregate
from ledger.payment import Payment
from ledger.payment_plan import PaymentPlan
from ledger.promise import Promise
from ledger.reconciliation import Reconciliation
from ledger.stamp import Stamp
from ledger.write_off import WriteOff

GOLDEN = Path(__file__).parent / "golden" / "event-schemas.json"
GOLDEN_PUBLISHED = Path(__file__).parent / "golden" / "published-events.json"
UPDATE = os.environ.get("ARLEDGER_UPDATE_GOLDEN") == "1"
# The aggregates whose events declare their type (ledger/notification.py and
# ledger/reconciliation.py do not yet: contract/catalog.py derives theirs).
DECLARING = (
    Account,
    Invoice,
    Payment,
    PaymentPlan,
    Promise,
    WriteOff,
    NotificationAggregate,
    Reconciliation,
)


def _compare_with_golden(published: dict[str, Any], golden_file: Path) -> None:
    if UPDATE:
        golden_file.write_text(json.dumps(published, indent=1, sort_keys=True) + "\n")
    golden = json.loads(golden_file.read_text())
    added = sorted(set(published) - set(golden))
    removed = sorted(set(golden) - set(published))
    changed = sorted(t for t in set(published) & set(golden) if published[t] != golden[t])
    assert not (removed or changed), (
        f"event types removed: {removed}; changed: {changed}. A published event changes "
        "only with a new schema version and an upcast; then update the golden file."
    )
    assert not added, f"new event types {added}: add them to the golden file on purpose"


def test_the_published_event_schemas_change_only_on_purpose() -> None:
    published = json.loads(json.dumps(all_schemas(), sort_keys=True, default=str))
    _compare_with_golden(published, GOLDEN)


# --- one event of each type, as published ----------------------------------------------

_SAMPLES = UUID("5a3c1f0e-8d2b-4e6a-9c71-0b5e2d4f6a88")
ACCOUNT_ID = uuid5(_SAMPLES, "account")
STAMP = Stamp("alice", "corr-0001", "cause-0001", datetime(2024, 3, 1, 9, 30, tzinfo=UTC))
RECORDED_AT = datetime(2024, 3, 1, 9, 30, 5, 250000, tzinfo=UTC)
POSITION = 1042


def _gbp(amount_minor: int) -> Money:
    return Money(amount_minor, "GBP")


def _uuid(label: str) -> UUID:
    return uuid5(_SAMPLES, label)


# Sample values for fields whose type says less than their shape (rows, changes).
_SHAPED: dict[str, Any] = {
    "allocations": [{"invoice_id": _uuid("invoice"), "amount": _gbp(12_000)}],
    "instalments": [
        {"due_on": date(2024, 4, 1), "amount": _gbp(6_000)},
        {"due_on": date(2024, 5, 1), "amount": _gbp(6_000)},
    ],
    "periods": [
        {"from": date(2024, 2, 1), "to": date(2024, 2, 11), "days": 10, "undisputed": _gbp(9_000)}
    ],
    "invoices": [
        {
            "invoice_id": _uuid("invoice"),
            "number": "INV-0001",
            "due_on": date(2024, 1, 31),
            "days_overdue": 30,
            "outstanding": _gbp(12_000),
            "disputed": _gbp(0),
            "chased": _gbp(12_000),
            "reissue": False,
        }
    ],
    "kept_by": [
        {"payment_id": _uuid("payment"), "invoice_id": _uuid("invoice"), "amount": _gbp(6_000)}
    ],
    "changes": {"email": "accounts@example.com", "payment_terms_days": 45},
    "invoice_ids": [_uuid("invoice")],
    "recipients": [{"role": "coordinator", "to": "alice@example.com"}],
    "counts": {"matched": 3, "missing_in_ledger": 1},
    "findings": [{"kind": "missing_in_ledger", "reference": "pi_0001", "detail": ""}],
}


def _sample(name: str, annotation: Any) -> Any:
    if name in _SHAPED:
        return _SHAPED[name]
    if name == "account_id":
        return ACCOUNT_ID
    args = typing.get_args(annotation)
    if type(None) in args:  # an optional field: the sample has a value
        return _sample(name, next(a for a in args if a is not type(None)))
    if typing.get_origin(annotation) in (list, tuple):
        return []
    if typing.get_origin(annotation) is dict:
        return {}
    scalars: dict[Any, Any] = {
        str: f"{name}-1",
        int: 3,
        bool: True,
        UUID: _uuid(name),
        date: date(2024, 2, 29),
        datetime: datetime(2024, 3, 15, 12, 0, tzinfo=UTC),
        Money: _gbp(12_000),
        Stamp: STAMP,
    }
    return scalars[annotation]


def sample_event(cls: type[Aggregate.Event]) -> Aggregate.Event:
    """A fixed event of class ``cls``: every field filled, ids and times fixed."""
    aggregate = cls.__qualname__.partition(".")[0]
    fields = {name: _sample(name, t) for name, t in catalog.data_fields(cls).items()}
    envelope: dict[str, Any] = {
        "originator_id": ACCOUNT_ID if aggregate == "Account" else _uuid(aggregate),
        "originator_version": 1 if issubclass(cls, CanInitAggregate) else 2,
        "timestamp": RECORDED_AT,
        "stamp": STAMP,
    }
    if issubclass(cls, CanInitAggregate):
        envelope["originator_topic"] = get_topic(cls).rpartition(".")[0]
    return cls(**envelope, **fields)


def as_published(ledger: Ledger, domain_event: Aggregate.Event) -> dict[str, Any]:
    """The message the relay sends for ``domain_event`` stored at ``POSITION``: stored
    (transcoded) and read back from the log as the relay reads it, made a CloudEvent,
    with the ``partitionprev`` of the first message on its partition, as JSON."""
    stored = ledger.mapper.to_stored_event(domain_event)
    notification = Notification(
        id=POSITION,
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state,
    )
    message = {**to_cloudevent(ledger, notification), "partitionprev": 0}
    parsed: dict[str, Any] = json.loads(json.dumps(message, separators=(",", ":")))
    return parsed


def test_one_event_of_each_type_is_published_as_pinned() -> None:
    ledger = Ledger({})
    published = {}
    for cls in event_classes():
        message = as_published(ledger, sample_event(cls))
        published[message["type"]] = message
    _compare_with_golden(published, GOLDEN_PUBLISHED)


def test_each_pinned_event_is_valid_by_its_pinned_schema() -> None:
    """The two golden files agree: what is published is what the schemas describe."""
    schemas = json.loads(GOLDEN.read_text())
    for event_type, message in json.loads(GOLDEN_PUBLISHED.read_text()).items():
        jsonschema.Draft202012Validator(schemas[event_type]).validate(message)


# --- each event declares its contract ---------------------------------------------------


def _declaration(cls: type) -> type | None:
    """The class written in the aggregate's module that declares ``cloudevent_type``
    (the library subclasses it to attach the event to its aggregate)."""
    return next((c for c in cls.__mro__ if "cloudevent_type" in vars(c)), None)


@pytest.mark.parametrize("aggregate", DECLARING, ids=lambda a: a.__name__)
def test_every_event_declares_its_type_as_published(aggregate: type[Aggregate]) -> None:
    golden = json.loads(GOLDEN.read_text())
    events = [c for c in event_classes() if c.__qualname__.startswith(f"{aggregate.__name__}.")]
    assert events, f"{aggregate.__name__} has no events"
    for cls in events:
        declared = _declaration(cls)
        assert declared is not None, f"{cls.__qualname__} declares no cloudevent_type"
        # Nested in its aggregate under its own name: the stored topic stays the same.
        assert (declared.__module__, declared.__qualname__) == (cls.__module__, cls.__qualname__)
        assert get_topic(cls) == f"{aggregate.__module__}:{cls.__qualname__}"
        event_type = vars(declared)["cloudevent_type"]
        assert event_type == catalog.type_of(cls)
        assert event_type in golden, f"{cls.__qualname__}: {event_type} is not in the golden file"
        assert golden[event_type]["properties"]["type"]["const"] == event_type
        fields = {f.name for f in dataclasses.fields(declared)} - catalog.ENVELOPE
        data = golden[event_type]["properties"]["data"]["properties"]
        assert set(data) == fields | {"subject_id"}, f"{cls.__qualname__}: fields differ"


def test_no_two_event_classes_share_a_type() -> None:
    types = [catalog.type_of(cls) for cls in event_classes()]
    assert len(types) == len(set(types))


def test_an_event_that_declares_no_type_is_not_published() -> None:
    class Gadget(Aggregate):
        @event("Made")
        def __init__(self, name: str) -> None:
            self.name = name

    with pytest.raises(catalog.UndeclaredEventType):
        catalog.type_of(Gadget.Made)  # type: ignore[attr-defined]


@given(st.uuids(), st.integers(min_value=1, max_value=2**31))
def test_an_event_id_is_the_uuid5_of_its_stream_and_version(stream: UUID, version: int) -> None:
    """Consumers deduplicate by the CloudEvent id: it stays the RFC 4122 name-based id it
    always was, whatever the code that writes it out."""

    class Stored:
        originator_id = stream
        originator_version = version

    expected = str(uuid5(catalog.EVENT_ID_NAMESPACE, f"{stream}/{version}"))
    assert catalog.event_id(typing.cast(Any, Stored())) == expected
