"""The reports against figures worked out by hand for a small book.

The book (GBP, as it stands at 2026-06-30):

    Acme   A1  1,000.00  issued 03-01  due 03-31   400.00 paid 04-15  -> 600.00, 91 days
           A2    500.00  issued 05-01  due 05-31                      -> 500.00, 30 days
           A3    300.00  issued 06-20  due 07-20                      -> 300.00, current
           A4  1,200.00  issued 06-05  due 07-05  paid in full 06-25 (card)
           and 50.00 by bacs on 06-25, not allocated
    Bolt   B1    800.00  issued 04-01  due 05-01  credit note 200.00 on 06-10 -> 600.00, 60 days
           B2    250.00  issued 03-15  due 04-14  paid 07-05 (after the date) -> 250.00, 77 days

Aged debt at 06-30: current 300, 1-30 500, 31-60 600, 61-90 250, 91+ 600, total 2,250.

Debtor days for June (30 days):
    opening (end of 05-31): A1 600 + A2 500 + B1 800 + B2 250        = 2,150
    credit sales: A3 300 + A4 1,200 - credit note 200                 = 1,300
    closing (06-30)                                                   = 2,250
    not yet due at 06-30 (due on or after it): A3                     =   300
    standard DSO   2,250 / 1,300 x 30                                 =  51.92
    best possible    300 / 1,300 x 30                                 =   6.92
    delinquent     1,950 / 1,300 x 30                                 =  45.00
    CEI  (2,150 + 1,300 - 2,250) / (2,150 + 1,300 - 300) x 100        =  38.10
    countback: June sales 1,300 (30 days), May 500 (31 days), then 450 of April's 800:
               30 + 31 + 450/800 x 30                                 =  77.88
    average days to pay: A4, 1,200 applied 20 days after issue        =  20.00
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.pipeline import pipeline
from tests.support import gbp


def _book(api):
    acme = api.open_account("Acme Rooms")["id"]
    bolt = api.open_account("Bolt Bikes")["id"]
    a1 = api.raise_invoice(acme, "A1", 1_000_00, "2026-03-01", "2026-03-31")["id"]
    api.raise_invoice(acme, "A2", 500_00, "2026-05-01", "2026-05-31")
    api.raise_invoice(acme, "A3", 300_00, "2026-06-20", "2026-07-20")
    a4 = api.raise_invoice(acme, "A4", 1_200_00, "2026-06-05", "2026-07-05")["id"]
    b1 = api.raise_invoice(bolt, "B1", 800_00, "2026-04-01", "2026-05-01")["id"]
    b2 = api.raise_invoice(bolt, "B2", 250_00, "2026-03-15", "2026-04-14")["id"]
    pay = api.record_payment(acme, 400_00, received_on="2026-04-15")["id"]
    api.allocate(pay, {"allocations": [{"invoice_id": a1, "amount": gbp(400_00)}]})
    pay = api.record_payment(acme, 1_200_00, method="card", received_on="2026-06-25")["id"]
    api.allocate(pay, {"allocations": [{"invoice_id": a4, "amount": gbp(1_200_00)}]})
    api.record_payment(acme, 50_00, method="bacs", received_on="2026-06-25")
    api.ok(
        api.post(
            f"/v1/invoices/{b1}/credit-notes",
            {"amount": gbp(200_00), "reason": "two bikes returned", "issued_on": "2026-06-10"},
        )
    )
    pay = api.record_payment(bolt, 250_00, received_on="2026-07-05")["id"]
    api.allocate(pay, {"allocations": [{"invoice_id": b2, "amount": gbp(250_00)}]})
    return acme, bolt, b1


def _buckets(report):
    names = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_plus", "total")
    return [report[n]["amount"] for n in names]


def test_aged_debt_debtor_days_and_cash_posting_match_the_worked_example(settings):
    with pipeline(settings) as p:
        api = p.api
        acme, bolt, b1 = _book(api)
        p.wait_until_projected()
        head = p.services.ledger.head_position()
        aged = _aged_debt(api, head)
        _trial_balance(api)
        _debtor_days(api, acme, bolt)
        _cash_posting(api)
        _backdated(api, bolt, b1, aged)


def _aged_debt(api, head):
    """Aged debt at 30 June, whole and by account; returns the report."""
    aged = api.ok(
        api.get("/v1/reports/aged-debt", as_of="2026-06-30", currency="GBP", min_position=head)
    )
    assert _buckets(aged) == [300_00, 500_00, 600_00, 250_00, 600_00, 2_250_00]
    largest = api.ok(
        api.get("/v1/reports/aged-debt", as_of="2026-06-30", currency="GBP", limit="1")
    )
    assert [a["name"] for a in largest["accounts"]] == ["Acme Rooms"]
    assert largest["accounts_count"] == 2 and _buckets(largest) == _buckets(aged)
    assert [(a["name"], _buckets(a)) for a in aged["accounts"]] == [
        ("Acme Rooms", [300_00, 500_00, 0, 0, 600_00, 1_400_00]),
        ("Bolt Bikes", [0, 0, 600_00, 250_00, 0, 850_00]),
    ]
    return aged


def _trial_balance(api):
    """The trial balance at 30 June, reconciled with aged debt."""
    # The trial balance at 30 June: Acme 3,000 invoiced, 1,600 applied; Bolt 1,050
    # invoiced, 200 credited (its 250 payment is applied on 5 July, after the date).
    tb = api.ok(api.get("/v1/reports/trial-balance", as_of="2026-06-30", currency="GBP"))
    assert [
        (a["name"], a["debits"]["amount"], a["credits"]["amount"], a["balance"]["amount"])
        for a in tb["accounts"]
    ] == [
        ("Acme Rooms", 3_000_00, 1_600_00, 1_400_00),
        ("Bolt Bikes", 1_050_00, 200_00, 850_00),
    ]
    assert tb["control"]["debits"] == gbp(4_050_00)
    assert tb["control"]["credits"] == gbp(1_800_00)
    assert tb["accounts_total"] == tb["aged_debt_total"] == gbp(2_250_00)
    assert tb["reconciled"] is True
    top = api.ok(
        api.get(
            "/v1/reports/trial-balance",
            as_of="2026-06-30",
            currency="GBP",
            order="balance",
            limit="1",
        )
    )
    assert [a["name"] for a in top["accounts"]] == ["Acme Rooms"]
    assert top["accounts_count"] == 2 and top["accounts_total"] == gbp(2_250_00)


def _debtor_days(api, acme, bolt):
    """Debtor days for June: the book's, Acme's, and by account."""
    june = {"period_start": "2026-06-01", "period_end": "2026-06-30", "currency": "GBP"}
    dd = api.ok(api.get("/v1/reports/debtor-days", **june))
    assert dd["dso_standard"] == 51.92
    assert dd["best_possible_dso"] == 6.92
    assert dd["average_days_delinquent"] == 45.0
    assert dd["collection_effectiveness_index"] == 38.1
    assert dd["dso_countback"] == 77.88
    assert dd["average_days_to_pay"] == 20.0
    assert dd["figures"]["opening_receivables"] == gbp(2_150_00)
    assert dd["figures"]["credit_sales"] == gbp(1_300_00)
    # Acme alone: opening 1,100, sales 1,500, closing 1,400, not yet due 300.
    acme_dd = api.ok(api.get("/v1/reports/debtor-days", account_id=acme, **june))
    assert acme_dd["dso_standard"] == 28.0  # 1,400 / 1,500 x 30
    assert acme_dd["collection_effectiveness_index"] == 52.17  # 1,200 / 2,300
    by_account = api.ok(api.get("/v1/reports/debtor-days", by_account="true", **june))
    rows = {a["account_id"]: a for a in by_account["accounts"]}
    assert rows[acme]["dso_standard"] == 28.0
    # Bolt's only June sale is a credit note (-200): there is no DSO to speak of, but
    # CEI still is (1,050 + -200 - 850) / (1,050 + -200 - 0) = 0: nothing collected.
    assert rows[bolt]["dso_standard"] is None
    assert rows[bolt]["collection_effectiveness_index"] == 0.0


def _cash_posting(api):
    """Cash posted in June, and in the week of 25 June."""
    month = api.ok(
        api.get("/v1/reports/cash-posting", date="2026-06-25", period="month", currency="GBP")
    )
    assert (month["period_start"], month["period_end"]) == ("2026-06-01", "2026-06-30")
    assert month["received"] == gbp(1_250_00)
    assert month["received_by_method"] == {"bacs": gbp(50_00), "card": gbp(1_200_00)}
    assert month["applied"] == gbp(1_200_00)
    assert month["unallocated"] == gbp(50_00)
    books = month["books"]
    assert [books[k]["amount"] for k in ("opening_receivables", "invoiced", "cash_applied")] == [
        2_150_00,
        1_500_00,
        1_200_00,
    ]
    assert books["credits"] == gbp(200_00)
    assert books["closing_receivables"] == gbp(2_250_00)
    assert books["balanced"] is True
    # The week of Thursday 25 June (22nd to 28th): A4 and A3 are in the opening.
    week = api.ok(
        api.get("/v1/reports/cash-posting", date="2026-06-25", period="week", currency="GBP")
    )
    assert week["period_start"] == "2026-06-22"
    assert week["books"]["opening_receivables"] == gbp(3_450_00)
    assert week["books"]["closing_receivables"] == gbp(2_250_00)
    assert week["books"]["balanced"] is True
    day = next(d for d in week["days"] if d["date"] == "2026-06-25")
    assert day["received"] == gbp(1_250_00) and day["unallocated"] == gbp(50_00)


def _backdated(api, bolt, b1, aged):
    """A backdated payment moves a past date's report; ``as_known_at`` shows it as it was."""
    # A past date's report does not move when later events arrive; a backdated
    # payment recorded now does move it, and as_known_at shows it as it was.
    before_backdating = datetime.now(UTC).isoformat()
    api.raise_invoice(bolt, "B3", 99_00, "2026-07-01", "2026-07-31")
    pay = api.record_payment(bolt, 100_00, received_on="2026-06-25")["id"]
    done = api.allocate(pay, {"allocations": [{"invoice_id": b1, "amount": gbp(100_00)}]})
    now = api.ok(
        api.get(
            "/v1/reports/aged-debt",
            as_of="2026-06-30",
            currency="GBP",
            min_position=done["position"],
        )
    )
    assert _buckets(now) == [300_00, 500_00, 500_00, 250_00, 600_00, 2_150_00]
    then = api.ok(
        api.get(
            "/v1/reports/aged-debt",
            as_of="2026-06-30",
            currency="GBP",
            as_known_at=before_backdating,
        )
    )
    assert _buckets(then) == _buckets(aged)
    assert then["accounts"] == aged["accounts"]


