"""Channels compare what comes in with the ledger's balances read model: before they
do, it must hold every event stored so far."""

from __future__ import annotations

from collections.abc import Callable

from psycopg_pool import ConnectionPool

from infra.settings import Settings
from projections import tracking
from projections.registry import BALANCES


def balances_caught_up(settings: Settings, pool: ConnectionPool) -> Callable[[int], bool]:
    """Waits (up to the query wait) until balances has applied ``position``; says if it has."""

    def caught_up(position: int) -> bool:
        wait = settings.query_wait_ms / 1000
        return tracking.wait_for(pool, BALANCES.name, settings.topic, position, wait)

    return caught_up
