"""The payment coordinator's week: a direct debit settles two invoices and comes back three
days later; a card payment is charged back and the chargeback won; an over-payment is
refunded; a misapplied payment is moved to the right invoice."""

from __future__ import annotations

from uuid import UUID

from tests.pipeline import pipeline
from tests.support import gbp


def test_a_returned_direct_debit_reopens_what_it_settled(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Harbour Meeting Rooms Ltd")
        jan = api.raise_invoice(account["id"], "MR-1", 200_00, "2026-01-05", "2026-02-04")
        feb = api.raise_invoice(account["id"], "MR-2", 100_00, "2026-02-05", "2026-03-07")
        dd = api.record_payment(account["id"], 300_00, method="direct_debit")
        api.allocate(dd["id"], {"strategy": "oldest_first"})

        returned = api.ok(
            api.post(
                f"/v1/payments/{dd['id']}/return",
                {"return_code": "ARUDD-0", "returned_on": "2026-03-04", "reason": "no funds"},
            )
        )
        assert returned["status"] == "returned"
        assert returned["allocated"] == gbp(0) and returned["unallocated"] == gbp(0)
        assert returned["taken_back"] == gbp(300_00)

        at = returned["position"]
        for invoice, amount in ((jan, 200_00), (feb, 100_00)):
            now = api.ok(api.get(f"/v1/invoices/{invoice['id']}", min_position=at))
            assert (now["status"], now["outstanding"]) == ("open", gbp(amount))
        balance = api.ok(api.get(f"/v1/accounts/{account['id']}/balance", min_position=at))
        assert (balance["paid"], balance["allocated"], balance["outstanding"]) == (
            gbp(0),
            gbp(0),
            gbp(300_00),
        )
        events = api.ok(api.get(f"/v1/accounts/{account['id']}/events", min_position=at))
        kinds = [e["type"] for e in events["events"]]
        # A booking service that released the rooms on "settled" hears "reopened".
        assert kinds.count("arledger.invoice.settled") == 2
        assert kinds.count("arledger.invoice.reopened") == 2
        reversal = next(e for e in events["events"] if e["type"] == "arledger.payment.unallocated")
        assert reversal["data"]["rule"] == "return"

        again = api.post(
            f"/v1/payments/{dd['id']}/return",
            {"return_code": "ARUDD-0", "returned_on": "2026-03-05"},
        )
        assert again.status_code == 409
        assert again.json()["type"] == "/v1/problems/payment-not-reversible"
        # The refusal appended nothing. (The notifier may append its own events meanwhile:
        # the settled and reopened invoices are announced; so only what the refused
        # command would have changed is looked at.)
        touched = {UUID(dd["id"]), UUID(jan["id"]), UUID(feb["id"]), UUID(account["id"])}
        later = p.services.ledger.read_log(at, 1_000)
        assert [n.topic for n in later if n.originator_id in touched] == []


def _refund(api, path, pence, **extra):
    """A refund of ``pence`` of the payment at ``path``, for an overpayment."""
    body = {"amount": gbp(pence), "reason": "overpaid", "refunded_on": "2026-03-02"}
    return api.post(f"{path}/refunds", {**body, **extra})


def test_a_card_chargeback_is_won_and_an_overpayment_refunded(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Lumen Events Ltd")
        invoice = api.raise_invoice(account["id"], "MR-7", 450_00, "2026-02-01", "2026-03-03")
        card = api.record_payment(account["id"], 500_00, method="card")
        api.allocate(
            card["id"], {"allocations": [{"invoice_id": invoice["id"], "amount": gbp(450_00)}]}
        )
        path = f"/v1/payments/{card['id']}"

        too_much = _refund(api, path, 60_00)
        assert too_much.status_code == 409
        assert too_much.json()["type"] == "/v1/problems/refund-exceeds-unallocated"
        assert too_much.json()["unallocated"] == gbp(50_00)
        refunded = api.ok(_refund(api, path, 50_00, external_id="re_3Pq"))
        assert (refunded["refunded"], refunded["unallocated"]) == (gbp(50_00), gbp(0))
        # The same Stripe refund delivered again under another key changes nothing.
        repeat = api.ok(_refund(api, path, 50_00, external_id="re_3Pq"))
        assert repeat["refunded"] == gbp(50_00)

        opened = api.ok(
            api.post(
                f"{path}/chargebacks",
                {
                    "amount": gbp(450_00),
                    "reason": "cardholder says not recognised",
                    "opened_on": "2026-03-10",
                    "external_id": "dp_9",
                },
            )
        )
        assert opened["open_chargebacks"] == ["ext:dp_9"] and opened["allocated"] == gbp(0)
        reopened = api.ok(api.get(f"/v1/invoices/{invoice['id']}", min_position=opened["position"]))
        assert reopened["outstanding"] == gbp(450_00)

        won = api.ok(
            api.post(
                f"{path}/chargebacks/ext:dp_9/close",
                {"outcome": "won", "reason": "evidence accepted"},
            )
        )
        assert (won["unallocated"], won["open_chargebacks"]) == (gbp(450_00), [])
        api.allocate(card["id"], {"strategy": "oldest_first"})  # and applied again
        at = p.services.ledger.head_position()
        balance = api.ok(api.get(f"/v1/accounts/{account['id']}/balance", min_position=at))
        assert {k: balance[k]["amount"] for k in ("paid", "refunded", "outstanding")} == {
            "paid": 450_00,
            "refunded": 50_00,
            "outstanding": 0,
        }


def test_a_misapplied_payment_is_moved_to_the_right_invoice(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Quayside Studios")
        wrong = api.raise_invoice(account["id"], "Q-1", 120_00, "2026-01-01", "2026-01-31")
        right = api.raise_invoice(account["id"], "Q-2", 120_00, "2026-01-02", "2026-02-01")
        bacs = api.record_payment(account["id"], 120_00, reference="Q-2")
        api.allocate(
            bacs["id"], {"allocations": [{"invoice_id": wrong["id"], "amount": gbp(120_00)}]}
        )

        over = api.post(
            f"/v1/payments/{bacs['id']}/unallocations",
            {
                "allocations": [{"invoice_id": wrong["id"], "amount": gbp(130_00)}],
                "reason": "reference says Q-2",
            },
        )
        assert over.status_code == 409 and over.json()["type"] == "/v1/problems/over-unallocation"
        freed = api.ok(
            api.post(f"/v1/payments/{bacs['id']}/unallocations", {"reason": "reference says Q-2"})
        )
        assert freed["unallocated"] == gbp(120_00)
        api.allocate(
            bacs["id"], {"allocations": [{"invoice_id": right["id"], "amount": gbp(120_00)}]}
        )

        projected, folded = p.projection_equals_store()
        assert projected == folded
        assert folded["invoices"][wrong["id"]]["allocated"] == 0
        assert folded["invoices"][right["id"]]["allocated"] == 120_00


def test_a_deposit_is_held_applied_refunded_on_termination_and_the_rest_forfeited(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Northgate Offices (tenant)")
        rent = api.raise_invoice(account["id"], "RENT-12", 200_00, "2026-05-01", "2026-05-31")
        deposit = api.record_payment(account["id"], 600_00, purpose="deposit")
        assert deposit["purpose"] == "deposit"
        held = api.ok(
            api.get(f"/v1/accounts/{account['id']}/balance", min_position=deposit["position"])
        )
        assert (held["deposits_held"], held["outstanding"]) == (gbp(600_00), gbp(200_00))

        rows = [{"invoice_id": rent["id"], "amount": gbp(200_00)}]
        api.allocate(deposit["id"], {"allocations": rows})  # the last month's rent from it
        api.ok(
            api.post(
                f"/v1/accounts/{account['id']}/standing",
                {"action": "terminate", "reason": "lease ended"},
            )
        )
        api.ok(
            api.post(
                f"/v1/payments/{deposit['id']}/refunds",
                {
                    "amount": gbp(300_00),
                    "reason": "deposit returned on termination",
                    "refunded_on": "2026-06-15",
                },
            )
        )
        kept = api.ok(
            api.post(
                f"/v1/payments/{deposit['id']}/forfeit",
                {"amount": gbp(100_00), "reason": "damage to the meeting room"},
            )
        )
        assert (kept["forfeited"], kept["unallocated"]) == (gbp(100_00), gbp(0))
        more = api.post(
            f"/v1/payments/{deposit['id']}/forfeit", {"amount": gbp(1), "reason": "again"}
        )
        assert more.json()["type"] == "/v1/problems/refund-exceeds-unallocated"

        ordinary = api.record_payment(account["id"], 10_00)
        refused = api.post(
            f"/v1/payments/{ordinary['id']}/forfeit", {"amount": gbp(10_00), "reason": "no"}
        )
        assert refused.json()["type"] == "/v1/problems/payment-not-reversible"

        at = p.services.ledger.head_position()
        balance = api.ok(api.get(f"/v1/accounts/{account['id']}/balance", min_position=at))
        assert {
            k: balance[k]["amount"]
            for k in (
                "deposits_held",
                "paid",
                "allocated",
                "unallocated",
                "refunded",
                "outstanding",
            )
        } == {
            "deposits_held": 0,
            "paid": 210_00,
            "allocated": 200_00,
            "unallocated": 10_00,
            "refunded": 300_00,
            "outstanding": 0,
        }
        projected, folded = p.projection_equals_store()
        assert projected == folded
