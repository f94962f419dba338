"""The CloudEvent read straight from an event's stored JSON (``contract/stored.py``, the
relay's, a catch-up's and a rebuild's way) is the one the mapper's domain event makes
(``contract.cloudevents.decoded``): for one event of every type, for every event of a
mixed book, and where it cannot be sure it says so and the long way is taken."""

from __future__ import annotations

import random
from dataclasses import replace

import orjson
from eventsourcing.persistence import Notification

from contract import stored
from contract.cloudevents import SOURCE, decoded, to_cloudevent
from contract.schemas import event_classes
from ledger.application import Ledger
from tests.book import write_book
from tests.test_event_contract import POSITION, sample_event


def _notification(ledger: Ledger, cls: type) -> Notification:
    event = ledger.mapper.to_stored_event(sample_event(cls))
    return Notification(
        id=POSITION,
        originator_id=event.originator_id,
        originator_version=event.originator_version,
        topic=event.topic,
        state=event.state,
    )


def test_every_event_type_reads_the_same_from_its_stored_json() -> None:
    ledger = Ledger({})
    for cls in event_classes():
        notification = _notification(ledger, cls)
        short = stored.cloudevent(ledger.mapper, notification, SOURCE)
        assert short is not None, cls.__qualname__
        assert short == decoded(ledger, notification), cls.__qualname__
        assert orjson.dumps(short) == orjson.dumps(decoded(ledger, notification))


def test_a_mixed_book_reads_the_same_both_ways() -> None:
    ledger = Ledger({})
    write_book(ledger, random.Random(7), 600, 6)
    notifications = ledger.read_log(0, 100_000)
    assert len(notifications) > 600
    for notification in notifications:
        short = stored.cloudevent(ledger.mapper, notification, SOURCE)
        assert short is not None and short == decoded(ledger, notification), notification.id


def test_a_time_reads_as_the_long_way_writes_it() -> None:
    """A timestamp stored as ``isoformat`` wrote it is passed on as it is; any other
    way of writing a time is parsed and written again, as the long way does."""
    ledger = Ledger({})
    write_book(ledger, random.Random(9), 20, 1)
    opened = ledger.read_log(0, 1)[0]
    state = orjson.loads(opened.state)
    for text in (
        "2026-03-01T09:30:00.000001+00:00",
        "2026-03-01T09:30:00.000000+00:00",
        "2026-03-01T09:30:00+00:00",
        "2026-03-01T09:30:00.250000-00:00",
        "2026-03-01T09:30:00.250000Z",
        "2026-03-01T09:30:00.250000+01:00",
        "2026-03-01 09:30:00.250000+00:00",
        "2026-03-01T09:30:00.25+00:00",
        "2026-03-01T09:30:00.250000",
    ):
        timed = {**state, "timestamp": {"_type_": "datetime_iso", "_data_": text}}
        notification = replace(opened, state=orjson.dumps(timed))
        short = stored.cloudevent(ledger.mapper, notification, SOURCE)
        assert short is not None and short == decoded(ledger, notification), text
    bad = {
        **state,
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-02-30T09:30:00.250000+00:00"},
    }
    assert (
        stored.cloudevent(ledger.mapper, replace(opened, state=orjson.dumps(bad)), SOURCE) is None
    )


def test_what_the_short_way_cannot_be_sure_of_takes_the_long_way() -> None:
    ledger = Ledger({})
    write_book(ledger, random.Random(8), 20, 1)
    opened = ledger.read_log(0, 1)[0]
    state = orjson.loads(opened.state)
    unknown = {**state, "note": {"_type_": "decimal_str", "_data_": "1.5"}}
    older = {**state, "class_version": 0}
    odd_stamp = {**state, "stamp": "alice"}
    odd_time = {**state, "timestamp": state["timestamp"]["_data_"]}
    odd_id = {**state, "invoice_id": {"_type_": "uuid_hex", "_data_": 12}}
    odd_ids = {**state, "invoice_id": {"_type_": "uuid_hex", "_data_": ["12"]}}
    odd_money = {**state, "limit": {"_type_": "money", "_data_": {"amount": 1, "cur": "GBP"}}}
    for odd in (unknown, older, odd_stamp, odd_time, odd_id, odd_ids, odd_money):
        notification = replace(opened, state=orjson.dumps(odd))
        assert stored.cloudevent(ledger.mapper, notification, SOURCE) is None
    not_json = replace(opened, state=b"{not json")
    assert stored.cloudevent(ledger.mapper, not_json, SOURCE) is None
    assert to_cloudevent(ledger, opened) == decoded(ledger, opened)
