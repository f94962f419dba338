"""The relay: publishes the store's notification log to Kafka, in order, at least once.

Transactional-outbox style: the store is the outbox. The relay reads events after its
last acknowledged position, sends them (idempotent producer, ``acks=all``, keyed by
account so that one account's events stay in order), waits for every acknowledgement,
and only then records the new position in PostgreSQL. A crash between the two repeats a
batch on Kafka; consumers drop the repeats by position.

Each message also carries ``partitionprev``: the position of the previous event the relay
published to the same partition. A consumer that sees a ``partitionprev`` above what it
has applied knows the broker lost messages, and catches up from the store.
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
                if published == 0:
                    for _ in listener.notifies(timeout=IDLE_WAIT_SECONDS, stop_after=1):
                        pass
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
        position, prev_by_partition = self._load_state()
        notifications = self.ledger.read_log(position, self.settings.relay_batch_size)
        if not notifications:
            return 0
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
        self._save_state(notifications[-1].id, prev_by_partition)
        self._checkpoint_if_due(notifications[-1].id)
        log.debug("published", extra={"count": len(notifications), "to": notifications[-1].id})
        return len(notifications)

    def _checkpoint_if_due(self, head: int) -> None:
        # A checkpoint that fails is retried after the next batch; publishing goes on.
        try:
            with self.pool.connection() as conn:
                self.integrity.checkpoint_if_due(conn, head)
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
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT position FROM relay_positions WHERE relay = %s", (self.name,)
            ).fetchone()
            prev = conn.execute(
                "SELECT partition, position FROM relay_partitions WHERE relay = %s",
                (self.name,),
            ).fetchall()
        return (row[0] if row else 0), {p: pos for p, pos in prev}

    def _save_state(self, position: int, prev_by_partition: dict[int, int]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO relay_positions (relay, position) VALUES (%s, %s) "
                "ON CONFLICT (relay) DO UPDATE SET position = EXCLUDED.position",
                (self.name, position),
            )
            conn.cursor().executemany(
                "INSERT INTO relay_partitions (relay, partition, position) VALUES (%s, %s, %s) "
                "ON CONFLICT (relay, partition) DO UPDATE SET position = EXCLUDED.position",
                [(self.name, p, pos) for p, pos in prev_by_partition.items()],
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
