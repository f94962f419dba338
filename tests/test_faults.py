"""Fault injection: a consumer killed mid-stream, a batch delivered twice, a broker that
restarts empty. Each ends with the projection equal to a fold of the event store."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from consumers.topic import partition_for
from contract.cloudevents import to_cloudevent
from projections import tracking
from projections.registry import BALANCES
from projections.writer import apply_batch
from tests.book import write_book
from tests.pipeline import pipeline
from tests.support import running_workers

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _consumer_process(settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "ARLEDGER_TOPIC": settings.topic,
        "ARLEDGER_CONSUMER_GROUP": settings.consumer_group,
        "ARLEDGER_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "runtime.cli", "consume"], cwd=ROOT, env=env)


def _applied(p) -> int:
    """The projection's watermark: every event up to it is applied."""
    with p.services.pool.connection() as conn:
        return tracking.watermark(conn, BALANCES.name, p.settings.topic)


def test_a_consumer_killed_mid_stream_resumes_without_loss_or_double_counting(settings):
    with pipeline(settings, workers=False) as p, running_workers(settings, consumers=0):
        stop_writing = threading.Event()
        rng = random.Random(1)

        def keep_writing() -> None:
            while not stop_writing.is_set():
                write_book(p.services.ledger, rng, 25, 2)

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            consumer = _consumer_process(settings)
            deadline = time.monotonic() + 60
            while _applied(p) == 0:
                assert time.monotonic() < deadline, "the consumer never applied anything"
                time.sleep(0.05)
            time.sleep(0.3)
            consumer.send_signal(signal.SIGKILL)  # mid-stream: the writer is still writing
            consumer.wait(10)
            killed_at = _applied(p)
            time.sleep(0.5)
        finally:
            stop_writing.set()
            writer.join()
        assert killed_at < p.services.ledger.head_position()
        restarted = _consumer_process(settings)
        try:
            projected, folded = p.projection_equals_store()
        finally:
            restarted.terminate()
            restarted.wait(15)
        assert projected == folded


def test_a_batch_delivered_twice_changes_nothing(settings):
    with pipeline(settings) as p:
        write_book(p.services.ledger, random.Random(2), 150, 6)
        before, folded = p.projection_equals_store()
        assert before == folded

        # The relay crashed after sending but before saving its position: it sends all
        # again. The consumer sees every event a second time.
        with p.services.pool.connection() as conn:
            conn.execute("DELETE FROM relay_partitions")
            conn.execute("UPDATE relay_positions SET position = 0")
        p.wait_until_projected()
        # And a handler given the same batch directly applies none of it.
        ledger = p.services.ledger
        events = [to_cloudevent(ledger, n) for n in ledger.read_log(0, 10_000)]
        partition = partition_for(events[0]["accountid"], settings.topic_partitions)
        mine = [
            e
            for e in events
            if partition_for(e["accountid"], settings.topic_partitions) == partition
        ]
        assert apply_batch(p.services.pool, BALANCES, partition, mine) == 0
        after, folded = p.projection_equals_store()
        assert after == before == folded


def test_a_broker_that_restarts_empty_loses_nothing_and_doubles_nothing(settings, private_broker):
    settings = settings.model_copy(
        update={"kafka_bootstrap_servers": private_broker.bootstrap, "topic_repair": True}
    )
    rng = random.Random(3)
    with pipeline(settings, workers=False) as p, running_workers(settings, consumers=0):
        ledger = p.services.ledger
        with running_workers(settings, relay=False):
            write_book(ledger, rng, 120, 5)
            p.wait_until_projected()
        # Published while no consumer runs, then lost with the broker.
        write_book(ledger, rng, 120, 5)
        _wait_relayed(p)
        private_broker.restart()
        write_book(ledger, rng, 60, 3)
        with running_workers(settings, relay=False):
            projected, folded = p.projection_equals_store(timeout=90)
            assert projected == folded
            # And once more with the consumer running through the restart.
            private_broker.restart()
            write_book(ledger, rng, 80, 4)
            projected, folded = p.projection_equals_store(timeout=90)
            assert projected == folded
        assert len(folded["accounts"]) == 17


def _wait_relayed(p, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with p.services.pool.connection() as conn:
            row = conn.execute("SELECT position FROM relay_positions").fetchone()
        if row and row[0] == p.services.ledger.head_position():
            return
        assert time.monotonic() < deadline, "the relay did not publish the book"
        time.sleep(0.05)


def test_two_consumers_sharing_partitions_build_what_one_builds(settings):
    with pipeline(settings, consumers=2) as p:
        write_book(p.services.ledger, random.Random(4), 300, 10)
        projected, folded = p.projection_equals_store()
        assert projected == folded
        with p.services.pool.connection() as conn:
            partitions = conn.execute("SELECT count(*) FROM projection_positions").fetchone()
        assert partitions[0] > 1


def _relay_process(settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "ARLEDGER_TOPIC": settings.topic,
        "ARLEDGER_LOG_LEVEL": "WARNING",
        "ARLEDGER_RELAY_BATCH_SIZE": "20",
    }
    return subprocess.Popen([sys.executable, "-m", "runtime.cli", "relay"], cwd=ROOT, env=env)


def _relayed(p) -> int:
    with p.services.pool.connection() as conn:
        row = conn.execute("SELECT position FROM relay_positions").fetchone()
    return int(row[0]) if row else 0


def test_a_relay_killed_mid_stream_resumes_and_nothing_is_lost(settings):
    with pipeline(settings, workers=False) as p, running_workers(settings, relay=False):
        write_book(p.services.ledger, random.Random(5), 400, 8)
        relay = _relay_process(settings)
        deadline = time.monotonic() + 60
        while _relayed(p) == 0:
            assert time.monotonic() < deadline, "the relay never published"
            time.sleep(0.01)
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
        assert 0 < _relayed(p) < p.services.ledger.head_position(), "not killed mid-stream"
        restarted = _relay_process(settings)
        try:
            projected, folded = p.projection_equals_store()
        finally:
            restarted.terminate()
            restarted.wait(15)
        assert projected == folded
        assert _relayed(p) == p.services.ledger.head_position()


def test_healthz_is_503_while_the_broker_is_down_and_200_when_back(settings, private_broker):
    settings = settings.model_copy(update={"kafka_bootstrap_servers": private_broker.bootstrap})
    with pipeline(settings, workers=False) as p:
        assert p.api.get("/healthz").status_code == 200
        private_broker.stop()
        time.sleep(2.5)  # past the probe's cache
        down = p.api.get("/healthz")
        assert down.status_code == 503
        assert down.json()["broker"]["ok"] is False and down.json()["store"]["ok"] is True
        private_broker.start(private_broker.port)
        time.sleep(2.5)
        assert p.api.get("/healthz").status_code == 200
