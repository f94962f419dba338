"""Rebuilding read models: `arledger replay --projection NAME` builds new tables from the
store while the API keeps answering from the old ones, switches over when caught up,
and the consumers carry on from there. Two consumer processes sharing the partitions
build exactly what one rebuild from the store builds."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from consumers.rebuild import rebuild
from projections.registry import PROJECTIONS
from runtime.workers import settings_env
from tests.book import write_book
from tests.pipeline import pipeline
from tests.support import running_workers

ROOT = Path(__file__).resolve().parent.parent


def dump(pool, name):
    """Every row of a projection's tables, in one order whatever the tables' (a table of
    running sums has no one column that tells its rows apart)."""
    with pool.connection() as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in PROJECTIONS[name].tables
        }


def _cli(settings, *args) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings_env(settings), "ARLEDGER_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_replay_switches_to_rebuilt_tables_equal_to_live_while_queries_keep_answering(settings):
    with pipeline(settings) as p:
        accounts = write_book(p.services.ledger, random.Random(11), 200, 8)
        assert accounts
        p.wait_until_projected()
        live = {name: dump(p.services.pool, name) for name in PROJECTIONS}
        some_account = live["balances"]["balance_accounts"][0][0]

        answers: list[int] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                answers.append(p.api.get(f"/v1/accounts/{some_account}/balance").status_code)
                answers.append(
                    p.api.get(
                        "/v1/reports/aged-debt", currency="GBP", as_of="2026-12-31"
                    ).status_code
                )

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            for name in PROJECTIONS:
                done = _cli(settings, "replay", "--projection", name)
                assert done.returncode == 0, done.stderr
                assert f'"projection": "{name}"' in done.stdout
                assert "rebuilding" in done.stderr  # the progress shown
        finally:
            stop.set()
            asker.join()
        assert answers and set(answers) == {200}
        for name in PROJECTIONS:
            assert dump(p.services.pool, name) == live[name], name
        with p.services.pool.connection() as conn:
            left = conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%'"
            ).fetchone()
        assert left == (0,)  # the side schemas are gone

        # The live consumers carry on from the rebuilt tables' positions.
        write_book(p.services.ledger, random.Random(12), 60, 3)
        projected, folded = p.projection_equals_store()
        assert projected == folded

        unknown = _cli(settings, "replay", "--projection", "nope")
        assert unknown.returncode == 2 and "balances" in unknown.stderr


@pytest.mark.slow
def test_two_consumer_processes_sharing_partitions_build_what_one_rebuild_builds(settings):
    with pipeline(settings, workers=False) as p, running_workers(settings, consumers=0):
        env = {**os.environ, **settings_env(settings), "ARLEDGER_LOG_LEVEL": "WARNING"}
        consumers = [
            subprocess.Popen([sys.executable, "-m", "runtime.cli", "consume"], cwd=ROOT, env=env)
            for _ in range(2)
        ]
        try:
            write_book(p.services.ledger, random.Random(5), 300, 10)
            p.wait_until_projected()
        finally:
            for consumer in consumers:
                consumer.terminate()
            for consumer in consumers:
                consumer.wait(30)
        with p.services.pool.connection() as conn:
            owners = conn.execute(
                "SELECT count(DISTINCT partition) FROM projection_positions"
                " WHERE projection = 'balances' AND position > 0"
            ).fetchone()
        assert owners is not None and owners[0] > 1
        shared = {name: dump(p.services.pool, name) for name in PROJECTIONS}
        for name, projection in PROJECTIONS.items():
            rebuild(
                p.services.ledger,
                p.services.pool,
                settings.database_url,
                projection,
                settings.topic_partitions,
            )
            assert dump(p.services.pool, name) == shared[name], name
