"""An auditor asks what the ledger said at a moment. Two API processes write to the store;
one's clock runs ten minutes slow. A payment it records after the auditor's moment must
not show in the reports "as known at" that moment, though its events carry an earlier
time: a moment maps to the last position committed by then, in commit order."""

from __future__ import annotations

import itertools
import random
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import eventsourcing.domain
import psycopg

from infra.database import eventstore_env
from ledger.application import Ledger
from tests.book import write_book
from tests.pipeline import pipeline
from tests.support import gbp


@contextmanager
def slow_clock(monkeypatch, behind: timedelta):
    """The writing process's clock, ``behind`` real time, while the block runs."""
    with monkeypatch.context() as m:
        m.setattr(
            eventsourcing.domain, "datetime_now_with_tzinfo", lambda: datetime.now(UTC) - behind
        )
        yield


def test_a_moment_maps_to_what_was_committed_by_then_whatever_the_writers_clock(
    settings, monkeypatch
):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Harbour Meeting Rooms Ltd")["id"]
        invoice = api.raise_invoice(account, "HB-1", 1_000_00, "2026-06-01", "2026-06-30")
        p.wait_until_projected(invoice["position"])
        moment = datetime.now(UTC)
        time.sleep(0.05)

        with slow_clock(monkeypatch, timedelta(minutes=10)):
            paid = api.record_payment(account, 400_00, received_on="2026-06-15")
            done = api.allocate(
                paid["id"], {"allocations": [{"invoice_id": invoice["id"], "amount": gbp(400_00)}]}
            )
            renamed = api.http.patch(
                f"/v1/accounts/{account}",
                headers={"Idempotency-Key": "rename-harbour"},
                json={"name": "Harbour Rooms"},
            )
            api.ok(renamed)
        p.wait_until_projected()
        events = api.ok(api.get(f"/v1/accounts/{account}/events"))["events"]
        late = [e for e in events if e["position"] > invoice["position"]]
        assert late and all(datetime.fromisoformat(e["time"]) < moment for e in late)

        known = moment.isoformat()
        aged = api.ok(
            api.get(
                "/v1/reports/aged-debt",
                currency="GBP",
                as_of="2026-07-31",
                as_known_at=known,
                min_position=done["position"],
            )
        )
        assert aged["total"] == gbp(1_000_00)  # the payment was committed after the moment
        tb = api.ok(api.get("/v1/reports/trial-balance", currency="GBP", as_known_at=known))
        assert tb["control"]["balance"] == gbp(1_000_00)
        cash = api.ok(
            api.get(
                "/v1/reports/cash-posting", currency="GBP", date="2026-06-15", as_known_at=known
            )
        )
        assert cash["received"] == gbp(0)
        replay = api.ok(api.get(f"/v1/accounts/{account}/replay", as_known_at=known))
        assert (replay["balance"]["paid"], replay["balance"]["outstanding"]) == (
            gbp(0),
            gbp(1_000_00),
        )
        assert replay["position"] == invoice["position"]
        then = api.ok(api.get(f"/v1/accounts/{account}/events", as_of=known))["events"]
        assert [e["position"] for e in then] == [
            e["position"] for e in events if e["position"] <= invoice["position"]
        ]
        assert api.ok(api.get(f"/v1/accounts/{account}", as_known_at=known))["name"] == (
            "Harbour Meeting Rooms Ltd"
        )

        # As known now, all of it.
        now = datetime.now(UTC).isoformat()
        aged_now = api.ok(
            api.get("/v1/reports/aged-debt", currency="GBP", as_of="2026-07-31", as_known_at=now)
        )
        assert aged_now["total"] == gbp(600_00)
        replay_now = api.ok(api.get(f"/v1/accounts/{account}/replay", as_known_at=now))
        assert replay_now["balance"]["paid"] == gbp(400_00)


def test_a_store_made_before_commit_times_dates_its_events_by_their_own_time(database_url):
    """Upgrading: the events stored before ``event_commits`` existed each get a row, at
    the running maximum of their own timestamps, so the times still rise with positions."""
    ledger = Ledger(eventstore_env(database_url))
    try:
        write_book(ledger, random.Random(7), 12, accounts=2)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DROP TABLE event_commits")
    finally:
        ledger.close()
    upgraded = Ledger(eventstore_env(database_url))  # the owner's start-up makes the table
    try:
        times = [e.timestamp for e in map(upgraded.decode, upgraded.read_log(0, 1000))]
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT position, committed_at FROM event_commits ORDER BY position"
            ).fetchall()
        assert [p for p, _ in rows] == list(range(1, len(times) + 1))
        assert [at for _, at in rows] == list(itertools.accumulate(times, max))
    finally:
        upgraded.close()
