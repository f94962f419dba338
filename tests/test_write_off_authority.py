"""A write-off limit holds per person and per invoice: the requester never approves their
own request, whatever key they use, and a limit is not multiplied by splitting a
write-off into requests of the limit."""

from __future__ import annotations

from tests.pipeline import pipeline
from tests.support import ADMIN_KEY, MANAGER_KEY, Api, gbp


def test_the_requester_cannot_approve_their_own_write_off_with_a_manager_key(settings):
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Bad Debt Ltd")["id"]
        invoice = p.api.raise_invoice(account, "BD-1", 2_000_00, "2026-01-01", "2026-01-31")
        asked = p.api.post(  # alice, a coordinator with a £250 limit
            f"/v1/invoices/{invoice['id']}/write-offs", {"amount": gbp(900_00), "reason": "gone"}
        )
        assert asked.status_code == 202, asked.text
        write_off = asked.json()["id"]
        issued = Api(p.url, ADMIN_KEY).post(
            "/v1/api-keys", {"role": "manager", "actor": "alice"}, key="alice-manager"
        )
        assert issued.status_code == 201, issued.text
        alice_as_manager = Api(p.url, issued.json()["secret"])
        head = p.services.ledger.head_position()
        own = alice_as_manager.post(f"/v1/write-offs/{write_off}/approve", {})
        assert own.status_code == 403, own.text
        assert own.json()["type"] == "/v1/problems/four-eyes-required"
        assert p.services.ledger.head_position() == head
        approved = Api(p.url, MANAGER_KEY).post(f"/v1/write-offs/{write_off}/approve", {})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "applied"


def test_a_limit_counts_what_the_actor_already_wrote_off_on_the_invoice(settings):
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Split Ltd")["id"]
        invoice = p.api.raise_invoice(account, "SP-1", 2_000_00, "2026-01-01", "2026-01-31")
        path = f"/v1/invoices/{invoice['id']}/write-offs"
        statuses = [
            p.api.post(path, {"amount": gbp(250_00), "reason": f"part {n}"}).json()["status"]
            for n in range(8)
        ]
        assert statuses == ["applied"] + ["pending_approval"] * 7
        other = p.api.raise_invoice(account, "SP-2", 300_00, "2026-01-01", "2026-01-31")
        fresh = p.api.post(
            f"/v1/invoices/{other['id']}/write-offs", {"amount": gbp(250_00), "reason": "own"}
        )
        assert fresh.json()["status"] == "applied"  # a limit per invoice
