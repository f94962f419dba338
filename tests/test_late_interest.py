"""A collections specialist charges a client for paying late. Interest runs day by day on
what each invoice owed, undisputed, at the end of each day, not on today's balance for
the whole period: an invoice part-paid in the period is charged the larger amount until
the payment and the smaller after it, and one paid in full late is still charged for the
days it was late. Rounded half up once, on the total. A charge dated after today is
refused: interest is never charged in advance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.pipeline import pipeline
from tests.support import gbp

FEE = 25_00


def _pay(api, account, invoice, amount, on):
    payment = api.record_payment(account, amount, received_on=on)
    body = {"allocations": [{"invoice_id": invoice["id"], "amount": gbp(amount)}]}
    return api.allocate(payment["id"], body)


def test_late_interest_runs_day_by_day_on_what_was_owed_each_day(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Sunset Holiday Lets")["id"]
        policy = {"fixed_fee": gbp(FEE), "interest_rate_bps": 800, "grace_days": 7}
        api.ok(api.post(f"/v1/accounts/{account}/late-fee-policy", policy))
        part = api.raise_invoice(account, "INV-50", 1_000_00, "2026-01-01", "2026-01-31")
        whole = api.raise_invoice(account, "INV-51", 500_00, "2026-01-01", "2026-01-31")
        _pay(api, account, part, 600_00, "2026-02-17")
        _pay(api, account, whole, 500_00, "2026-02-20")

        # INV-50: 7 to 16 Feb (10 days) on £1,000, 17 Feb to 8 Mar (20 days) on £400:
        # (100,000 x 10 + 40,000 x 20) x 8% / 365 = 394.52p -> 395p (rounded per span it
        # would be 219 + 175 = 394; on today's £400 for 30 days, 263).
        first = api.ok(
            api.post(f"/v1/invoices/{part['id']}/late-charges", {"charge_on": "2026-03-09"})
        )
        assert (first["number"], first["amount"]) == ("INV-50-LC1", gbp(FEE + 395))
        # INV-51 was paid in full, late: 7 to 19 Feb (13 days) on £500 = 142.47p -> 142p.
        paid = api.ok(
            api.post(f"/v1/invoices/{whole['id']}/late-charges", {"charge_on": "2026-03-09"})
        )
        assert paid["amount"] == gbp(FEE + 142)
        # From the last charge on, nothing was owed: nothing to charge.
        nothing = api.post(f"/v1/invoices/{whole['id']}/late-charges", {"charge_on": "2026-04-08"})
        assert nothing.json()["type"] == "/v1/problems/late-charge-not-due"
        # The next month of INV-50 on the £400 still owed: 263p, no second fee.
        second = api.ok(
            api.post(f"/v1/invoices/{part['id']}/late-charges", {"charge_on": "2026-04-08"})
        )
        assert second["amount"] == gbp(263)

        # The late invoice's event says how the charge was worked out.
        events = api.ok(api.get(f"/v1/accounts/{account}/events", min_position=second["position"]))[
            "events"
        ]
        charged = [e["data"] for e in events if e["type"] == "arledger.invoice.late_charged"]
        assert charged[0]["periods"] == [
            {"from": "2026-02-07", "to": "2026-02-17", "days": 10, "undisputed": gbp(1_000_00)},
            {"from": "2026-02-17", "to": "2026-03-09", "days": 20, "undisputed": gbp(400_00)},
        ]
        assert (charged[0]["days"], charged[0]["base"]) == (30, gbp(600_00))  # on average
        assert charged[0]["interest"] == gbp(395)


def test_a_late_charge_dated_after_today_is_refused(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Harbour Lights Cafe")["id"]
        policy = {"fixed_fee": gbp(FEE), "interest_rate_bps": 800, "grace_days": 0}
        api.ok(api.post(f"/v1/accounts/{account}/late-fee-policy", policy))
        invoice = api.raise_invoice(account, "HL-1", 1_000_00, "2026-01-01", "2026-01-31")
        today = datetime.now(UTC).date()
        tomorrow = (today + timedelta(days=1)).isoformat()
        head = p.services.ledger.head_position()
        refused = api.post(f"/v1/invoices/{invoice['id']}/late-charges", {"charge_on": tomorrow})
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"] == "/v1/problems/late-charge-dated-in-future"
        assert refused.json()["latest"] == today.isoformat()
        assert p.services.ledger.head_position() == head  # appends nothing
        charged = api.ok(
            api.post(f"/v1/invoices/{invoice['id']}/late-charges", {"charge_on": today.isoformat()})
        )
        assert charged["issued_on"] == today.isoformat()
