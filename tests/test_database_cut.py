"""The database cuts every connection while commands come in (a restart, a failover, a
proxy dropping its sessions): no client gets a 500, what was acknowledged is in the store
exactly once, and the API works again at once."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest

from tests.pipeline import pipeline
from tests.support import Api, gbp


def _cut_every_session(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


@pytest.mark.slow
def test_commands_through_connections_cut_under_load_are_never_a_500(settings) -> None:
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Harbour Cafe")["id"]
        statuses: Counter[int] = Counter()
        unavailable: Counter[str] = Counter()
        acknowledged: list[str] = []
        stop = threading.Event()
        lock = threading.Lock()

        def client(n: int) -> None:
            api = Api(p.url)
            try:
                while not stop.is_set():
                    number = f"CUT-{n}-{uuid.uuid4().hex[:8]}"
                    body = {"account_id": account, "number": number, "amount": gbp(10_00),
                            "issued_on": "2026-11-01", "due_on": "2026-12-01"}  # fmt: skip
                    reply = api.post("/v1/invoices", body)
                    with lock:
                        statuses[reply.status_code] += 1
                        if reply.status_code == 503:
                            assert reply.headers["Retry-After"]
                            unavailable[reply.json()["type"].rsplit("/", 1)[-1]] += 1
                        if reply.status_code == 201:
                            acknowledged.append(number)
            finally:
                api.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(3):
                time.sleep(1.0)
                assert _cut_every_session(p.settings.database_url or "") > 0
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)

        assert not [s for s in statuses if s >= 500 and s != 503], statuses
        # A command whose connection was cut is a 503 to send again, never a 500.
        assert set(unavailable) <= {"database-unavailable", "concurrent-modification"}
        assert statuses[201] > 0
        # Every acknowledged invoice is in the store, once.
        ledger = p.services.ledger
        ids = ledger.get_account(_id(account)).invoice_ids()
        numbers = [ledger.get_invoice(i).number for i in ids]
        assert sorted(set(acknowledged) - set(numbers)) == []
        assert len(numbers) == len(set(numbers))
        # And the next command goes through.
        after = {"account_id": account, "number": "AFTER", "amount": gbp(1_00),
                 "issued_on": "2026-11-01", "due_on": "2026-12-01"}  # fmt: skip
        assert p.api.post("/v1/invoices", after).status_code == 201


def _id(text: str) -> uuid.UUID:
    return uuid.UUID(text)
