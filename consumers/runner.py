"""The consumer runner: a member of a Kafka consumer group that feeds one projection.

Offsets are committed to Kafka only after the rows and positions are committed to
PostgreSQL; the database positions, not the offsets, decide what is applied, so a
redelivered message changes nothing and a crash mid-batch loses nothing."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from psycopg_pool import ConnectionPool

from consumers import liveness
from consumers.catchup import catch_up, retry_held
from consumers.topic import ensure_topic
from infra.settings import Settings
from ledger.application import Ledger
from projections import tracking
from projections.writer import GapDetected, Projection, apply_batch, apply_together

log = logging.getLogger("arledger.consumer")

POLL_TIMEOUT_MS = 200
POLL_RECORDS_MAX = 1_000  # a batch must finish well within max_poll_interval_ms
# How long a partition may sit behind the relay with no message arriving before the
# consumer stops waiting for Kafka and reads the missing events from the store.
STALL_SECONDS = 2.0
STALL_CHECK_SECONDS = 0.5
LAG_LOG_SECONDS = 30.0  # how often a consumer logs how far behind the relay it is
# How often a member tells the broker how far it has read. The offsets decide only where
# a member starts reading after a restart or a rebalance (the positions in PostgreSQL
# decide what is applied), so a commit after every poll (dozens a second for each read
# model under a steady trickle of commands) bought nothing but the broker's work and the
# client's. A member that takes a partition over reads at most this much again, and
# skips it by the positions.
OFFSET_COMMIT_SECONDS = 1.0
OFFSET_COMMIT_AT_STOP_MS = 2_000


Records = dict[TopicPartition, list[Any]]
Gap = tuple[GapDetected, list[dict[str, Any]]]


def _decoded(records: Records) -> dict[int, list[dict[str, Any]]]:
    """A poll's CloudEvents by partition; a message that is not one is logged and left."""
    by_partition: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for tp, messages in records.items():
        for message in messages:
            try:
                by_partition[tp.partition].append(orjson.loads(message.value))
            except (orjson.JSONDecodeError, TypeError):
                log.error(
                    "skipping a message that is not a CloudEvent",
                    extra={"partition": tp.partition, "offset": message.offset},
                )
    return by_partition


def _commit_answered(offsets: object, answer: object) -> None:
    """The broker's answer to an offset commit, read on a later poll: a failure is harmless
    (positions live in PostgreSQL; the next owner skips what is applied)."""
    if isinstance(answer, Exception):
        log.info("offset commit failed", extra={"error": repr(answer)})


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    """Remembers newly assigned partitions (each is checked against the store) and
    which partitions this member holds (its heartbeat says so, for ``/readyz``)."""

    def __init__(self) -> None:
        self.unchecked: set[int] = set()
        self.held: set[int] = set()
        self.joined = False  # assigned partitions once: the member's group has formed

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.unchecked -= {tp.partition for tp in revoked}
        self.held -= {tp.partition for tp in revoked}
        liveness.poke()

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.unchecked |= {tp.partition for tp in assigned}
        self.held |= {tp.partition for tp in assigned}
        self.joined = True
        liveness.poke()
        log.info("partitions assigned", extra={"partitions": sorted(self.unchecked)})


