"""The coordinator's payments dashboard, in a real browser against the real pipeline."""

from __future__ import annotations

from typing import Any

from api.desk.sessions import COOKIE
from infra.settings import Settings
from tests.desk import Browser, DeskHttp, hidden
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, COORDINATOR_KEY


def test_coordinator_sees_failed_and_unapplied_payments_and_allocates_the_cash(
    settings: Settings, chromium_driver: Any
) -> None:
    with pipeline(settings) as p:
        acct = p.api.open_account("Harbour Meeting Rooms Ltd")
        old = p.api.raise_invoice(acct["id"], "INV-1001", 120_000, "2026-01-01", "2026-01-31")
        new = p.api.raise_invoice(acct["id"], "INV-1002", 80_000, "2026-02-01", "2026-03-03")
        cash = p.api.record_payment(acct["id"], 90_000, reference="HARBOUR INV-1002")
        # A card payment failing after the cash came in: nothing has retried it yet.
        p.api.record_payment(
            acct["id"], 60_000, method="card", status="failed", failure_code="card_declined"
        )
        p.wait_until_projected()

        desk = Browser(chromium_driver, p.url)
        desk.sign_in(COORDINATOR_KEY)
        desk.open("/payments")
        desk.wait_text("Harbour Meeting Rooms Ltd")
        failed = desk.find("tr.action.retry")
        assert "600.00 GBP" in failed.text and "card_declined" in failed.text
        assert "600.00 GBP" not in failed.find_element("css selector", "td:nth-child(7)").text
        unapplied = desk.find("tr.action.allocate")
        assert "900.00 GBP" in unapplied.text
        desk.shot("payments")

        # The reference names INV-1002: it is proposed first, the rest goes oldest first.
        unapplied.find_element("link text", "Allocate").click()
        desk.wait_text("Allocate 900.00 GBP")
        assert desk.find(f"#amount_{new['id']}").get_attribute("value") == "800.00"
        assert desk.find(f"#amount_{old['id']}").get_attribute("value") == "100.00"
        desk.shot("payment-allocate")
        desk.find("#allocate button[type=submit]").click()
        desk.wait_text("Payment allocated")
        assert "0.00 GBP" in desk.find("[data-testid=unallocated]").text
        payment = p.api.ok(p.api.get(f"/v1/payments/{cash['id']}"))
        assert payment["allocated"]["amount"] == 90_000


def test_an_allocation_with_too_many_decimals_is_refused_next_to_the_form_keeping_the_input(
    settings: Settings,
) -> None:
    with pipeline(settings) as p:
        acct = p.api.open_account()
        inv = p.api.raise_invoice(acct["id"], "INV-1", 10_000, "2026-01-01", "2026-01-31")
        cash = p.api.record_payment(acct["id"], 5_000)
        p.wait_until_projected()
        desk = DeskHttp(p.url, COORDINATOR_KEY)
        page = desk.get(f"/payments/{cash['id']}")
        form = {
            "csrf": hidden(page.text, "csrf"),
            "idem": hidden(page.text, "idem"),
            "action": "allocate",
            "invoice": inv["id"],
            f"amount_{inv['id']}": "12.345",
        }
        refused = desk.post(f"/payments/{cash['id']}", form)
        assert refused.status_code == 422
        assert "more decimals than GBP has" in refused.text
        assert 'value="12.345"' in refused.text
        # Over what the payment holds: the ledger's own rule, its own words.
        form[f"amount_{inv['id']}"] = "60.00"
        refused = desk.post(f"/payments/{cash['id']}", form)
        assert refused.status_code == 409, refused.text
        assert p.api.ok(p.api.get(f"/v1/payments/{cash['id']}"))["allocated"]["amount"] == 0
        desk.close()


def test_a_post_without_the_csrf_token_and_an_auditors_forged_post_are_refused(
    settings: Settings,
) -> None:
    with pipeline(settings) as p:
        acct = p.api.open_account()
        p.api.raise_invoice(acct["id"], "INV-1", 10_000, "2026-01-01", "2026-01-31")
        cash = p.api.record_payment(acct["id"], 5_000)
        p.wait_until_projected()
        head = p.services.ledger.head_position()
        coordinator = DeskHttp(p.url, COORDINATOR_KEY)
        bare = coordinator.post(
            f"/payments/{cash['id']}", {"action": "allocate", "strategy": "oldest_first"}
        )
        assert bare.status_code == 403
        auditor = DeskHttp(p.url, AUDITOR_KEY)
        page = auditor.get(f"/payments/{cash['id']}")
        assert page.status_code == 200 and 'id="allocate"' not in page.text
        forged = auditor.post(
            f"/payments/{cash['id']}",
            {
                "csrf": hidden(page.text, "csrf"),
                "idem": "forged-1",
                "action": "allocate",
                "strategy": "oldest_first",
            },
        )
        assert forged.status_code == 403 and "may not" in forged.text
        assert p.services.ledger.head_position() == head
        assert auditor.http.cookies.get(COOKIE)
        coordinator.close()
        auditor.close()
