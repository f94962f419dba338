"""The audit screen, in a real browser against the real pipeline: an auditor reads the
checkpoints, replays an account as the ledger knew it, asks why an event happened,
verifies the store and downloads the export pack, and is offered no action at all."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from api.desk.render import money
from infra.settings import Settings
from tests.desk import Browser, DeskHttp
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, Api, gbp

PERIOD = {"from": "2026-01-01", "to": "2026-12-31"}


def follow(desk: Browser, target: WebElement) -> None:
    """Click ``target`` and wait for the next page to replace this one."""
    desk.follow(target)


def _book(api: Api) -> tuple[str, str]:
    """An account paid in part; then, once the moment is noted, a payment backdated into
    June. The moment is returned as a person would type it (to the second, UTC)."""
    acme = api.open_account("Acme Rooms")["id"]
    inv = api.raise_invoice(acme, "A1", 1_000_00, "2026-05-01", "2026-05-31")["id"]
    pay = api.record_payment(acme, 400_00, received_on="2026-06-10")["id"]
    api.allocate(pay, {"allocations": [{"invoice_id": inv, "amount": gbp(400_00)}]})
    time.sleep(1.1)
    known = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    time.sleep(1.1)
    late = api.record_payment(acme, 250_00, received_on="2026-06-20")["id"]
    api.allocate(late, {"allocations": [{"invoice_id": inv, "amount": gbp(250_00)}]})
    return acme, known


def test_an_auditor_replays_asks_why_verifies_and_downloads_with_no_action_offered(
    settings: Settings, chromium_driver: Any
) -> None:
    with pipeline(settings) as p:
        acme, known = _book(p.api)
        p.wait_until_projected()
        auditor_api = Api(p.url, AUDITOR_KEY)
        checkpoint = auditor_api.ok(auditor_api.post("/v1/checkpoints", {}))
        desk = Browser(chromium_driver, p.url)
        desk.sign_in(AUDITOR_KEY)
        desk.wait_text("Read-only")
        assert "/audit" in desk.driver.current_url
        assert str(checkpoint["position"]) in desk.find("#checkpoints tbody").text
        assert not desk.all("main form[method=post]") and not desk.all("main button.danger")
        desk.shot("audit")

        _replay(desk, auditor_api, acme, known)
        _why(desk, auditor_api)
        desk.open("/audit")
        follow(desk, desk.find("main").find_element(By.LINK_TEXT, "Verify the store now"))
        assert "Intact" in desk.find("[data-testid=verified]").text
        desk.shot("audit-verification")
        _pack(p.url, auditor_api)
        auditor_api.close()
        _questions_it_cannot_answer_are_pages(p.url)


def _replay(desk: Browser, api: Api, acme: str, known: str) -> None:
    """Acme as the ledger knew it before the backdated payment was recorded."""
    desk.fill("#account", "Acme Rooms")
    desk.choose("#as_of", "2026-06-30")
    desk.choose("#as_known_at", known)
    follow(desk, desk.find("form[action='/audit/replay'] button[type=submit]"))
    desk.wait_text("Acme Rooms replayed")
    then = api.ok(api.get(f"/v1/accounts/{acme}/replay", as_of="2026-06-30", as_known_at=known))
    assert desk.find("[data-testid=outstanding]").text == money(then["balance"]["outstanding"])
    assert then["balance"]["outstanding"] == gbp(600_00)  # the 250 came later
    assert "Hash chains intact" in desk.find("[data-testid=chains]").text
    assert not desk.all("main form[method=post]")
    desk.shot("audit-replay")


def _why(desk: Browser, api: Api) -> None:
    """Why was the 400 allocated? The position links to its "why"."""
    row = next(r for r in desk.all("#events tbody tr") if "allocated" in r.text)
    position = row.find_element(By.CSS_SELECTOR, "td a").text
    follow(desk, row.find_element(By.CSS_SELECTOR, "td a"))
    desk.wait_text(f"Why event {position} happened")
    why = api.ok(api.get(f"/v1/events/{position}/why"))
    assert desk.find("[data-testid=actor]").text == why["event"]["actor"]
    assert "What it rested on: invoice A1" in desk.text
    desk.shot("audit-why")


def _pack(base: str, api: Api) -> None:
    """The pack, byte for byte the API's, under the API's own file name."""
    http = DeskHttp(base, AUDITOR_KEY)
    pack = http.get("/audit/export", **PERIOD)
    direct = api.http.get("/v1/exports", params=PERIOD)
    assert pack.status_code == 200, pack.text
    assert pack.headers["content-type"] == "application/zip"
    assert pack.headers["content-disposition"] == direct.headers["content-disposition"]
    assert pack.content == direct.content
    bad = http.get("/audit/export", **{"from": "2026-12-31", "to": "2026-01-01"})
    assert bad.status_code == 422 and "Export pack" in bad.text
    http.close()


# What a mistyped question answers: a page saying why, never a trace or raw JSON.
UNANSWERABLE = (
    ("/audit/why?position=999999", 404, "No event at this position"),
    ("/audit/why?position=abc", 422, "a position is a whole number"),
    ("/audit/replay?account=Nobody+Ltd", 422, "no account&#39;s name"),
    ("/audit/replay?account=Acme+Rooms&as_known_at=yesterday", 422, "as_known_at"),
    ("/reports/debtor-days?period_start=2026-06-30&period_end=2026-06-01", 422, "before"),
    ("/reports/cash-posting?period=fortnight", 422, "fortnight"),
    ("/bank/statements/not-an-id", 404, "not a statement id"),
)


def _questions_it_cannot_answer_are_pages(base: str) -> None:
    http = DeskHttp(base, AUDITOR_KEY)
    for path, status, words in UNANSWERABLE:
        answer = http.http.get(path)
        assert answer.status_code == status, (path, answer.status_code, answer.text[:300])
        assert answer.headers["content-type"].startswith("text/html"), path
        assert words in answer.text and "Traceback" not in answer.text, path
    http.close()
