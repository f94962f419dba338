"""The store's recorder reads the notification log its lighter way (``infra/log_read.py``)
and returns what the library's own read returns: the same notifications, each value of
the same type, for every page a reader asks for."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder

from infra.database import eventstore_env
from infra.recorder import MarkingRecorder
from ledger.application import Ledger
from tests.book import write_book


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    ledger = Ledger(eventstore_env(database_url, pool_size=2))
    write_book(ledger, random.Random(11), 150, 4)
    yield ledger
    ledger.close()


def _typed(notifications: Sequence[Notification]) -> list[tuple[object, ...]]:
    """Each notification's values with their types: ``==`` alone takes a memoryview for
    the bytes it holds."""
    return [
        tuple((type(v), v) for v in (n.id, n.originator_id, n.originator_version, n.topic, n.state))
        for n in notifications
    ]


def test_every_page_of_the_log_is_the_librarys(ledger: Ledger) -> None:
    recorder = ledger.recorder
    assert isinstance(recorder, MarkingRecorder)
    library = PostgresApplicationRecorder.select_notifications
    head = ledger.head_position()
    assert head > 150
    pages = [
        (0, 100_000, None, False),
        (None, 100_000, None, True),
        (1, 37, None, True),
        (1, 37, None, False),
        (head - 5, 10, None, False),
        (head, 10, None, False),
        (10, 1_000, 90, True),
        (None, 20, 60, True),
        (40, 5, 20, False),
    ]
    for start, limit, stop, inclusive in pages:
        light = recorder.select_notifications(start, limit, stop, inclusive_of_start=inclusive)
        same = library(recorder, start, limit, stop, inclusive_of_start=inclusive)
        assert _typed(light) == _typed(same), (start, limit, stop, inclusive)
    assert len(recorder.select_notifications(0, 100_000)) == head


def test_read_log_and_a_read_by_topic_are_the_librarys(ledger: Ledger) -> None:
    recorder = ledger.recorder
    library = PostgresApplicationRecorder.select_notifications
    after = 0
    while page := ledger.read_log(after, 64):
        assert _typed(page) == _typed(library(recorder, after, 64, inclusive_of_start=False))
        after = page[-1].id
    assert after == ledger.head_position()
    topics = sorted({n.topic for n in ledger.read_log(0, 100)})[:2]
    by_topic = recorder.select_notifications(0, 1_000, topics=topics)
    assert by_topic and {n.topic for n in by_topic} <= set(topics)
    assert _typed(by_topic) == _typed(library(recorder, 0, 1_000, topics=topics))
