"""An account replayed from the event store to a moment equals what the read models said
at that moment; "why" shows what a decision rested on and who took it."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from tests.pipeline import pipeline
from tests.support import MANAGER_KEY, Api, gbp

BALANCE_FIGURES = (
    "invoiced",
    "paid",
    "allocated",
    "unallocated",
    "credited",
    "written_off",
    "refunded",
    "deposits_held",
    "outstanding",
    "overdue",
)
BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_plus", "total")


def _snapshot(api, account, position):
    """What the read models say now, once they have caught up with ``position``, and the
    moment just after."""
    balance = api.ok(api.get(f"/v1/accounts/{account}/balance", min_position=position))
    aged = api.ok(
        api.get("/v1/reports/aged-debt", currency="GBP", account_id=account, min_position=position)
    )
    buckets = {b: aged[b] for b in BUCKETS}
    return datetime.now(UTC).isoformat(), {f: balance[f] for f in BALANCE_FIGURES}, buckets


def test_an_account_replayed_as_known_at_a_moment_equals_the_read_models_then(settings):
    with pipeline(settings) as p:
        api = p.api
        acct = api.open_account("Harbour Lights Ltd")["id"]
        api.raise_invoice(acct, "HL-1", 600_00, "2026-03-01", "2026-03-31")
        a2 = api.raise_invoice(acct, "HL-2", 400_00, "2026-05-01", "2026-05-31")
        snapshots = [_snapshot(api, acct, a2["position"])]

        paid = api.record_payment(acct, 700_00, received_on="2026-04-10")
        done = api.allocate(paid["id"], {"strategy": "oldest_first"})
        snapshots.append(_snapshot(api, acct, done["position"]))

        credit = api.ok(
            api.post(
                f"/v1/invoices/{a2['id']}/credit-notes",
                {"amount": gbp(50_00), "reason": "room not cleaned", "issued_on": "2026-05-20"},
            )
        )
        refund = api.ok(
            api.post(
                f"/v1/payments/{paid['id']}/refunds",
                {
                    "amount": gbp(30_00),
                    "reason": "overcharged parking",
                    "refunded_on": "2026-06-01",
                    "reverse_allocations": True,
                },
            )
        )
        deposit = api.record_payment(acct, 120_00, received_on="2026-06-05", purpose="deposit")
        snapshots.append(_snapshot(api, acct, max(credit["position"], deposit["position"])))
        assert refund["position"] < deposit["position"]

        # Later: a payment backdated into the past, and a new invoice. Neither changes
        # what the ledger said at the moments above.
        late = api.record_payment(acct, 200_00, received_on="2026-04-20")
        api.allocate(late["id"], {"strategy": "oldest_first"})
        api.raise_invoice(acct, "HL-3", 90_00, "2026-06-10", "2026-07-10")

        for moment, balance, buckets in snapshots:
            replay = api.ok(api.get(f"/v1/accounts/{acct}/replay", as_known_at=moment))
            assert {f: replay["balance"][f] for f in BALANCE_FIGURES} == balance, moment
            assert replay["ageing"] == buckets, moment
            assert replay["integrity"]["chains_intact"] is True
        assert snapshots[0][1]["outstanding"] == gbp(1_000_00)  # the figures did move
        assert snapshots[2][1]["deposits_held"] == gbp(120_00)

        # As of a past business date: the same as the aged-debt report for that date.
        now = api.ok(api.get(f"/v1/accounts/{acct}/replay", as_of="2026-04-30"))
        report = api.ok(
            api.get(
                "/v1/reports/aged-debt",
                currency="GBP",
                account_id=acct,
                as_of="2026-04-30",
                min_position=p.services.ledger.head_position(),
            )
        )
        assert now["ageing"] == {b: report[b] for b in BUCKETS}
        assert [
            (i["number"], i["outstanding"]["amount"], i["bucket"]) for i in now["invoices"]
        ] == [
            ("HL-1", 0, "days_1_30")
        ]  # HL-2 not issued yet; HL-1 paid by 04-10 (600) and the backdated 04-20 payment
        assert now["balance"]["paid"] == gbp(900_00)
        assert now["integrity"]["chains_intact"] is True


def test_an_accounts_details_as_known_at_a_moment_come_from_the_store(settings):
    with pipeline(settings, workers=False) as p:
        api = p.api
        acct = api.open_account("Harbour Lights Ltd")["id"]
        before_rename = datetime.now(UTC).isoformat()
        api.ok(
            api.http.patch(
                f"/v1/accounts/{acct}",
                json={"name": "Harbour Lights plc"},
                headers={"Idempotency-Key": "rename-1"},
            )
        )
        then = api.ok(api.get(f"/v1/accounts/{acct}", as_known_at=before_rename))
        assert then["name"] == "Harbour Lights Ltd"
        assert api.ok(api.get(f"/v1/accounts/{acct}"))["name"] == "Harbour Lights plc"
        before = api.get(f"/v1/accounts/{acct}", as_known_at="2000-01-01T00:00:00Z")
        assert before.status_code == 404


def test_a_replay_says_when_a_stream_of_the_account_was_altered(settings):
    with pipeline(settings) as p:
        api = p.api
        acct = api.open_account("Quayside Cafe")["id"]
        inv = api.raise_invoice(acct, "Q-1", 80_00, "2026-02-01", "2026-03-03")
        table = p.services.ledger.events_table
        with psycopg.connect(settings.database_url, autocommit=True) as conn, conn.transaction():
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            conn.execute(
                f"UPDATE {table} SET state = convert_to(replace(convert_from(state, 'UTF8'),"
                " '8000', '800'), 'UTF8') WHERE notification_id = %s",
                (inv["position"],),
            )
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        replay = api.ok(api.get(f"/v1/accounts/{acct}/replay"))
        assert replay["integrity"]["chains_intact"] is False
        assert replay["integrity"]["broken_links"] == [inv["position"]]
        assert replay["balance"]["invoiced"] == gbp(8_00)  # what the altered row now says


def _decisions(alice, mo):
    """An invoice part paid, a reminder, a suspension, and a write-off above alice's
    limit that mo approves."""
    acct = alice.open_account("Dockside Events")["id"]
    base = f"/v1/accounts/{acct}"
    inv = alice.raise_invoice(acct, "D-1", 900_00, "2026-01-01", "2026-01-31")
    paid = alice.record_payment(acct, 100_00, received_on="2026-02-10")
    alloc = alice.allocate(paid["id"], {"strategy": "oldest_first"})
    reminder = {"stage": "reminder", "channel": "email", "notice_on": "2026-03-01"}
    notice = alice.ok(alice.post(f"{base}/notices", {**reminder, "all_eligible": True}))
    suspended = alice.ok(
        alice.post(f"{base}/standing", {"action": "suspend", "reason": "no reply to reminder"})
    )
    wo = alice.post(
        f"/v1/invoices/{inv['id']}/write-offs", {"amount": gbp(800_00), "reason": "gone"}
    )
    assert wo.status_code == 202
    approved = mo.ok(mo.post(f"/v1/write-offs/{wo.json()['id']}/approve", {}))
    return acct, inv, paid, alloc, notice, suspended, wo, approved


def test_why_shows_what_a_decision_rested_on_and_who_took_it(settings):
    with pipeline(settings) as p:
        alice = p.api
        mo = Api(str(alice.http.base_url), MANAGER_KEY)
        acct, inv, paid, alloc, notice, suspended, wo, approved = _decisions(alice, mo)
        base = f"/v1/accounts/{acct}"
        trail = alice.ok(
            alice.get(f"{base}/audit-trail", min_position=approved["position"], limit=1000)
        )["entries"]

        def position_of(kind):
            return next(e["position"] for e in trail if e["type"] == kind)

        def why(kind):
            return alice.ok(alice.get(f"/v1/events/{position_of(kind)}/why"))

        # An allocation rests on the payment and on the invoice it paid.
        allocated = why("arledger.invoice.payment_allocated")
        rested = allocated["rested_on"]
        assert [e["type"] for e in rested[inv["id"]]] == ["arledger.invoice.raised"]
        assert [e["type"] for e in rested[paid["id"]]] == ["arledger.payment.recorded"]
        assert "arledger.payment.allocated" in [e["type"] for e in allocated["same_command"]]
        assert allocated["people"][0]["actor"] == "alice"
        assert alloc["position"] >= allocated["event"]["position"]

        # The notice rests on the overdue invoice as it stood: raised, part paid.
        reminder = why("arledger.account.notice_issued")
        assert reminder["event"]["data"]["total_chased"] == gbp(800_00)
        assert [e["type"] for e in reminder["rested_on"][inv["id"]]] == [
            "arledger.invoice.raised",
            "arledger.invoice.payment_allocated",
        ]
        assert notice["position"] == reminder["event"]["position"]

        # The suspension rests on the account's collection history: the reminder.
        suspension = why("arledger.account.standing_changed")
        assert suspension["event"]["reason"] == "no reply to reminder"
        assert [e["type"] for e in suspension["collection_history"]] == [
            "arledger.account.notice_issued"
        ]
        assert suspended["status"] == "suspended"

        # The write-off names who asked and who approved (four eyes), and the request.
        written_off = why("arledger.invoice.written_off")
        people = {person["actor"]: person["did"] for person in written_off["people"]}
        assert set(people) >= {"alice", "mo"}
        assert written_off["people"][0]["actor"] == "mo"
        request = written_off["rested_on"][wo.json()["id"]]
        assert [e["type"] for e in request] == [
            "arledger.write_off.requested",
            "arledger.write_off.approved",
        ]
        assert request[0]["actor"] == "alice" and request[1]["actor"] == "mo"

        missing = alice.get("/v1/events/999999/why")
        assert missing.status_code == 404
        assert missing.json()["type"] == "/v1/problems/unknown-position"
