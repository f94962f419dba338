"""Benchmark: how fast the balances projection is rebuilt from the event store, next to a
bare read of the notification log, and how fast the application service takes commands
in-process (no HTTP).

Run: ``.venv/bin/python benchmarks/rebuild.py [--commands 4000] [--accounts 40]
[--without-chain]``. Uses DATABASE_URL if set, else an embedded PostgreSQL in a temporary
folder. ``--without-chain`` drops the hash-chain trigger: run it once with and once
without to see what chaining costs a command."""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consumers.catchup import catch_up  # noqa: E402
from infra.database import eventstore_env, open_pool  # noqa: E402
from ledger.application import Ledger  # noqa: E402
from projections.registry import BALANCES  # noqa: E402
from runtime.embedded import EmbeddedPostgres  # noqa: E402
from tests.book import write_book  # noqa: E402

PARTITIONS = 6


def fresh_database(server_url: str) -> str:
    name = f"arledger_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(server_url, dbname=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=4000)
    parser.add_argument("--accounts", type=int, default=40)
    parser.add_argument(
        "--without-chain",
        action="store_true",
        help="drop the hash-chain trigger first, to measure what it costs a command",
    )
    args = parser.parse_args()
    embedded = None
    server = os.environ.get("DATABASE_URL")
    if not server:
        embedded = EmbeddedPostgres(database="postgres")
        server = embedded.start(Path(tempfile.mkdtemp(prefix="arledger-bench-pg-")))
    try:
        run(fresh_database(server), args.commands, args.accounts, args.without_chain)
    finally:
        if embedded:
            embedded.stop()


def run(url: str, commands: int, accounts: int, without_chain: bool = False) -> None:
    ledger = Ledger(eventstore_env(url), snapshot_interval=50)
    if without_chain:
        table = ledger.events_table
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER {table}_chain ON {table}")
        print("hash-chain trigger dropped")
    pool = open_pool(url, max_size=2)
    BALANCES.ensure_schema(pool)
    started = time.perf_counter()
    write_book(ledger, random.Random(1), commands, accounts)
    took = time.perf_counter() - started
    events = ledger.head_position()
    print(f"{commands} commands in-process: {commands / took:.0f} commands/s; {events} events")

    started = time.perf_counter()
    applied = catch_up(ledger, pool, BALANCES, set(range(PARTITIONS)), PARTITIONS)
    took = time.perf_counter() - started
    print(f"rebuild of '{BALANCES.name}' from the store: {applied / took:.0f} events/s")

    started, read, after = time.perf_counter(), 0, 0
    while batch := ledger.read_log(after, 1000):
        read += len(batch)
        after = batch[-1].id
    took = time.perf_counter() - started
    print(f"bare read of the notification log: {read / took:.0f} events/s")
    pool.close()
    ledger.close()


if __name__ == "__main__":
    main()