class ProjectionConsumer:
    """Runs one projection from the topic until stopped."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        pool: ConnectionPool,
        projection: Projection,
        *,
        client_id: str = "arledger-consumer",
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.pool = pool
        self.projection = projection
        self.client_id = client_id
        self.assignments = _Assignments()
        self._behind_since: dict[int, tuple[int, float]] = {}
        self._next_stall_check = 0.0
        self._next_lag_log = 0.0
        self._next_commit = 0.0
        self._uncommitted = False  # read messages whose offsets the broker was not told
        projection.ensure_schema(pool)

    def run(self, stop: threading.Event) -> None:
        bootstrap = self.settings.kafka_bootstrap_servers or ""
        ensure_topic(
            bootstrap,
            self.settings.topic,
            self.settings.topic_partitions,
            repair=self.settings.topic_repair,
        )
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=f"{self.settings.consumer_group}.{self.projection.name}",
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=self.settings.consumer_max_poll_interval_ms,
            session_timeout_ms=self.settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=1_000,
            fetch_max_wait_ms=self.settings.consumer_fetch_wait_ms,
            allow_auto_create_topics=False,  # the relay creates it, with 6 partitions
            metadata_max_age_ms=5_000,  # notice a topic made again soon
        )
        retry_held(self.ledger, self.pool, self.projection)
        consumer.subscribe([self.settings.topic], listener=self.assignments)
        log.info("consumer started", extra={"projection": self.projection.name})
        try:
            while not stop.is_set():
                self._step(consumer)
            if self._uncommitted:
                self._commit_at_stop(consumer)
        finally:
            consumer.close(autocommit=False)
            log.info("consumer stopped", extra={"projection": self.projection.name})

    def _step(self, consumer: KafkaConsumer) -> None:
        records: dict[TopicPartition, list[Any]] = {}
        try:
            records = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=POLL_RECORDS_MAX)
        except KafkaError as e:
            log.warning("poll failed", extra={"error": repr(e)})
            time.sleep(0.5)
        if self.assignments.unchecked:
            self._catch_up(consumer, set(self.assignments.unchecked))
            self.assignments.unchecked.clear()
        if records:
            self._apply(consumer, records)
            self._uncommitted = True
        if self._uncommitted and time.monotonic() >= self._next_commit:
            self._next_commit = time.monotonic() + OFFSET_COMMIT_SECONDS
            self._uncommitted = False
            self._commit(consumer)
        # Whether or not Kafka delivers (a broker that lost its log may keep failing the
        # fetches of a remade topic), the store is read for partitions left behind.
        if time.monotonic() >= self._next_stall_check:
            self._next_stall_check = time.monotonic() + STALL_CHECK_SECONDS
            self._catch_up_stalled(consumer)

    def _apply(self, consumer: KafkaConsumer, records: Records) -> None:
        """Apply a poll's records; catch up from the store a partition in which an event
        says an earlier one never arrived, then apply its events.

        On this thread, not overlapped with the next poll: a writer thread was tried, and
        the round trips of each thread then waited on the other's hold of the GIL (the
        consumer was twice as slow). Tried again with a 1 ms switch interval and the
        collector set (``infra/collector.py``): 19.9-21.3k events/s against 20.9-22.3k on
        this thread; the two halves are Python, and the GIL runs them one at a time."""
        for gap, events in self._write(records):
            self._after_gap(consumer, gap, events)

    def _write(self, records: Records) -> list[Gap]:
        """Decode and apply a poll's records: every partition's in one transaction, or
        else each partition's in its own. Returns the partitions in which an event says an
        earlier one never arrived, with their events, none of them applied."""
        by_partition = _decoded(records)
        if not by_partition or apply_together(self.pool, self.projection, by_partition) is not None:
            return []
        gaps = []
        for partition, events in by_partition.items():
            try:
                apply_batch(self.pool, self.projection, partition, events)
            except GapDetected as gap:
                gaps.append((gap, events))
        return gaps

    def _after_gap(
        self, consumer: KafkaConsumer, gap: GapDetected, events: list[dict[str, Any]]
    ) -> None:
        log.warning(
            "the broker lost events; reading them from the store",
            extra={"partition": gap.partition, "detail": str(gap)},
        )
        self._catch_up(consumer, {gap.partition})
        apply_batch(self.pool, self.projection, gap.partition, events)

    def _commit(self, consumer: KafkaConsumer) -> None:
        """Commit the offsets read so far (every ``OFFSET_COMMIT_SECONDS``) without
        waiting for the broker's answer (a round trip of 2-3 ms): the positions in
        PostgreSQL decide what is applied, the offsets only where a member starts
        reading, so a commit lost is a redelivery the positions skip."""
        try:
            consumer.commit_async(callback=_commit_answered)
        except (CommitFailedError, KafkaError) as e:
            log.info("offset commit failed", extra={"error": repr(e)})

    @staticmethod
    def _commit_at_stop(consumer: KafkaConsumer) -> None:
        """A member asked to stop commits what it has read, so that the next one to
        start does not read it again; not for longer than ``OFFSET_COMMIT_AT_STOP_MS``."""
        try:
            consumer.commit(timeout_ms=OFFSET_COMMIT_AT_STOP_MS)
        except (CommitFailedError, KafkaError) as e:
            log.info("offset commit at stop failed", extra={"error": repr(e)})

    def _catch_up(self, consumer: KafkaConsumer, partitions: set[int]) -> None:
        catch_up(
            self.ledger,
            self.pool,
            self.projection,
            partitions,
            self.settings.topic_partitions,
            keepalive=lambda: self._keepalive(consumer),
        )

    @staticmethod
    def _keepalive(consumer: KafkaConsumer) -> None:
        """Stay in the group during a long catch-up without taking new messages."""
        assigned = consumer.assignment()
        consumer.pause(*assigned)
        try:
            consumer.poll(timeout_ms=0)
        finally:
            consumer.resume(*consumer.assignment())

    def _log_lag(
        self,
        consumer: KafkaConsumer,
        applied: dict[int, int],
        published: dict[int, int],
        now: float,
    ) -> None:
        """Every ``LAG_LOG_SECONDS``, how far behind the relay this member's partitions
        are, in store positions (``/metrics`` has every partition's)."""
        if now < self._next_lag_log:
            return
        self._next_lag_log = now + LAG_LOG_SECONDS
        mine = sorted(tp.partition for tp in consumer.assignment())
        lag = {p: max(published.get(p, 0) - applied.get(p, 0), 0) for p in mine}
        log.info(
            "consumer lag",
            extra={
                "projection": self.projection.name,
                "lag": sum(lag.values()),
                "partitions": {str(p): n for p, n in lag.items()},
            },
        )

    def _catch_up_stalled(self, consumer: KafkaConsumer) -> None:
        """Partitions behind the relay with nothing arriving for a while: their messages
        were lost by the broker, or nobody is assigned them (a group that has not yet
        noticed a remade topic); read them from the store. Every partition is checked,
        not only this member's: a stall is rare, and applying is safe from any member.
        Until the member's group has first formed (a new group takes about half the
        session timeout, 3 s) nothing can arrive, so a partition behind is read at once:
        a command's effect is readable soon after start-up, not after the join."""
        stalled = set()
        now = time.monotonic()
        with self.pool.connection() as conn:
            applied = tracking.positions(conn, self.projection.name)
            published: dict[int, int] = dict(
                conn.execute(
                    "SELECT partition, position FROM relay_partitions WHERE relay = %s",
                    (self.settings.topic,),
                ).fetchall()
            )
        self._log_lag(consumer, applied, published, now)
        joining = not self.assignments.joined
        for p in range(self.settings.topic_partitions):
            at = applied.get(p, 0)
            if at >= published.get(p, 0):
                self._behind_since.pop(p, None)
                continue
            since = self._behind_since.setdefault(p, (at, now))
            if joining:
                stalled.add(p)  # nothing arrives before the group forms: no need to wait
            elif since[0] != at:
                self._behind_since[p] = (at, now)
            elif now - since[1] >= STALL_SECONDS:
                stalled.add(p)
        if stalled and joining:
            log.info(
                "reading from the store while the group forms",
                extra={"projection": self.projection.name, "partitions": sorted(stalled)},
            )
        elif stalled:
            log.warning(
                "partitions stalled behind the relay", extra={"partitions": sorted(stalled)}
            )
        if stalled:
            self._catch_up(consumer, stalled)
            for p in stalled:
                self._behind_since.pop(p, None)
