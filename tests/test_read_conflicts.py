"""A read that loses a lock race answers anyway. When a reader and a writer of the read
model's tables (a replay switching its rebuilt tables in, a migration) lock them in
opposite orders, PostgreSQL breaks the deadlock by failing one of them; a GET is a read,
so the API runs it again rather than answer 500."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import psycopg

from infra.settings import Settings
from tests.pipeline import pipeline


def _waiting_on_a_lock(conn: psycopg.Connection[object], table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
        (table,),
    ).fetchone()
    return bool(row and row[0])


def test_a_balance_read_caught_in_a_deadlock_is_answered_not_failed(settings: Settings) -> None:
    with pipeline(settings) as p:
        acct = p.api.open_account("Deadlock Dairies Ltd")["id"]
        p.api.raise_invoice(acct, "DD-1", 120_00, "2026-01-01", "2026-01-31")
        p.wait_until_projected()
        replies: list[httpx.Response] = []
        watcher = psycopg.connect(settings.database_url or "", autocommit=True)
        writer = psycopg.connect(settings.database_url or "", autocommit=True)
        # PostgreSQL fails whichever waiter's deadlock check runs first: on a loaded
        # machine that was at times the writer's. It checks late, so the reader is failed.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):  # a superuser's
            writer.execute("SET deadlock_timeout = '30s'")
        writer.autocommit = False
        try:
            # The writer holds the invoices; the reader takes the accounts, then waits.
            writer.execute("LOCK TABLE balance_invoices IN ACCESS EXCLUSIVE MODE")
            reader = threading.Thread(
                target=lambda: replies.append(p.api.get(f"/v1/accounts/{acct}/balance"))
            )
            reader.start()
            deadline = time.monotonic() + 10
            while not _waiting_on_a_lock(watcher, "balance_invoices"):
                assert time.monotonic() < deadline, "the read never reached the lock"
                time.sleep(0.02)
            # Now the writer wants the accounts the reader holds: a deadlock, which
            # PostgreSQL breaks by failing the one that waited longest, the reader.
            writer.execute("LOCK TABLE balance_accounts IN ACCESS EXCLUSIVE MODE")
            time.sleep(0.2)
            writer.commit()
            reader.join(timeout=30)
        finally:
            writer.close()
            watcher.close()
        assert len(replies) == 1
        assert replies[0].status_code == 200, replies[0].text
        assert replies[0].json()["outstanding"]["amount"] == 120_00