RATIOS = (
    "dso_standard",
    "dso_countback",
    "best_possible_dso",
    "average_days_delinquent",
    "collection_effectiveness_index",
    "average_days_to_pay",
    "figures",
)


def test_the_debtor_days_trend_gives_each_month_what_its_own_report_gives(settings):
    with pipeline(settings) as p:
        api = p.api
        acme, bolt, b1 = _book(api)
        p.wait_until_projected()
        ask = {"currency": "GBP", "period_end": "2026-07-10", "months": "5"}
        trend = api.ok(api.get("/v1/reports/debtor-days/trend", **ask))
        months = trend["months"]
        assert [m["month"] for m in months] == [
            "2026-03",
            "2026-04",
            "2026-05",
            "2026-06",
            "2026-07",
        ]
        assert (months[0]["period_start"], months[-1]["period_end"]) == ("2026-03-01", "2026-07-10")
        for m in months:
            alone = api.ok(
                api.get(
                    "/v1/reports/debtor-days",
                    currency="GBP",
                    period_start=m["period_start"],
                    period_end=m["period_end"],
                )
            )
            assert {k: m[k] for k in RATIOS} == {k: alone[k] for k in RATIOS}, m["month"]
        june = months[3]
        assert (june["dso_standard"], june["dso_countback"]) == (51.92, 77.88)
        assert june["figures"]["not_yet_due"] == gbp(300_00)

        acme_only = api.ok(api.get("/v1/reports/debtor-days/trend", account_id=acme, **ask))
        assert acme_only["months"][3]["dso_standard"] == 28.0

        # Backdated cash recorded later moves June, and as_known_at shows it as it was.
        before = datetime.now(UTC).isoformat()
        pay = api.record_payment(bolt, 100_00, received_on="2026-06-25")["id"]
        done = api.allocate(pay, {"allocations": [{"invoice_id": b1, "amount": gbp(100_00)}]})
        now = api.ok(api.get("/v1/reports/debtor-days/trend", min_position=done["position"], **ask))
        assert now["months"][3]["figures"]["closing_receivables"] == gbp(2_150_00)
        then = api.ok(api.get("/v1/reports/debtor-days/trend", as_known_at=before, **ask))
        assert then["months"] == months

        csv = api.get("/v1/reports/debtor-days/trend", format="csv", **ask)
        lines = csv.text.splitlines()
        assert csv.status_code == 200 and lines[0].startswith("Month,")
        assert len(lines) == 6 and lines[4].startswith("2026-06,")
        too_many = api.get("/v1/reports/debtor-days/trend", **{**ask, "months": "37"})
        assert too_many.status_code == 422


def test_reports_refuse_what_they_cannot_answer(settings):
    with pipeline(settings) as p:
        api = p.api
        bad = api.get("/v1/reports/aged-debt", currency="XXY")
        assert bad.status_code == 422 and bad.json()["type"] == "/v1/problems/unknown-currency"
        backwards = api.get(
            "/v1/reports/debtor-days",
            currency="GBP",
            period_start="2026-06-30",
            period_end="2026-06-01",
        )
        assert backwards.status_code == 422
        assert backwards.json()["type"] == "/v1/problems/bad-period"
        period = api.get("/v1/reports/cash-posting", currency="GBP", period="fortnight")
        assert period.status_code == 422 and "fortnight" in period.json()["detail"]
