"""The throughput suite's pipeline rows (see ``benchmarks/suite.py``): the relay
publishing the store, a consumer applying it from the broker, and a rebuild from the
store, each timed over the whole book."""

from __future__ import annotations

import sys
import time
from typing import Any

from kafka import TopicPartition

from benchmarks import references as ref
from consumers.rebuild import rebuild
from projections import tracking
from projections.registry import BALANCES
from runtime.composition import Root
from runtime.progress import ProgressBar


def relay_store(root: Root, head: int) -> ref.Timed:
    """The relay's own batches until the store is published; the first is warm-up."""
    bar = ProgressBar("relay, store to Kafka", sys.stderr)
    with root.relay() as relay:
        try:
            first = done = relay.publish_batch()
            started = time.perf_counter()
            while done < head:
                done += relay.publish_batch()
                bar.update(done, head)
            took = time.perf_counter() - started
        finally:
            relay.close()
    bar.finish()
    return ref.Timed(done - first, took)


def consumer_balances(root: Root, head: int) -> ref.Timed:
    settings = root.settings
    group = f"{settings.consumer_group}.{BALANCES.name}"
    with root.consumer(BALANCES.name, "suite-balances") as runner:
        consumer = ref.kafka_consumer(
            settings.kafka_bootstrap_servers or "", settings.topic, settings.topic_partitions, group
        )

        def handle(records: dict[TopicPartition, list[Any]]) -> int:
            runner._apply(consumer, records)
            runner._commit(consumer)
            return sum(len(messages) for messages in records.values())

        try:
            timed = ref.consume_loop("consumer 'balances'", consumer, head, handle)
        finally:
            consumer.close()
        with runner.pool.connection() as conn:
            reached = tracking.watermark(conn, BALANCES.name, settings.topic)
    if reached < head:
        raise RuntimeError(f"the consumer reached {reached}, not the head {head}")
    return timed


def rebuild_balances(root: Root, head: int) -> ref.Timed:
    bar = ProgressBar("rebuild of 'balances'", sys.stderr)
    with root.replay(BALANCES) as store:
        started = time.perf_counter()
        applied = rebuild(
            store.ledger,
            store.pool,
            root.database_url,
            BALANCES,
            root.settings.topic_partitions,
            progress=bar.update,
        )
        took = time.perf_counter() - started
    bar.finish()
    if applied < head:
        raise RuntimeError(f"the rebuild applied {applied} events of {head}")
    return ref.Timed(applied, took)
