"""A write-off limit holds per person and per invoice: the requester never approves their
own request, whatever key they use, and a limit is not multiplied by splitting a
write-off into requests of the limit, nor by spreading it over invoices in one day."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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


def _invoices(p, n, amount=250_00):
    account = p.api.open_account("Daily Ltd")["id"]
    return [
        p.api.raise_invoice(account, f"DL-{k}", amount, "2026-01-01", "2026-01-31")["id"]
        for k in range(n)
    ]


def test_a_daily_limit_counts_what_the_actor_wrote_off_today_on_every_invoice(settings):
    """alice, a coordinator, may write off £250 an invoice and £1,000 a day: five
    write-offs of £250 on five invoices are four applied and one waiting for approval."""
    with pipeline(settings, workers=False) as p:
        invoices = _invoices(p, 5)
        statuses = [
            p.api.post(
                f"/v1/invoices/{invoice}/write-offs", {"amount": gbp(250_00), "reason": "gone"}
            ).json()["status"]
            for invoice in invoices
        ]
        assert statuses == ["applied"] * 4 + ["pending_approval"]


def test_an_approval_past_the_approvers_daily_limit_is_refused_and_appends_nothing(settings):
    small = settings.model_copy(update={"write_off_daily_limits": "coordinator:1000,manager:500"})
    with pipeline(small, workers=False) as p:
        first, second = _invoices(p, 2, 400_00)
        mo = Api(p.url, MANAGER_KEY)
        asked = [
            p.api.ok(
                p.api.post(f"/v1/invoices/{i}/write-offs", {"amount": gbp(400_00), "reason": "x"})
            )["id"]
            for i in (first, second)
        ]  # above alice's £250 an invoice: both wait for a manager
        assert mo.ok(mo.post(f"/v1/write-offs/{asked[0]}/approve", {}))["status"] == "applied"
        head = p.services.ledger.head_position()
        refused = mo.post(f"/v1/write-offs/{asked[1]}/approve", {})
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "/v1/problems/daily-write-off-limit-reached"
        assert refused.json()["authority_left_today"] == gbp(100_00)
        assert p.services.ledger.head_position() == head
        assert mo.ok(mo.get(f"/v1/write-offs/{asked[1]}"))["status"] == "pending_approval"


def test_concurrent_write_offs_cannot_pass_the_daily_limit_together(settings):
    """Eight write-offs of £250 sent at once on eight invoices: the day's £1,000 holds
    even though each request read the day's total before any of the others was saved."""
    with pipeline(settings, workers=False) as p:
        invoices = _invoices(p, 8)

        def write_off(invoice):
            path = f"/v1/invoices/{invoice}/write-offs"
            return p.api.ok(p.api.post(path, {"amount": gbp(250_00), "reason": "gone"}))

        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(w["status"] for w in pool.map(write_off, invoices))
        assert statuses == ["applied"] * 4 + ["pending_approval"] * 4


def test_the_store_refuses_a_write_off_past_the_daily_limit_whatever_was_read(
    settings, monkeypatch
):
    """The day's total read before deciding may be stale (another request saved in
    between): the recorder checks again in the transaction of the events, and a write-off
    past the limit appends nothing."""
    with pipeline(settings, workers=False) as p:
        invoices = _invoices(p, 5)
        for invoice in invoices[:4]:
            path = f"/v1/invoices/{invoice}/write-offs"
            assert (
                p.api.ok(p.api.post(path, {"amount": gbp(250_00), "reason": "x"}))["status"]
                == "applied"
            )
        monkeypatch.setattr(type(p.services.ledger.adjustments), "_authorised_on", lambda *_: 0)
        head = p.services.ledger.head_position()
        late = p.api.post(
            f"/v1/invoices/{invoices[4]}/write-offs", {"amount": gbp(250_00), "reason": "x"}
        )
        assert late.status_code == 403, late.text
        assert late.json()["type"] == "/v1/problems/daily-write-off-limit-reached"
        assert p.services.ledger.head_position() == head
