"""The users' days on the desk, in a real headless Chromium against the real pipeline:
what a coordinator, a collections specialist and a manager would see and do."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from infra.settings import Settings
from tests import stripe_payloads as sp
from tests.desk import Browser
from tests.pipeline import pipeline
from tests.stripe_servers import SECRET, confirmed_intent, saved_card, stripe_client
from tests.support import COORDINATOR_KEY, MANAGER_KEY, Api


def test_a_coordinator_resends_a_link_and_sees_the_invoice_paid_without_a_reload(
    stripe_settings: Settings, checkout: Any, localstripe_url: str, chromium_driver: Any
) -> None:
    with pipeline(stripe_settings) as p, stripe_client(localstripe_url) as stripe:
        acct = p.api.open_account("Linked Lounge Ltd")["id"]
        inv = p.api.raise_invoice(acct, "LL-1", 250_00, "2026-10-01", "2026-10-31")["id"]
        p.api.record_payment(
            acct,
            250_00,
            method="card",
            status="failed",
            failure_code="card_declined",
            received_on="2026-11-02",
        )
        p.wait_until_projected()

        desk = Browser(chromium_driver, p.url)
        desk.sign_in(COORDINATOR_KEY)
        desk.wait_text("1 failed to follow up")
        desk.click("tr.action.retry", "Follow up")
        desk.wait_for(lambda: desk.find("#act-payment_link").get_attribute("open"), "the form")
        desk.shot("account-follow-up")
        desk.find("#act-payment_link button[type=submit]").click()
        desk.wait_text("Payment link sent")
        session = list(checkout.sessions.values())[-1]
        assert session["metadata"] == {"invoice_id": inv, "account_id": acct}
        assert "open" in desk.find('tr[data-invoice="LL-1"]').text

        # The client pays on Stripe's page; Stripe tells the ledger by a signed webhook.
        customer = session["customer"]
        card = saved_card(stripe, customer, "4242424242424242")
        pi = confirmed_intent(stripe, customer, card, 250_00, invoice_id=inv, account_id=acct)
        session.update(payment_intent=pi["id"], payment_status="paid", status="complete")
        done = sp.delivered(p.api.http, sp.event("checkout.session.completed", session), SECRET)
        assert done["outcome"] == "applied", done

        row = 'tr[data-invoice="LL-1"]'
        desk.wait_for(lambda: "paid" in desk.find(row).text.split(), "the invoice paid")
        assert "0.00 GBP" in desk.find("[data-testid=outstanding]").text
        desk.shot("account-paid")


def test_a_collections_specialist_works_the_top_of_the_worklist(
    settings: Settings, chromium_driver: Any
) -> None:
    with pipeline(settings) as p:
        big = p.api.open_account("Wolds Print Ltd")["id"]
        p.api.raise_invoice(big, "WP-1", 900_00, "2026-01-01", "2026-01-31")
        small = p.api.open_account("Pennant Catering Ltd")["id"]
        p.api.raise_invoice(small, "PC-1", 50_00, "2026-06-01", "2026-07-01")
        p.wait_until_projected()

        desk = Browser(chromium_driver, p.url)
        desk.sign_in(COORDINATOR_KEY)
        desk.open("/worklist")
        top = desk.all("table.worklist tbody tr")[0]
        assert "Wolds Print Ltd" in top.text and "never contacted" in top.text
        desk.shot("worklist")
        top.find_element(By.XPATH, ".//summary[text()='Log a call']").click()
        form = top.find_element(By.XPATH, ".//summary[text()='Log a call']/..")
        form.find_element(By.NAME, "outcome").send_keys("promised to pay on Friday")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        desk.wait_text("Contact logged")
        top = desk.find(f'tr[data-account="{big}"]')
        assert "never contacted" not in top.text

        top.find_element(By.XPATH, ".//summary[text()='Promise to pay']").click()
        form = top.find_element(By.XPATH, ".//summary[text()='Promise to pay']/..")
        amount = form.find_element(By.NAME, "amount")
        assert amount.get_attribute("value") == "900.00"  # what is overdue, proposed
        desk.choose(f'tr[data-account="{big}"] input[name=promised_on]', "2027-01-15")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        desk.wait_text("Promise recorded")

        # The next notice, shown with the invoices it would rest on before it is sent.
        desk.click(f'tr[data-account="{big}"]', "Next notice…")
        desk.wait_for(lambda: desk.find("#act-notice").get_attribute("open"), "the notice form")
        preview = desk.find("#act-notice").text
        assert "chases 900.00 GBP" in preview and "WP-1: 900.00 GBP" in preview
        assert desk.find("#act-notice input[value=reminder]").is_selected()
        desk.shot("account-notice-preview")
        desk.find("#act-notice button[type=submit]").click()
        desk.wait_text("Notice issued")
        notices = p.api.ok(
            p.api.get(f"/v1/accounts/{big}/audit-trail", type="arledger.account.notice_issued",
                      min_position=p.services.ledger.head_position())
        )  # fmt: skip
        assert [r["number"] for r in notices["entries"][0]["data"]["invoices"]] == ["WP-1"]

        desk.open(f"/accounts/{big}")
        assert "promised to pay on Friday" in desk.text
        promises = desk.find('section[aria-labelledby="arr-h"]').text
        assert "2027-01-15" in promises and "900.00 GBP" in promises and "open" in promises
        trail = p.api.ok(
            p.api.get(
                f"/v1/accounts/{big}/audit-trail",
                type="arledger.promise.*",
                min_position=p.services.ledger.head_position(),
            )
        )
        assert [e["actor"] for e in trail["entries"]] == ["alice"]
        desk.shot("account")


def test_a_manager_approves_a_coordinators_write_off_and_never_her_own(
    settings: Settings, chromium_driver: Any
) -> None:
    with pipeline(settings) as p:
        acct = p.api.open_account("Riverside Legal Ltd")["id"]
        inv = p.api.raise_invoice(acct, "RL-1", 4_000_000, "2026-01-01", "2026-01-31")["id"]
        theirs = p.api.ok(
            p.api.post(
                f"/v1/invoices/{inv}/write-offs",
                {"amount": {"amount": 600_00, "currency": "GBP"}, "reason": "settled for less"},
            )
        )
        manager = Api(p.url, MANAGER_KEY)
        mine = manager.ok(
            manager.post(
                f"/v1/invoices/{inv}/write-offs",
                {
                    "amount": {"amount": 3_000_000, "currency": "GBP"},
                    "reason": "client in administration",
                },
            )
        )
        assert theirs["status"] == mine["status"] == "pending_approval"
        p.wait_until_projected()

        desk = Browser(chromium_driver, p.url)
        desk.sign_in(MANAGER_KEY)
        desk.open("/approvals")
        own = desk.find(f'section[data-write-off="{mine["id"]}"]')
        assert "your own request" in own.text and not own.find_elements(By.TAG_NAME, "button")
        desk.shot("approvals")
        row = desk.find(f'section[data-write-off="{theirs["id"]}"]')
        assert "settled for less" in row.text and "alice" in row.text
        row.find_element(By.NAME, "reason").send_keys("agreed on the call")
        row.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
        desk.wait_text("Write-off approved")
        assert not desk.all(f'section[data-write-off="{theirs["id"]}"]')
        decided = p.api.ok(p.api.get(f"/v1/write-offs/{theirs['id']}"))
        assert (decided["status"], decided["decided_by"]) == ("applied", "mo")
        manager.close()
