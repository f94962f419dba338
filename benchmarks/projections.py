"""Benchmark of the read models over a large book (100k events or more):

* consumer throughput of each projection (kafka-python polling the topic, then the
  runner's own apply path: positions locked, rows written, offsets committed), next to a
  bare kafka-python consume loop (poll and json.loads) over the same topic;
* rebuild throughput of each projection from the event store (``arledger replay``'s
  code: into a side schema, then the switch), next to a bare read of the notification
  log, and a read that also decodes each event into its CloudEvent;
* p50 / p99 over HTTP of the balance, aged-debt and debtor-days queries.

Run: ``.venv/bin/python benchmarks/projections.py [--events 100000] [--accounts 400]``.
Uses DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS if set, else an embedded PostgreSQL and an
embedded broker in a temporary folder."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition
from psycopg import Connection
from psycopg_pool import ConnectionPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.rebuild import fresh_database  # noqa: E402
from consumers.rebuild import rebuild  # noqa: E402
from consumers.relay import Relay  # noqa: E402
from consumers.runner import ProjectionConsumer  # noqa: E402
from contract.cloudevents import to_cloudevent  # noqa: E402
from infra.database import eventstore_env, open_pool  # noqa: E402
from infra.settings import Settings  # noqa: E402
from ledger.application import Ledger  # noqa: E402
from projections import tracking  # noqa: E402
from projections.registry import PROJECTIONS  # noqa: E402
from runtime.composition import Root  # noqa: E402
from runtime.embedded import EmbeddedPostgres  # noqa: E402
from runtime.embedded_broker import EmbeddedBroker  # noqa: E402
from tests.book import write_book  # noqa: E402
from tests.support import serving  # noqa: E402

KEY = "bench-key"
QUERIES = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="at least this many")
    parser.add_argument("--accounts", type=int, default=400)
    parser.add_argument("--writers", type=int, default=4, help="threads writing the book")
    args = parser.parse_args()
    with ExitStack() as stack:
        server = os.environ.get("DATABASE_URL")
        if not server:
            pg = EmbeddedPostgres(database="postgres")
            server = pg.start(Path(tempfile.mkdtemp(prefix="arledger-bench-pg-")))
            stack.callback(pg.stop)
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            broker = EmbeddedBroker(Path(tempfile.mkdtemp(prefix="arledger-bench-kafka-")))
            bootstrap = broker.start()
            stack.callback(broker.stop)
        settings = Settings(
            database_url=fresh_database(server),
            kafka_bootstrap_servers=bootstrap,
            topic=f"arledger.bench.{uuid.uuid4().hex[:8]}",
            consumer_group=f"arledger.bench.{uuid.uuid4().hex[:8]}",
            api_keys=f"{KEY}:auditor:bench",
            topic_repair=True,
            home=Path(tempfile.mkdtemp(prefix="arledger-bench-home-")),
            query_wait_ms=60_000,
        )
        run(settings, args.events, args.accounts, args.writers)


def timed(label: str, unit: str, count: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    took = time.perf_counter() - started
    rate = count / took
    print(f"{label:<58} {rate:>10,.0f} {unit}/s  ({count:,} in {took:.1f} s)", flush=True)
    return rate


def run(settings: Settings, events: int, accounts: int, writers: int) -> None:
    url = settings.database_url or ""
    ledger = Ledger(eventstore_env(url), snapshot_interval=50)
    pool = open_pool(url, max_size=4)
    tracking.ensure_schema(pool)
    for projection in PROJECTIONS.values():
        projection.ensure_schema(pool)
    print(f"writing a book of at least {events:,} events ...", flush=True)
    _write(ledger, events, accounts, writers)
    head = ledger.head_position()
    print(f"book: {head:,} events", flush=True)

    stop = threading.Event()
    relay = threading.Thread(target=Relay(settings, ledger, pool).run, args=(stop,), daemon=True)

    def relay_all() -> None:
        relay.start()
        _relayed(pool, settings, head)

    timed("relay: store to Kafka", "events", head, relay_all)

    timed(
        "bare kafka-python consume loop (poll + json.loads)",
        "events",
        head,
        lambda: _bare_consume(settings, head),
    )
    for name, projection in PROJECTIONS.items():
        runner = ProjectionConsumer(settings, ledger, pool, projection, client_id=f"bench-{name}")
        timed(
            f"consumer '{name}' (Kafka, apply, commit)",
            "events",
            head,
            lambda runner=runner: _consume(settings, runner, head),
        )

    timed("bare read of the notification log", "events", head, lambda: _bare_read(ledger))
    timed("read + decode to CloudEvents", "events", head, lambda: _read_decode(ledger))
    for name, projection in PROJECTIONS.items():
        timed(
            f"rebuild '{name}' from the store (replay)",
            "events",
            head,
            lambda projection=projection: rebuild(
                ledger, pool, url, projection, settings.topic_partitions
            ),
        )
    stop.set()
    relay.join(10)
    with pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM balance_accounts").fetchone()
    print(f"accounts in the book: {row[0] if row else 0:,}", flush=True)
    _queries(settings, pool)
    pool.close()
    ledger.close()


def _write(ledger: Ledger, events: int, accounts: int, writers: int) -> None:
    started = time.perf_counter()

    # A round of 2,000 commands appends about 3,500 events; the accounts are spread
    # over the rounds the book needs.
    per_round = max(1, accounts * 3_500 // max(events, 1))

    def one(seed: int) -> None:
        rng = random.Random(seed)
        while ledger.head_position() < events:
            write_book(ledger, rng, 2_000, per_round)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(5)
        done = ledger.head_position()
        rate = done / (time.perf_counter() - started)
        print(f"  {done:,} events ({rate:,.0f} events/s)", file=sys.stderr, flush=True)
    for t in threads:
        t.join()


def _relayed(pool: ConnectionPool, settings: Settings, head: int) -> None:
    while True:
        with pool.connection() as conn:
            if _relay_at(conn, settings) >= head:
                return
        time.sleep(0.1)


def _relay_at(conn: Connection[Any], settings: Settings) -> int:
    row = conn.execute(
        "SELECT position FROM relay_positions WHERE relay = %s", (settings.topic,)
    ).fetchone()
    return int(row[0]) if row else 0


def _kafka(settings: Settings, **options: object) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        **options,
    )
    partitions = [TopicPartition(settings.topic, p) for p in range(settings.topic_partitions)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    return consumer


def _bare_consume(settings: Settings, head: int) -> None:
    consumer = _kafka(settings)
    seen = 0
    try:
        while seen < head:
            for messages in consumer.poll(timeout_ms=500, max_records=1000).values():
                for message in messages:
                    json.loads(message.value)
                    seen += 1
    finally:
        consumer.close()


def _consume(settings: Settings, runner: ProjectionConsumer, head: int) -> None:
    """The runner's apply path, fed by a consumer that starts at the topic's beginning
    (a runner joining its group checks new partitions against the store first, which
    would make this a store read, measured below)."""
    consumer = _kafka(settings, group_id=f"{settings.consumer_group}.{runner.projection.name}")
    try:
        while True:
            records = consumer.poll(timeout_ms=500, max_records=250)
            if records:
                runner._apply(consumer, records)
                runner._commit(consumer)
            with runner.pool.connection() as conn:
                if tracking.watermark(conn, runner.projection.name, settings.topic) >= head:
                    return
    finally:
        consumer.close()


def _bare_read(ledger: Ledger) -> None:
    after = 0
    while batch := ledger.read_log(after, 1000):
        after = batch[-1].id


def _read_decode(ledger: Ledger) -> None:
    after = 0
    while batch := ledger.read_log(after, 1000):
        for notification in batch:
            to_cloudevent(ledger, notification)
        after = batch[-1].id


def _queries(settings: Settings, pool: ConnectionPool) -> None:
    with pool.connection() as conn:
        accounts = [
            str(r[0])
            for r in conn.execute(
                "SELECT account_id FROM balance_accounts WHERE currency = 'GBP' LIMIT 200"
            ).fetchall()
        ]
    services = Root(settings).services()
    try:
        with serving(settings, services) as base:
            http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"})
            rng = random.Random(3)
            cases = {
                "GET /v1/accounts/{id}/balance": lambda: http.get(
                    f"/v1/accounts/{rng.choice(accounts)}/balance"
                ),
                "GET /v1/reports/aged-debt (GBP, portfolio)": lambda: http.get(
                    "/v1/reports/aged-debt", params={"currency": "GBP", "as_of": "2026-04-30"}
                ),
                "GET /v1/reports/aged-debt (one account)": lambda: http.get(
                    "/v1/reports/aged-debt",
                    params={
                        "currency": "GBP",
                        "as_of": "2026-04-30",
                        "account_id": rng.choice(accounts),
                    },
                ),
                "GET /v1/reports/debtor-days (GBP, March)": lambda: http.get(
                    "/v1/reports/debtor-days",
                    params={
                        "currency": "GBP",
                        "period_start": "2026-03-01",
                        "period_end": "2026-03-31",
                    },
                ),
                "GET /v1/reports/debtor-days (one account)": lambda: http.get(
                    "/v1/reports/debtor-days",
                    params={
                        "currency": "GBP",
                        "period_start": "2026-03-01",
                        "period_end": "2026-03-31",
                        "account_id": rng.choice(accounts),
                    },
                ),
            }
            for label, ask in cases.items():
                seconds = []
                for _ in range(QUERIES):
                    started = time.perf_counter()
                    ask().raise_for_status()
                    seconds.append(time.perf_counter() - started)
                ordered = sorted(seconds)
                p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
                print(
                    f"{label:<46} p50 {statistics.median(seconds) * 1e3:6.1f} ms"
                    f"   p99 {p99 * 1e3:6.1f} ms   ({QUERIES} requests)",
                    flush=True,
                )
            http.close()
    finally:
        services.close()


if __name__ == "__main__":
    main()
