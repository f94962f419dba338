"""One event a read model cannot apply stops its own account, never the pipeline: the
event is recorded (which projection, which position, why), shown in /healthz and
/metrics, the account's reads say they are held, every other account goes on, and the
account is released once its events apply again."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import UUID

from consumers.catchup import retry_held
from contract.cloudevents import to_cloudevent
from ledger.stamp import Stamp
from projections import held
from projections.writer import Projection, apply_batch
from tests.pipeline import pipeline


def _store_poison(ledger, account_id: str) -> int:
    """An event already in the store with a NUL in its text, as stores written before
    the door refused them hold: saved through the aggregate, past every command check. A
    new name, which the balances' ``text`` column cannot take."""
    account = ledger.get_account(UUID(account_id))
    stamp = Stamp("legacy-import", "c-poison", "c-poison", datetime.now(UTC))
    account.update_details({"name": "Legacy\x00Ltd"}, None, stamp)
    recordings = ledger.save(account)
    return max(r.notification.id for r in recordings)


def _wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_poison_event_holds_its_account_and_the_pipeline_goes_on(settings):
    with pipeline(settings) as p:
        api = p.api
        bad = api.open_account("Legacy Ltd")["id"]
        good = api.open_account("Healthy Ltd")["id"]
        poison_at = _store_poison(p.services.ledger, bad)
        api.raise_invoice(bad, "LG-1", 50_00, "2026-02-01", "2026-03-01")
        invoice = api.raise_invoice(good, "HL-1", 70_00, "2026-02-01", "2026-03-01")

        # The healthy account reads its own write: the watermark moved past the poison.
        balance = api.get(f"/v1/accounts/{good}/balance", min_position=invoice["position"])
        assert balance.status_code == 200, balance.text
        assert balance.json()["invoiced"]["amount"] == 70_00

        # The held account says so rather than answering from before the poison.
        held_reply = api.get(f"/v1/accounts/{bad}/balance", min_position=invoice["position"])
        assert held_reply.status_code == 503, held_reply.text
        assert held_reply.headers["Retry-After"]
        problem = held_reply.json()
        assert problem["type"] == "/v1/problems/read-model-held"
        assert problem["held_position"] == poison_at

        health = api.get("/healthz").json()
        assert health["status"] == "degraded"
        balances_holds = [h for h in health["held"] if h["projection"] == "balances"]
        assert len(balances_holds) == 1, health["held"]
        hold = balances_holds[0]
        assert hold["account_id"] == bad
        assert hold["position"] == poison_at
        # the poison, then the invoice raised behind it (registered on the account, raised)
        assert hold["events_held"] == 3
        assert "UntranslatableCharacter" in hold["reason"] or "0000" in hold["reason"]
        metrics = api.get("/metrics").text
        assert 'arledger_projection_held_accounts{projection="balances"} 1' in metrics


def test_a_held_account_is_released_once_its_events_apply(settings):
    """A projection whose handler fails on one event (a bug) holds that account; after the
    fix, the consumer's start applies the held events from the store, in order."""
    broken = {"on": True}
    applied: list[int] = []

    def apply(conn, events):
        for ce in events:
            if broken["on"] and ce["type"] == "arledger.account.contact_logged":
                raise ValueError("handler bug")
            conn.execute("INSERT INTO flaky_rows (position) VALUES (%s)", (ce["position"],))
            applied.append(ce["position"])

    flaky = Projection(
        "flaky", "CREATE TABLE IF NOT EXISTS flaky_rows (position bigint PRIMARY KEY);", apply
    )
    with pipeline(settings, workers=False) as p:
        ledger, pool = p.services.ledger, p.services.pool
        flaky.ensure_schema(pool)
        a = p.api.open_account("A Ltd")["id"]
        b = p.api.open_account("B Ltd")["id"]
        p.api.post(f"/v1/accounts/{a}/contacts", {"channel": "call", "outcome": "rang"})
        p.api.raise_invoice(a, "A-1", 10_00, "2026-02-01", "2026-03-01")
        p.api.raise_invoice(b, "B-1", 10_00, "2026-02-01", "2026-03-01")
        events = [to_cloudevent(ledger, n) for n in ledger.read_log(0, 100)]
        a_events = [ce["position"] for ce in events if ce["accountid"] == a]

        assert apply_batch(pool, flaky, 0, events) == len(events)
        with pool.connection() as conn:
            (hold,) = held.holds(conn, "flaky")
            rows = {r[0] for r in conn.execute("SELECT position FROM flaky_rows")}
        assert hold.account_id == a
        assert hold.events == len(a_events) - 1  # all but the opening, applied before
        assert all(ce["position"] in rows for ce in events if ce["accountid"] == b)
        assert not any(pos in rows for pos in a_events[1:])

        assert retry_held(ledger, pool, flaky) == 0  # still broken: still held
        broken["on"] = False
        assert retry_held(ledger, pool, flaky) == 1
        with pool.connection() as conn:
            assert held.holds(conn, "flaky") == []
            rows = {r[0] for r in conn.execute("SELECT position FROM flaky_rows")}
        assert set(a_events) <= rows
