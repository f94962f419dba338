"""The collections specialist's day: an overdue account gets a reminder; the client
disputes part of one invoice; the final demand goes out on what is not disputed and says
why; the dispute is upheld as a credit note; an insolvent account is never chased."""

from __future__ import annotations

from tests.pipeline import pipeline
from tests.support import gbp


def refused(response, code):
    assert response.status_code == 409, response.text
    assert response.json()["type"] == f"/v1/problems/{code}"


def test_notices_rest_on_overdue_undisputed_invoices_and_say_why(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Canal Street Bar")
        path = f"/v1/accounts/{account['id']}/notices"
        jan = api.raise_invoice(account["id"], "LIC-1", 300_00, "2026-01-01", "2026-01-31")
        feb = api.raise_invoice(account["id"], "LIC-2", 200_00, "2026-02-01", "2026-03-03")
        mar = api.raise_invoice(account["id"], "LIC-3", 100_00, "2026-03-01", "2026-03-31")

        def notice(stage, on, **chosen):
            body = {"stage": stage, "channel": "email", "notice_on": on}
            return api.post(path, {**body, **(chosen or {"all_eligible": True})})

        before = p.services.ledger.head_position()
        refused(
            notice("final_demand", "2026-03-10", invoice_ids=[jan["id"]]),
            "notice-stage-out-of-order",
        )
        refused(notice("reminder", "2026-03-10", invoice_ids=[mar["id"]]), "invoice-not-overdue")
        assert p.services.ledger.head_position() == before  # refusals append nothing

        reminder = api.ok(notice("reminder", "2026-03-10"))
        assert [row["number"] for row in reminder["invoices"]] == ["LIC-1", "LIC-2"]
        assert [row["days_overdue"] for row in reminder["invoices"]] == [38, 7]
        assert reminder["total_chased"] == gbp(500_00)

        dispute = api.ok(
            api.post(
                f"/v1/invoices/{feb['id']}/disputes",
                {"amount": gbp(200_00), "reason": "room double-booked on 14 Feb"},
            )
        )
        assert dispute["invoice"]["disputed"] == gbp(200_00)
        refused(
            api.post(f"/v1/invoices/{feb['id']}/disputes", {"amount": gbp(1), "reason": "again"}),
            "dispute-exceeds-undisputed",
        )
        refused(notice("final_demand", "2026-04-01", invoice_ids=[feb["id"]]), "invoice-disputed")

        final = api.ok(notice("final_demand", "2026-04-01"))
        # LIC-2 is wholly disputed and LIC-3 has had no reminder: only LIC-1 is chased.
        assert [(r["number"], r["chased"]["amount"]) for r in final["invoices"]] == [
            ("LIC-1", 300_00)
        ]

        _upheld_as_a_credit_note(api, account, feb, dispute)


def _upheld_as_a_credit_note(api, account, feb, dispute):
    """The dispute upheld with a 150.00 credit: the balance moves, and the history shows
    both notices (the final demand saying why) and the credit note."""
    upheld = api.ok(
        api.post(
            f"/v1/invoices/{feb['id']}/disputes/{dispute['id']}/resolve",
            {
                "outcome": "upheld",
                "reason": "booking system error",
                "resolved_on": "2026-04-03",
                "credit": gbp(150_00),
            },
        )
    )
    assert (upheld["credited"], upheld["outstanding"], upheld["disputed"]) == (
        gbp(150_00),
        gbp(50_00),
        gbp(0),
    )
    balance = api.ok(
        api.get(f"/v1/accounts/{account['id']}/balance", min_position=upheld["position"])
    )
    assert (balance["credited"], balance["outstanding"]) == (gbp(150_00), gbp(450_00))

    events = api.ok(
        api.get(f"/v1/accounts/{account['id']}/events", min_position=upheld["position"])
    )["events"]
    notices = [e for e in events if e["type"] == "arledger.account.notice_issued"]
    assert [e["data"]["stage"] for e in notices] == ["reminder", "final_demand"]
    why = notices[1]["data"]["invoices"][0]
    assert (why["number"], why["days_overdue"], why["outstanding"]) == (
        "LIC-1",
        60,
        gbp(300_00),
    )
    credit = next(e for e in events if e["type"] == "arledger.invoice.credit_note_issued")
    assert credit["data"]["reason"] == "dispute upheld: booking system error"


def test_a_held_insolvent_or_settled_account_gets_no_notice(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Blue Anchor Pub")
        base = f"/v1/accounts/{account['id']}"
        invoice = api.raise_invoice(account["id"], "LIC-7", 90_00, "2026-01-01", "2026-01-31")
        body = {
            "stage": "reminder",
            "channel": "post",
            "notice_on": "2026-03-01",
            "all_eligible": True,
        }

        card = api.record_payment(account["id"], 90_00, method="card")
        api.allocate(card["id"], {"strategy": "oldest_first"})
        settled = api.post(f"{base}/notices", body)
        assert settled.json()["type"] == "/v1/problems/account-settled"

        api.ok(
            api.post(
                f"/v1/payments/{card['id']}/chargebacks",
                {"amount": gbp(90_00), "reason": "stolen card", "opened_on": "2026-02-10"},
            )
        )
        api.ok(api.post(f"{base}/standing", {"action": "hold", "reason": "query open"}))
        held = api.post(f"{base}/notices", body)
        assert held.json()["type"] == "/v1/problems/dunning-stopped"
        api.ok(api.post(f"{base}/standing", {"action": "reinstate", "reason": "query closed"}))
        case = api.ok(api.post(f"{base}/insolvency-cases", {"kind": "liquidation"}))
        insolvent = api.post(f"{base}/notices", body)
        assert insolvent.json()["type"] == "/v1/problems/dunning-stopped"
        assert "liquidation" in insolvent.json()["detail"]
        history = api.ok(api.get(f"{base}/events", min_position=case["position"]))["events"]
        assert history[-1]["type"] == "arledger.account.insolvency_case_opened"
        assert not [e for e in history if e["type"] == "arledger.account.notice_issued"]
        reopened = api.ok(api.get(f"/v1/invoices/{invoice['id']}"))
        assert reopened["outstanding"] == gbp(90_00)  # chased by nobody, still owed


def test_invoices_are_sent_and_resent_receipts_issued_and_credit_limits_flagged(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.ok(
            api.post(
                "/v1/accounts",
                {
                    "name": "Marina Apartments SL",
                    "currency": "EUR",
                    "payment_terms_days": 30,
                    "credit_limit": {"amount": 1_000_00, "currency": "EUR"},
                },
            )
        )
        first = api.raise_invoice(
            account["id"], "OP-1", 800_00, "2026-01-01", "2026-01-31", currency="EUR"
        )
        assert first["credit_limit_exceeded"] is False
        second = api.raise_invoice(
            account["id"], "OP-2", 300_00, "2026-02-01", "2026-03-03", currency="EUR"
        )
        assert second["credit_limit_exceeded"] is True  # allowed, and flagged

        sent = api.ok(api.post(f"/v1/invoices/{first['id']}/sends", {"channel": "email"}))
        resent = api.ok(
            api.post(
                f"/v1/invoices/{first['id']}/sends",
                {"channel": "post", "recipient": "Calle Mayor 4, Marbella"},
            )
        )
        assert (sent["sends"], resent["sends"]) == (1, 2)

        pending = api.record_payment(
            account["id"], 800_00, method="bacs", status="pending", currency="EUR"
        )
        early = api.post(f"/v1/payments/{pending['id']}/receipts", {"channel": "email"})
        assert early.status_code == 409  # no receipt before the money has arrived
        api.ok(api.post(f"/v1/payments/{pending['id']}/outcome", {"status": "succeeded"}))
        receipt = api.ok(api.post(f"/v1/payments/{pending['id']}/receipts", {"channel": "email"}))
        assert receipt["receipts"] == 1

        events = api.ok(
            api.get(f"/v1/accounts/{account['id']}/events", min_position=receipt["position"])
        )["events"]
        raised = [e["data"] for e in events if e["type"] == "arledger.invoice.raised"]
        assert raised[1]["exposure"] == {"amount": 1_100_00, "currency": "EUR"}
        sends = [e["data"] for e in events if e["type"] == "arledger.invoice.sent"]
        assert [(s["channel"], s["resend"]) for s in sends] == [("email", False), ("post", True)]
        assert [e["type"] for e in events].count("arledger.payment.receipt_issued") == 1


def test_late_payment_charges_are_separate_invoices_worked_out_to_the_penny(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Sunset Holiday Lets")
        invoice = api.raise_invoice(account["id"], "INV-40", 1_000_00, "2026-01-01", "2026-01-31")
        charge = f"/v1/invoices/{invoice['id']}/late-charges"

        unconfigured = api.post(charge, {"charge_on": "2026-03-09"})
        assert unconfigured.json()["type"] == "/v1/problems/late-fees-not-configured"
        policy = {"fixed_fee": gbp(25_00), "interest_rate_bps": 800, "grace_days": 7}
        api.ok(api.post(f"/v1/accounts/{account['id']}/late-fee-policy", policy))
        too_early = api.post(charge, {"charge_on": "2026-02-07"})
        assert too_early.json()["type"] == "/v1/problems/late-charge-not-due"
        assert too_early.json()["chargeable_after"] == "2026-02-07"

        first = api.ok(api.post(charge, {"charge_on": "2026-03-09"}))
        # 30 days from 7 Feb: 100,000p x 8% x 30/365 = 657.53p -> 658p, plus the £25 fee.
        assert (first["number"], first["amount"]) == ("INV-40-LC1", gbp(25_00 + 658))
        assert (first["kind"], first["charged_for"]) == ("late_charge", invoice["id"])
        again = api.post(charge, {"charge_on": "2026-03-09"})
        assert again.json()["type"] == "/v1/problems/late-charge-not-due"  # never twice
        second = api.ok(api.post(charge, {"charge_on": "2026-04-08"}))
        assert (second["number"], second["amount"]) == ("INV-40-LC2", gbp(658))  # no new fee

        balance = api.ok(
            api.get(f"/v1/accounts/{account['id']}/balance", min_position=second["position"])
        )
        assert balance["invoiced"] == gbp(1_000_00 + 25_00 + 658 + 658)
        lc = api.ok(api.get(f"/v1/invoices/{first['id']}", min_position=second["position"]))
        assert lc["outstanding"] == gbp(25_00 + 658)  # owed, aged and paid like any invoice


def test_simple_interest_rounds_half_up_in_minor_units():
    from ledger.late_charges import simple_interest

    assert simple_interest(1_825, 1_000, 1) == 1  # exactly half a penny rounds up
    assert simple_interest(1_824, 1_000, 1) == 0
    assert simple_interest(100_000, 800, 365) == 8_000
