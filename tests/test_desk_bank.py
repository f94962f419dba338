"""The bank screen, in a real browser against the real pipeline: a statement uploaded,
what was matched shown, and the exceptions queue worked until it is empty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from infra.settings import Settings
from tests.desk import Browser, DeskHttp, hidden
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, COORDINATOR_KEY, Api

STATEMENT = (
    "Date,Amount,Reference,Payer\n"
    "2026-11-02,1200.00,INV-1001,ACME MEETING ROOMS LTD\n"  # certain: recorded and allocated
    "2026-11-05,500.00,INV-5000,DELTA\n"  # two accounts have an INV-5000
    "2026-11-05,77.77,XYZ REF,JOHN SMITH\n"  # nobody's
)


def follow(desk: Browser, target: WebElement) -> None:
    """Click ``target`` and wait for the next page to replace this one."""
    desk.follow(target)


def _book(api: Api) -> dict[str, str]:
    acme = api.open_account("Acme Meeting Rooms Ltd")["id"]
    hotels = api.open_account("Delta Hotels Ltd")["id"]
    venues = api.open_account("Delta Venues Ltd")["id"]
    api.raise_invoice(acme, "INV-1001", 1_200_00, "2026-09-15", "2026-10-15")
    api.raise_invoice(hotels, "INV-5000", 500_00, "2026-09-15", "2026-10-15")
    inv = api.raise_invoice(venues, "INV-5000", 500_00, "2026-09-15", "2026-10-15")
    return {"acme": acme, "hotels": hotels, "venues": venues, "venues_invoice": inv["id"]}


def _queue(api: Api) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = api.ok(api.get("/v1/bank-statements/lines", outcome="exception"))[
        "lines"
    ]
    return lines


def test_a_coordinator_uploads_a_statement_and_works_the_exceptions_queue(
    settings: Settings, chromium_driver: Any, tmp_path: Path
) -> None:
    with pipeline(settings) as p:
        ids = _book(p.api)
        p.wait_until_projected()
        csv = tmp_path / "november.csv"
        csv.write_text(STATEMENT)
        desk = Browser(chromium_driver, p.url)
        desk.sign_in(COORDINATOR_KEY)
        _upload(desk, csv)

        follow(desk, desk.find("main").find_element(By.LINK_TEXT, "Work the queue"))
        desk.wait_text("2 lines waiting for you")
        ambiguous, unknown = _queue(p.api)
        line = desk.find(f"article[data-line='{ambiguous['line_id']}']")
        assert "Delta Hotels Ltd" in line.text and "Delta Venues Ltd" in line.text
        desk.shot("bank-queue")
        # An auditor reads the same queue but is offered no upload and no action.
        auditor = DeskHttp(p.url, AUDITOR_KEY)
        page = auditor.get("/bank")
        assert page.status_code == 200 and ambiguous["line_id"] in page.text
        assert 'method="post"' not in page.text.split("</header>")[1]
        auditor.close()
        _refusals(p.url, ambiguous["line_id"], unknown["line_id"], ids)
        assert len(_queue(p.api)) == 2

        _place(desk, line, ids)
        assert not desk.all(f"article[data-line='{ambiguous['line_id']}']")
        p.wait_until_projected()
        balance = p.api.ok(p.api.get(f"/v1/accounts/{ids['venues']}/balance"))
        assert balance["paid"]["amount"] == 500_00 and balance["outstanding"]["amount"] == 0
        hotels = p.api.ok(p.api.get(f"/v1/accounts/{ids['hotels']}/balance"))
        assert hotels["paid"]["amount"] == 0
        _set_aside(desk, p.api, unknown["line_id"])


def _upload(desk: Browser, csv: Path) -> None:
    desk.open("/bank")
    desk.wait_text("Nothing waiting")
    desk.find("#statement").send_keys(str(csv))
    follow(desk, desk.find("#upload button[type=submit]"))
    desk.wait_text("Statement imported: 3 lines read")
    outcomes = [r.get_attribute("data-outcome") for r in desk.all("tbody tr")]
    assert outcomes == ["allocated", "exception", "exception"]
    assert "Acme Meeting Rooms Ltd" in desk.all("tbody tr")[0].text
    assert "INV-1001: 1,200.00 GBP" in desk.all("tbody tr")[0].text
    desk.shot("bank-statement")


def _place(desk: Browser, line: WebElement, ids: dict[str, str]) -> None:
    """Delta Venues is the one: its candidate form proposes the invoice the amount pays."""
    venues = line.find_element(By.CSS_SELECTOR, f"details[data-account='{ids['venues']}']")
    if not venues.get_attribute("open"):
        venues.find_element(By.TAG_NAME, "summary").click()
    field = venues.find_element(By.CSS_SELECTOR, f"[name=amount_{ids['venues_invoice']}]")
    assert field.get_attribute("value") == "500.00"
    follow(desk, venues.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    desk.wait_text("Line placed on the account")
    assert "1 line waiting for you" in desk.text


def _set_aside(desk: Browser, api: Api, line_id: str) -> None:
    """The stranger's 77.77 is no client's: set aside with a note, the queue is empty."""
    line = desk.find(f"article[data-line='{line_id}']")
    aside = line.find_elements(By.CSS_SELECTOR, "details.candidate")[-1]
    aside.find_element(By.TAG_NAME, "summary").click()
    aside.find_element(By.TAG_NAME, "textarea").send_keys("Refund from a supplier")
    follow(desk, aside.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    desk.wait_text("Line set aside")
    assert "Nothing waiting" in desk.text and _queue(api) == []
    dismissed = api.ok(api.get("/v1/bank-statements/lines", outcome="dismissed"))["lines"]
    assert [d["note"] for d in dismissed] == ["Refund from a supplier"]
    desk.shot("bank-queue-empty")


def _refusals(base: str, ambiguous: str, unknown: str, ids: dict[str, str]) -> None:
    """Forms refused next to their line, keeping what was typed, recording nothing."""
    desk = DeskHttp(base, COORDINATOR_KEY)
    page = desk.get("/bank")
    tokens = {"csrf": hidden(page.text, "csrf"), "idem": hidden(page.text, "idem")}
    field = f"amount_{ids['venues_invoice']}"
    form = {"action": "resolve", "account_id": ids["venues"], "currency": "GBP", "how": "explicit"}
    refused = desk.post(
        f"/bank/lines/{ambiguous}",
        {**tokens, **form, "invoice": ids["venues_invoice"], field: "500.001"},
    )
    assert refused.status_code == 422 and "more decimals than GBP has" in refused.text
    assert 'value="500.001"' in refused.text
    other = {**form, "other": "1", "account_id": "Nobody Ltd", "how": "oldest_first"}
    refused = desk.post(f"/bank/lines/{unknown}", {**tokens, **other})
    assert refused.status_code == 422 and "no account&#39;s name" in refused.text
    assert 'value="Nobody Ltd"' in refused.text
    desk.close()
