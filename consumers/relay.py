"""The relay: publishes the store's notification log to Kafka, in order, at least once.

Transactional-outbox style: the store is the outbox. The relay reads events after its
last acknowledged position, sends them (idempotent producer, ``acks=all``, keyed by
account so that one account's events stay in order), waits for every acknowledgement,
and only then records the new position in PostgreSQL. A crash between the two repeats a
batch on Kafka; consumers drop the repeats by position.

Each message also carries ``partitionprev``: the position of the previous event the relay
published to the same partition. A consumer that sees a ``partitionprev`` above what it
has applied knows the broker lost messages, and catches up from the store.

The relay reads its positions before each batch (one round trip: a person may have set
them back, to send again), and saves a batch's in one round trip, only the partitions the
batch moved. After a batch shorter than a full one it sleeps until a commit's NOTIFY (or a
second), rather than reading an empty log first: under a steady trickle of commands that
halves its reads.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaError
from psycopg import sql
from psycopg_pool import ConnectionPool

from consumers.topic import TopicMismatch, ensure_topic, partition_for
from contract.cloudevents import CONTENT_TYPE, to_cloudevent
from infra.integrity import checkpoints
from infra.integrity.service import Integrity
from infra.settings import Settings
from ledger.application import Ledger
from projections import tracking

log = logging.getLogger("arledger.relay")

# A batch not acknowledged within this is abandoned and sent again by a fresh producer
# (at least once; consumers drop repeats). Kept short: after a broker restart the old
# producer's session is unknown to the broker and its retries would otherwise go on.
SEND_TIMEOUT_SECONDS = 6
IDLE_WAIT_SECONDS = 1.0
STANDBY_POLL_SECONDS = 2.0


class Relay:
    """Publishes new events from the store to the topic, resuming where it left off."""

    def __init__(self, settings: Settings, ledger: Ledger, pool: ConnectionPool) -> None:
        assert settings.kafka_bootstrap_servers and settings.database_url
        self.settings = settings
        self.ledger = ledger
        self.pool = pool
        self.name = settings.topic
        self._producer: KafkaProducer | None = None
        self.integrity = Integrity.from_settings(settings, ledger.events_table)
        self._checkpointed = 0  # the latest checkpoint's position, as last seen
        tracking.ensure_schema(pool)

    # --- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set; sleep on the store's NOTIFY channel when idle."""
        log.info("relay started", extra={"topic": self.name})
        with psycopg.connect(self.settings.database_url or "", autocommit=True) as listener:
            if not self._become_the_only_relay(listener, stop):
                return
            channel = sql.Identifier(self.ledger.notify_channel())
            listener.execute(sql.SQL("LISTEN {}").format(channel))
            backoff = 0.1
            while not stop.is_set():
                try:
                    published = self.publish_batch()
                    backoff = 0.1
                except (KafkaError, TopicMismatch) as e:
                    log.warning("publish failed; retrying", extra={"error": repr(e)})
                    self._reset_producer()
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if published < self.settings.relay_batch_size:
                    _wait_for_commits(listener)
        self.close()
        log.info("relay stopped", extra={"topic": self.name})

    def _become_the_only_relay(self, conn: psycopg.Connection[Any], stop: threading.Event) -> bool:
        """One relay per topic publishes; another one started stands by until the first
        one's session ends. Two relays would interleave batches and break the
        ``partitionprev`` chain. The lock is the session's: a crashed relay frees it."""
        announced = False
        while not stop.is_set():
            row = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext('arledger.relay'), hashtext(%s))",
                (self.name,),
            ).fetchone()
            if row and row[0]:
                return True
            if not announced:
                log.info("another relay is publishing; standing by", extra={"topic": self.name})
                announced = True
            stop.wait(STANDBY_POLL_SECONDS)
        return False

    def publish_batch(self) -> int:
        """Publish the next batch of events; return how many were published."""
        position, saved = self._load_state()
        notifications = self.ledger.read_log(position, self.settings.relay_batch_size)
        if not notifications:
            return 0
        prev_by_partition = dict(saved)
        producer = self._producer_or_new()
        self._check_partitions(producer)
        futures = []
        for notification in notifications:
            event = to_cloudevent(self.ledger, notification)
            partition = partition_for(event["accountid"], self.settings.topic_partitions)
            event["partitionprev"] = prev_by_partition.get(partition, 0)
            prev_by_partition[partition] = notification.id
            futures.append(self._send(producer, event, partition))
        deadline = time.monotonic() + SEND_TIMEOUT_SECONDS
        producer.flush(timeout=SEND_TIMEOUT_SECONDS)
        for future in futures:  # raises if any send failed or is still unacknowledged
            future.get(timeout=max(0.0, deadline - time.monotonic()))
        self._save_state(notifications[-1].id, prev_by_partition, saved)
        self._checkpoint_if_due(notifications[-1].id)
        log.debug("published", extra={"count": len(notifications), "to": notifications[-1].id})
        return len(notifications)

    def _checkpoint_if_due(self, head: int) -> None:
        # Checkpoints only move on, whoever makes them (the API and the CLI may too): one
        # not due after the latest this relay saw is not due after any later one either.
        if head - self._checkpointed < self.integrity.interval:
            return
        # A checkpoint that fails is retried after the next batch; publishing goes on.
        try:
            with self.pool.connection() as conn:
                self.integrity.checkpoint_if_due(conn, head)
                latest = checkpoints.latest(conn)
            self._checkpointed = latest.position if latest is not None else 0
        except psycopg.Error as e:
            log.warning("checkpoint failed; will retry", extra={"error": repr(e)})

    def _check_partitions(self, producer: KafkaProducer) -> None:
        """A broker that restarted empty may have re-made the topic with other partitions
        (the embedded one does so for any client that asks about it). Sending there would
        block until a timeout; find out from the producer's metadata first."""
        known = producer.partitions_for(self.name)
        if known is None or len(known) != self.settings.topic_partitions:
            raise TopicMismatch(
                f"topic {self.name} has {len(known or ())} partitions on the broker; "
                f"expected {self.settings.topic_partitions}"
            )

    def _send(self, producer: KafkaProducer, event: dict[str, Any], partition: int) -> Any:
        return producer.send(
            self.name,
            key=event["accountid"].encode(),
            value=json.dumps(event, separators=(",", ":")).encode(),
            partition=partition,
            headers=[("content-type", CONTENT_TYPE.encode())],
        )

    # --- state in PostgreSQL ----------------------------------------------------------

    def _load_state(self) -> tuple[int, dict[int, int]]:
        """The relay's position and each partition's last, in one round trip."""
        with self.pool.connection() as conn, conn.pipeline():
            position = conn.execute(
                "SELECT position FROM relay_positions WHERE relay = %s", (self.name,)
            )
            partitions = conn.execute(
                "SELECT partition, position FROM relay_partitions WHERE relay = %s",
                (self.name,),
            )
            row, prev = position.fetchone(), partitions.fetchall()
        return (row[0] if row else 0), {p: pos for p, pos in prev}

    def _save_state(
        self, position: int, prev_by_partition: dict[int, int], saved: dict[int, int]
    ) -> None:
        """Save the relay's position and the partitions the batch moved (from ``saved``),
        together, in one round trip."""
        moved = {p: pos for p, pos in prev_by_partition.items() if saved.get(p) != pos}
        with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            conn.execute(
                "INSERT INTO relay_positions (relay, position) VALUES (%s, %s) "
                "ON CONFLICT (relay) DO UPDATE SET position = EXCLUDED.position",
                (self.name, position),
            )
            conn.execute(
                "INSERT INTO relay_partitions (relay, partition, position)"
                " SELECT %s, m.partition, m.position"
                " FROM unnest(%s::int[], %s::bigint[]) AS m(partition, position)"
                " ON CONFLICT (relay, partition) DO UPDATE SET position = EXCLUDED.position",
                (self.name, list(moved), list(moved.values())),
            )

    # --- Kafka ------------------------------------------------------------------------

    def _producer_or_new(self) -> KafkaProducer:
        if self._producer is None:
            bootstrap = self.settings.kafka_bootstrap_servers or ""
            ensure_topic(
                bootstrap,
                self.name,
                self.settings.topic_partitions,
                repair=self.settings.topic_repair,
            )
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                client_id="arledger-relay",
                acks="all",
                enable_idempotence=True,
                max_in_flight_requests_per_connection=5,
                linger_ms=2,
                retries=2**31 - 1,
                delivery_timeout_ms=SEND_TIMEOUT_SECONDS * 1000,
                request_timeout_ms=(SEND_TIMEOUT_SECONDS - 1) * 1000,
                max_block_ms=5_000,
                allow_auto_create_topics=False,
            )
        return self._producer

    def _reset_producer(self) -> None:
        """Drop the producer so that the next batch re-checks the topic (a restarted
        in-memory broker has none) and starts a fresh idempotent session."""
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except KafkaError as e:
                log.warning("closing producer failed", extra={"error": repr(e)})
            self._producer = None
        time.sleep(0.05)

    def close(self) -> None:
        self._reset_producer()


def _wait_for_commits(listener: psycopg.Connection[Any]) -> None:
    """Sleep until the store's NOTIFY says something was committed, or for
    ``IDLE_WAIT_SECONDS``; then take every other NOTIFY already here, each for a commit
    that the next read sees, so that none of them wakes the relay to read nothing."""
    for _ in listener.notifies(timeout=IDLE_WAIT_SECONDS, stop_after=1):
        pass
    for _ in listener.notifies(timeout=0):
        pass
