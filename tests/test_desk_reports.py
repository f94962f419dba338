"""The reports screen, in a real browser against the real pipeline: each figure a credit
controller reads is the API's own, to the minor unit."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from api.desk.render import money
from infra.settings import Settings
from tests.desk import Browser
from tests.pipeline import pipeline
from tests.support import COORDINATOR_KEY, Api, gbp

BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_plus")


def _book(api: Api) -> dict[str, str]:
    """Two accounts that owe at the end of June, and one that always pays 18 days late."""
    acme = api.open_account("Acme Rooms")["id"]
    bolt = api.open_account("Bolt Bikes")["id"]
    late = api.open_account("Larkin Late Payers Ltd")["id"]
    a1 = api.raise_invoice(acme, "A1", 1_000_00, "2026-03-01", "2026-03-31")["id"]
    api.raise_invoice(acme, "A2", 500_00, "2026-05-01", "2026-05-31")
    api.raise_invoice(acme, "A3", 300_00, "2026-06-20", "2026-07-20")
    api.raise_invoice(bolt, "B1", 800_00, "2026-04-01", "2026-05-01")
    pay = api.record_payment(acme, 400_00, received_on="2026-04-15")["id"]
    api.allocate(pay, {"allocations": [{"invoice_id": a1, "amount": gbp(400_00)}]})
    api.record_payment(acme, 50_05, method="card", received_on="2026-06-25")
    for month in ("01", "02", "03"):
        inv = api.raise_invoice(late, f"L-{month}", 100_00, f"2026-{month}-01", f"2026-{month}-10")
        pay = api.record_payment(late, 100_00, received_on=f"2026-{month}-28")["id"]
        api.allocate(pay, {"allocations": [{"invoice_id": inv["id"], "amount": gbp(100_00)}]})
    return {"acme": acme, "bolt": bolt, "late": late}


def follow(desk: Browser, target: WebElement) -> None:
    """Click ``target`` and wait for the next page to replace this one."""
    desk.follow(target)


def _show(desk: Browser, **fields: str) -> None:
    """Fill the report's parameters (dates through their value, as a picker would)."""
    for name, value in fields.items():
        desk.choose(f"form.filters [name={name}]", value)
    follow(desk, desk.find("form.filters button[type=submit]"))


def test_a_credit_controller_reads_each_report_with_the_apis_figures(
    settings: Settings, chromium_driver: Any
) -> None:
    with pipeline(settings) as p:
        ids = _book(p.api)
        p.wait_until_projected()
        desk = Browser(chromium_driver, p.url)
        desk.sign_in(COORDINATOR_KEY)
        _aged_debt(desk, p.api, ids)
        _debtor_days(desk, p.api)
        _cash_posting(desk, p.api)
        _behaviour_and_trial_balance(desk, p.api, ids)


def _aged_debt(desk: Browser, api: Api, ids: dict[str, str]) -> None:
    desk.open("/reports")
    desk.wait_text("Aged debt at")
    _show(desk, as_of="2026-06-30")
    desk.wait_text("Aged debt at 2026-06-30")
    aged = api.ok(api.get("/v1/reports/aged-debt", currency="GBP", as_of="2026-06-30"))
    for key in BUCKETS:
        assert desk.find(f"[data-bucket={key}]").text == money(aged[key])
    assert desk.find("[data-testid=aged-total]").text == money(aged["total"]) == "2,200.00 GBP"
    assert len(desk.all("svg.chart rect")) == len(BUCKETS)
    row = desk.find(f"tr[data-account='{ids['acme']}']")
    href = row.find_element(By.LINK_TEXT, "Acme Rooms").get_attribute("href") or ""
    assert href.endswith(f"/accounts/{ids['acme']}")
    assert "1,400.00" in row.text  # the 50.05 paid by card is not allocated: still owed
    desk.shot("reports-aged-debt")


def _debtor_days(desk: Browser, api: Api) -> None:
    follow(desk, desk.find("nav.tabs").find_element(By.LINK_TEXT, "Debtor days"))
    desk.wait_text("Debtor days,")
    _show(desk, period_start="2026-06-01", period_end="2026-06-30")
    desk.wait_text("Debtor days, 2026-06-01 to 2026-06-30")
    june = {"currency": "GBP", "period_start": "2026-06-01", "period_end": "2026-06-30"}
    dd = api.ok(api.get("/v1/reports/debtor-days", **june))
    for key in ("dso_standard", "dso_countback", "best_possible_dso"):
        assert desk.find(f"[data-ratio={key}]").text == f"{dd[key]:,.2f} days"
    cei = dd["collection_effectiveness_index"]
    assert desk.find("[data-ratio=collection_effectiveness_index]").text == f"{cei:,.2f}%"
    desk.wait_for(lambda: desk.all("#trend tbody tr"), "the 12-month trend, included")
    months = desk.all("#trend tbody tr")
    assert len(months) == 12 and months[0].text.startswith("2026-06")
    assert months[-1].text.startswith("2025-07")
    assert f"{dd['dso_standard']:,.2f}" in months[0].text
    assert desk.all("svg.chart polyline")
    desk.shot("reports-debtor-days")


def _cash_posting(desk: Browser, api: Api) -> None:
    desk.open("/reports/cash-posting?currency=GBP&period=month&date=2026-06-25")
    desk.wait_text("Cash posted 2026-06-01 to 2026-06-30")
    cash = api.ok(
        api.get("/v1/reports/cash-posting", currency="GBP", period="month", date="2026-06-25")
    )
    assert cash["books"]["balanced"] is True
    assert "The books balance" in desk.find("[data-testid=books]").text
    assert desk.find("[data-testid=received]").text == money(cash["received"])
    assert desk.find("[data-testid=unallocated]").text == money(cash["unallocated"])
    assert money(cash["unallocated"]) == "50.05 GBP"
    desk.shot("reports-cash-posting")


def _behaviour_and_trial_balance(desk: Browser, api: Api, ids: dict[str, str]) -> None:
    desk.open("/reports/payment-behaviour?currency=GBP")
    desk.wait_text("How late each account pays")
    flagged = desk.find(f"tr[data-account='{ids['late']}']")
    assert "routinely late" in flagged.text and "18.00" in flagged.text
    assert len(desk.all("tbody .badge.failed")) == 1  # Acme has settled nothing yet
    desk.shot("reports-payment-behaviour")

    desk.open("/reports/trial-balance?currency=GBP&as_of=2026-06-30")
    desk.wait_text("Receivables trial balance at 2026-06-30")
    tb = api.ok(api.get("/v1/reports/trial-balance", currency="GBP", as_of="2026-06-30"))
    assert tb["reconciled"] is True and "Reconciled" in desk.text
    assert desk.find("[data-testid=control-balance]").text == money(tb["control"]["balance"])
    desk.shot("reports-trial-balance")

    # A currency the ledger does not know: the API's words next to the form, kept.
    _show(desk, currency="XXY")
    desk.wait_text("currency must be an upper-case ISO 4217 code")
    assert desk.find("#currency").get_attribute("value") == "XXY"
