"""A payment-operations rep closing April asks for an account's balance as of 15 April.
Every figure is as of that date, by effective time, as the reports date it: invoices from
their issue, cash from its receipt, an allocation from the later of the two, a credit
note on its own date. Without a date the balance is today's, as before."""

from __future__ import annotations

from tests.pipeline import pipeline
from tests.support import gbp

FIGURES = (
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


def _figures(api, account, position, **query):
    balance = api.ok(api.get(f"/v1/accounts/{account}/balance", min_position=position, **query))
    return {f: balance[f]["amount"] for f in FIGURES}


def test_every_balance_figure_is_as_of_the_date_asked(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Quayside Studios")["id"]
        march = api.raise_invoice(account, "QS-3", 1_000_00, "2026-03-01", "2026-03-31")
        may = api.raise_invoice(account, "QS-5", 500_00, "2026-05-01", "2026-05-31")
        early = api.record_payment(account, 200_00, received_on="2026-02-20")
        api.allocate(
            early["id"], {"allocations": [{"invoice_id": may["id"], "amount": gbp(200_00)}]}
        )
        april = api.record_payment(account, 600_00, received_on="2026-04-10")
        api.allocate(
            april["id"], {"allocations": [{"invoice_id": march["id"], "amount": gbp(600_00)}]}
        )
        credit = api.ok(
            api.post(
                f"/v1/invoices/{march['id']}/credit-notes",
                {"amount": gbp(100_00), "reason": "room unavailable", "issued_on": "2026-04-20"},
            )
        )
        position = credit["position"]

        # 15 April: the March invoice, the cash received in February and April; the
        # February cash is not yet applied (the May invoice it paid was not issued), and
        # the credit note of the 20th has not happened.
        assert _figures(api, account, position, as_of="2026-04-15") == {
            "invoiced": 1_000_00,
            "paid": 800_00,
            "allocated": 600_00,
            "unallocated": 200_00,
            "credited": 0,
            "written_off": 0,
            "refunded": 0,
            "deposits_held": 0,
            "outstanding": 400_00,
            "overdue": 400_00,
        }
        aged = api.ok(
            api.get(
                "/v1/reports/aged-debt",
                currency="GBP",
                as_of="2026-04-15",
                account_id=account,
                min_position=position,
            )
        )
        assert aged["total"] == gbp(400_00)  # the balance and the report agree
        # Before anything was issued or received.
        assert set(_figures(api, account, position, as_of="2026-02-01").values()) == {0}

        # Today: everything, as without a date.
        today = _figures(api, account, position)
        assert today == {
            "invoiced": 1_500_00,
            "paid": 800_00,
            "allocated": 800_00,
            "unallocated": 0,
            "credited": 100_00,
            "written_off": 0,
            "refunded": 0,
            "deposits_held": 0,
            "outstanding": 600_00,
            "overdue": 600_00,
        }
        on_today = api.ok(api.get(f"/v1/accounts/{account}/balance"))["as_of"]
        assert _figures(api, account, position, as_of=on_today) == today
