"""A pool hands out the connection it took back last (``infra/pool_order.py``)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from infra.database import open_pool
from infra.pool_order import most_recent_first


def _backend(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        return conn.info.backend_pid


def test_one_caller_at_a_time_keeps_one_connection_of_a_full_pool(database_url: str) -> None:
    pool = ConnectionPool(database_url, min_size=4, max_size=4, open=True)
    most_recent_first(pool)
    try:
        pool.wait(timeout=30)
        assert len({_backend(pool) for _ in range(12)}) == 1
    finally:
        pool.close()


def test_the_connection_given_back_last_is_the_next_handed_out(database_url: str) -> None:
    pool = open_pool(database_url, max_size=3)
    try:
        with pool.connection() as first, pool.connection() as second:
            first_pid, second_pid = first.info.backend_pid, second.info.backend_pid
        # ``second`` went back first, ``first`` last.
        assert _backend(pool) == first_pid
        assert _backend(pool) == first_pid
        with pool.connection() as a, pool.connection() as b:
            assert {a.info.backend_pid, b.info.backend_pid} == {first_pid, second_pid}
    finally:
        pool.close()
