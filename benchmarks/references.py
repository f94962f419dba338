"""The references ``benchmarks/suite.py`` measures the ledger against, on the same servers
in the same run, and the timed-clients runner every concurrent figure shares.

* :func:`run_clients`: N threads, each prepared (connections, warm-up) before a barrier,
  then the same number of timed operations each; the rate is operations over the time
  from the barrier to the last thread's end.
* :func:`raw_commits`: one row INSERTed and COMMITted per operation into a fresh table,
  one connection per client, autocommit off, ``synchronous_commit`` as the server has it.
* :func:`bare_log_read`: the events table the ledger writes, read in pages of
  ``PAGE_ROWS`` with ``SELECT *`` (what the library's log read selects), no decoding.
* :func:`consume_loop` and :func:`bare_produce`: kafka-python with nothing of arledger's
  around it, configured as the relay's producer and the runner's consumer are.
* :class:`MachineCpu`: how many of the machine's cores were busy over a stretch, every
  process counted (the servers, the workers and this process's own load), to tell a
  figure bound by the machine's CPU from one bound by waiting."""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from psycopg import sql

from consumers.relay import SEND_TIMEOUT_SECONDS
from consumers.runner import POLL_RECORDS_MAX, POLL_TIMEOUT_MS
from consumers.topic import ensure_topic
from contract.cloudevents import CONTENT_TYPE
from infra.settings import Settings
from runtime.progress import ProgressBar

# The ledger's consumers' default fetch wait, so the bare loop is polled alike.
FETCH_WAIT_MS: int = Settings.model_fields["consumer_fetch_wait_ms"].default

PAGE_ROWS = 1_000
KEEP_MAX = 50_000  # messages kept for the produce reference; cycled beyond that
RAW_WARMUP_COMMITS = 20
RAW_BODY = "x" * 256  # about the size of an event's stored state

# A prepared client: it takes the operation's number and does one operation.
Operation = Callable[[int], None]


@dataclass
class Timed:
    """``operations`` done in ``seconds``, and each one's latency when it was timed."""

    operations: int
    seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def median(self) -> float:
        return statistics.median(self.latencies)


def run_clients(
    label: str,
    clients: int,
    per_client: int,
    prepare: Callable[[int, ExitStack], Operation],
) -> Timed:
    """``clients`` threads; each runs ``prepare(client, stack)`` (its connections and its
    warm-up, untimed; ``stack`` is closed when the thread ends), waits for the others,
    then runs its operation ``per_client`` times, each one timed."""
    done = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    ends = [0.0] * clients
    errors: list[BaseException] = []
    began: list[float] = []
    barrier = threading.Barrier(clients, action=lambda: began.append(time.perf_counter()))

    def client(n: int) -> None:
        try:
            with ExitStack() as stack:
                operation = prepare(n, stack)
                barrier.wait()
                for i in range(per_client):
                    started = time.perf_counter()
                    operation(i)
                    latencies[n].append(time.perf_counter() - started)
                    done[n] += 1
                ends[n] = time.perf_counter()
        except BaseException as e:
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    watch(label, clients * per_client, lambda: sum(done), threads)
    if errors:
        raise errors[0]
    merged = [s for client_latencies in latencies for s in client_latencies]
    return Timed(len(merged), max(ends) - began[0], merged)


def watch(
    label: str, total: int, done: Callable[[], int], threads: Sequence[threading.Thread]
) -> None:
    """A progress bar on stderr until every thread has ended."""
    bar = ProgressBar(label, sys.stderr)
    while any(thread.is_alive() for thread in threads):
        bar.update(done(), total)
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    bar.update(done(), total)
    bar.finish()


# --- PostgreSQL ---------------------------------------------------------------------


def raw_commits(url: str, clients: int, per_client: int) -> Timed:
    """Single-row durable commits into a fresh table (dropped afterwards)."""
    table = f"suite_raw_commits_{clients}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigserial PRIMARY KEY, client int NOT NULL,"
                " n int NOT NULL, body text NOT NULL)"
            ).format(sql.Identifier(table))
        )
    insert = sql.SQL("INSERT INTO {} (client, n, body) VALUES (%s, %s, %s)").format(
        sql.Identifier(table)
    )

    def prepare(client: int, stack: ExitStack) -> Operation:
        conn = stack.enter_context(psycopg.connect(url))  # autocommit off

        def commit_one(n: int) -> None:
            conn.execute(insert, (client, n, RAW_BODY))
            conn.commit()

        for n in range(RAW_WARMUP_COMMITS):
            commit_one(-1 - n)
        return commit_one

    try:
        return run_clients(f"raw commits, {clients} client(s)", clients, per_client, prepare)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def bare_log_read(url: str, events_table: str, head: int) -> Timed:
    """Every row of the events table up to ``head``, in pages, on one connection opened
    (and a first row read) before the clock starts."""
    page = sql.SQL(
        "SELECT * FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
    ).format(sql.Identifier(events_table))
    bar = ProgressBar("bare read of the notification log", sys.stderr)
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(page, (0, 1))
        cursor.fetchall()
        column = [c.name for c in cursor.description or ()].index("notification_id")
        started, read, after = time.perf_counter(), 0, 0
        while rows := conn.execute(page, (after, PAGE_ROWS)).fetchall():
            read += len(rows)
            after = rows[-1][column]
            bar.update(read, head)
        took = time.perf_counter() - started
    bar.finish()
    return Timed(read, took)


