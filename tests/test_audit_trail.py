"""The auditor's trail: every event with its actor, reason, effective and recorded time
and the balance after it; filtered by actor, type and time; paged."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.pipeline import pipeline
from tests.support import gbp


def test_audit_trail_shows_who_why_when_and_the_balance_after_each_event(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Harbour Cafe")["id"]
        other = api.open_account("Elsewhere Ltd")["id"]
        inv = api.raise_invoice(account, "H1", 800_00, "2026-04-01", "2026-05-01")["id"]
        api.raise_invoice(account, "H2", 250_00, "2026-04-02", "2026-05-02")
        api.raise_invoice(other, "E1", 1_00, "2026-04-02", "2026-05-02")
        midway = datetime.now(UTC).isoformat()
        api.ok(
            api.post(
                f"/v1/invoices/{inv}/credit-notes",
                {"amount": gbp(200_00), "reason": "two chairs broken", "issued_on": "2026-04-20"},
            )
        )
        pay = api.record_payment(account, 300_00, received_on="2026-04-25")
        done = api.allocate(
            pay["id"], {"allocations": [{"invoice_id": inv, "amount": gbp(300_00)}]}
        )

        auditor = api.__class__(str(api.http.base_url), key="test-auditor-key")
        try:
            trail = auditor.ok(
                auditor.get(f"/v1/accounts/{account}/audit-trail", min_position=done["position"])
            )
        finally:
            auditor.close()
        entries = trail["entries"]
        assert [e["type"].removeprefix("arledger.") for e in entries] == [
            "account.opened",
            "account.invoice_registered",
            "invoice.raised",
            "account.invoice_registered",
            "invoice.raised",
            "invoice.credit_note_issued",
            "payment.recorded",
            "invoice.payment_allocated",
            "payment.allocated",
        ]
        assert [e["outstanding_after"]["amount"] for e in entries] == [
            0,
            0,
            800_00,
            800_00,
            1_050_00,
            850_00,
            850_00,
            550_00,
            550_00,
        ]
        credit = entries[5]
        assert credit["actor"] == "alice"
        assert credit["reason"] == "two chairs broken"
        assert credit["effective_at"].startswith("2026-04-20")
        assert credit["recorded_at"] > midway
        assert all(e["account_id"] == account for e in entries)

        _filtered_and_paged(api, midway)


def _filtered_and_paged(api, midway):
    """Across the ledger: by type (a prefix), by actor, by recorded time; paged."""
    raised = api.ok(api.get("/v1/audit-trail", type="arledger.invoice.raised"))["entries"]
    assert [e["data"]["number"] for e in raised] == ["H1", "H2", "E1"]
    payments = api.ok(api.get("/v1/audit-trail", type="arledger.payment.*"))["entries"]
    assert [e["type"] for e in payments] == [
        "arledger.payment.recorded",
        "arledger.payment.allocated",
    ]
    assert api.ok(api.get("/v1/audit-trail", actor="audrey"))["entries"] == []
    later = api.ok(api.get("/v1/audit-trail", recorded_from=midway))["entries"]
    assert later[0]["type"] == "arledger.invoice.credit_note_issued"
    first = api.ok(api.get("/v1/audit-trail", limit=2))
    second = api.ok(api.get("/v1/audit-trail", limit=2, after=first["next_after"]))
    assert [e["position"] for e in first["entries"] + second["entries"]] == sorted(
        e["position"] for e in first["entries"] + second["entries"]
    )
    assert len({e["position"] for e in first["entries"] + second["entries"]}) == 4
