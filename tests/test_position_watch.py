"""A read that waits for a read model (``min_position``) is woken by the model's commit
(``projections/position_watch.py``), not by asking the database every 10 ms; with no one
listening it asks every 10 ms as before."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from infra.database import open_pool
from projections import tracking
from projections.position_watch import PositionWatch

RELAY = "watch-topic"


@pytest.fixture
def pool(database_url: str) -> Iterator[ConnectionPool]:
    pool = open_pool(database_url, max_size=4)
    tracking.ensure_schema(pool)
    with pool.connection() as conn:
        conn.execute("INSERT INTO relay_positions VALUES (%s, 10)", (RELAY,))
        conn.execute("INSERT INTO relay_partitions VALUES (%s, 0, 10)", (RELAY,))
        conn.execute("INSERT INTO projection_positions VALUES ('watched', 0, 5)")
    yield pool
    pool.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each watermark read by a wait."""
    seen: list[int] = []
    read = tracking.watermark

    def counted(*args: object) -> int:
        seen.append(read(*args))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(tracking, "watermark", counted)
    return seen


def _apply_at(pool: ConnectionPool, delay: float) -> threading.Thread:
    """The read model applying position 10 after ``delay`` seconds, as a consumer does."""

    def apply() -> None:
        time.sleep(delay)
        with pool.connection() as conn, conn.transaction():
            tracking.save_positions(conn, "watched", {0: 10})

    thread = threading.Thread(target=apply)
    thread.start()
    return thread


def _listening(watch: PositionWatch) -> PositionWatch:
    deadline = time.monotonic() + 10
    while not watch.listening:
        assert time.monotonic() < deadline, "the watch never listened"
        time.sleep(0.01)
    return watch


def test_a_wait_reads_again_when_the_read_model_commits(
    pool: ConnectionPool, database_url: str, reads: list[int]
) -> None:
    watch = _listening(PositionWatch(database_url).start())
    try:
        applying = _apply_at(pool, 0.6)
        assert tracking.wait_for(pool, "watched", RELAY, 10, timeout=10, watch=watch)
        applying.join()
    finally:
        watch.close()
    # Polling would have read it some 60 times in 0.6 s; the watch reads it when the
    # commit is heard of, and every quarter second meanwhile.
    assert reads[-1] == 10
    assert len(reads) <= 5, reads


def test_without_a_listener_a_wait_polls(pool: ConnectionPool, reads: list[int]) -> None:
    watch = PositionWatch("postgresql://nobody@127.0.0.1:1/none")  # never listens
    applying = _apply_at(pool, 0.3)
    assert tracking.wait_for(pool, "watched", RELAY, 10, timeout=10, watch=watch)
    applying.join()
    assert reads[-1] == 10
    assert len(reads) > 5


def test_a_wait_that_is_never_met_ends_at_its_timeout(
    pool: ConnectionPool, database_url: str
) -> None:
    watch = _listening(PositionWatch(database_url).start())
    try:
        started = time.monotonic()
        assert not tracking.wait_for(pool, "watched", RELAY, 10, timeout=0.5, watch=watch)
        assert 0.5 <= time.monotonic() - started < 2
    finally:
        watch.close()