# --- Kafka --------------------------------------------------------------------------

# A message as the relay sent it: partition, key, value.
Message = tuple[int, bytes, bytes]


def kafka_consumer(
    bootstrap: str, topic: str, partitions: int, group_id: str | None = None
) -> KafkaConsumer:
    """A consumer set up as the runner's (``consumers/runner.py``), but assigned every
    partition from the beginning instead of joining a group (a runner that joins checks
    new partitions against the store first, which would make it a store read)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_WAIT_MS,  # as the ledger's consumers by default
    )
    assigned = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    return consumer


# Takes one poll's records; returns how many messages it handled.
Handler = Callable[[dict[TopicPartition, list[Any]]], int]


def consume_loop(label: str, consumer: KafkaConsumer, expected: int, handle: Handler) -> Timed:
    """Poll as the runner does until ``expected`` messages are handled. The first
    non-empty poll is the warm-up (connections, metadata, the first fetch): neither its
    messages nor its time count."""
    bar = ProgressBar(label, sys.stderr)
    seen, counted, started = 0, 0, 0.0
    while seen < expected:
        records = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=POLL_RECORDS_MAX)
        if not records:
            continue
        handled = handle(records)
        if not started:
            started = time.perf_counter()
        else:
            counted += handled
        seen += handled
        bar.update(seen, expected)
    took = time.perf_counter() - started
    bar.finish()
    return Timed(counted, took)


def bare_consume(
    bootstrap: str, topic: str, partitions: int, expected: int, keep: list[Message] | None = None
) -> Timed:
    """poll + ``json.loads`` of each value; ``keep`` collects the first ``KEEP_MAX``
    messages."""

    def handle(records: dict[TopicPartition, list[Any]]) -> int:
        handled = 0
        for tp, messages in records.items():
            for message in messages:
                json.loads(message.value)
                if keep is not None and len(keep) < KEEP_MAX:
                    keep.append((tp.partition, message.key, message.value))
                handled += 1
        return handled

    consumer = kafka_consumer(bootstrap, topic, partitions)
    try:
        return consume_loop(f"bare consume of {topic}", consumer, expected, handle)
    finally:
        consumer.close()


def bare_produce(
    bootstrap: str, topic: str, partitions: int, messages: Sequence[Message], count: int
) -> Timed:
    """``count`` messages (``messages`` over again when there are fewer) to a fresh
    topic, with the relay's producer settings (acks=all, idempotent, linger 2 ms), each
    to the partition the relay chose, then a flush. The producer's first send and its
    acknowledgement are the warm-up."""
    ensure_topic(bootstrap, topic, partitions, repair=True)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        linger_ms=2,
        delivery_timeout_ms=SEND_TIMEOUT_SECONDS * 1000 * 10,
        request_timeout_ms=(SEND_TIMEOUT_SECONDS - 1) * 1000,
        allow_auto_create_topics=False,
    )
    headers = [("content-type", CONTENT_TYPE.encode())]
    bar = ProgressBar(f"bare produce to {topic}", sys.stderr)
    try:
        partition, key, value = messages[0]
        producer.send(topic, key=key, value=value, partition=partition, headers=headers).get(30)
        started = time.perf_counter()
        for n in range(1, count):
            partition, key, value = messages[n % len(messages)]
            producer.send(topic, key=key, value=value, partition=partition, headers=headers)
            if n % 1_000 == 0:
                bar.update(n, count)
        producer.flush()
        took = time.perf_counter() - started
    finally:
        producer.close()
    bar.update(count, count)
    bar.finish()
    return Timed(count - 1, took)


# --- the machine's CPU ----------------------------------------------------------------


@dataclass(frozen=True)
class MachineCpu:
    """The machine's CPU time so far, in clock ticks, from Linux's ``/proc/stat`` (zero
    elsewhere): all of it, and the part not idle nor waiting for the disk."""

    busy: int
    total: int
    cores: int

    @classmethod
    def now(cls) -> MachineCpu:
        try:
            ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return cls(0, 0, os.cpu_count() or 1)
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and iowait
        total = sum(ticks[:8])  # guest time is counted in user time already
        return cls(total - idle, total, os.cpu_count() or 1)

    def busy_since(self, earlier: MachineCpu) -> float:
        """How many cores were busy, on average, from ``earlier`` to this reading."""
        total = self.total - earlier.total
        return (self.busy - earlier.busy) / total * self.cores if total > 0 else 0.0

    def describe_since(self, earlier: MachineCpu) -> str:
        return f"{self.busy_since(earlier):.2f} of {self.cores} cores busy"


# --- memory -------------------------------------------------------------------------


def children_peak_rss() -> list[tuple[str, int]]:
    """Name and peak RSS (KiB, ``VmHWM``) of each running child of this process (the
    embedded servers); nothing without psutil or off Linux."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        return []
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            name, status = child.name(), Path(f"/proc/{child.pid}/status").read_text()
        except (OSError, psutil.Error):
            continue
        found += [
            (name, int(line.split()[1]))
            for line in status.splitlines()
            if line.startswith("VmHWM:")
        ]
    return found
