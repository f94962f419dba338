"""The key-account controller refers a debt to enforcement with a collection value."""

from __future__ import annotations

from tests.pipeline import pipeline


def test_a_debt_is_referred_to_enforcement_with_what_it_rested_on(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Riverside Bar & Grill")
        path = f"/v1/accounts/{account['id']}/referrals"

        def refer(value: int, kind: str = "enforcement"):
            return api.post(
                path,
                {
                    "kind": kind,
                    "agency": "PPL enforcement team",
                    "collection_value": {"amount": value, "currency": "GBP"},
                    "reason": "licence fees unpaid after default notice",
                },
            )

        nothing_owed = refer(100_00)
        assert nothing_owed.status_code == 409
        assert nothing_owed.json()["type"] == "/v1/problems/nothing-to-collect"

        api.raise_invoice(account["id"], "LIC-1", 900_00, "2026-01-01", "2026-01-31")
        too_much = refer(950_00)
        assert too_much.status_code == 409
        assert too_much.json()["outstanding"] == {"amount": 900_00, "currency": "GBP"}

        referred = api.ok(refer(850_00))
        assert referred["referred_to"] == "PPL enforcement team"

        events = api.ok(
            api.get(f"/v1/accounts/{account['id']}/events", min_position=referred["position"])
        )["events"]
        kinds = [e["type"] for e in events]
        # The two refusals appended nothing: one referral event, after the invoice.
        assert kinds.count("arledger.account.referred_for_collection") == 1
        referral = events[-1]["data"]
        assert referral["collection_value"] == {"amount": 850_00, "currency": "GBP"}
        assert referral["outstanding"] == {"amount": 900_00, "currency": "GBP"}
        assert events[-1]["actor"] == "alice"
        with p.services.pool.connection() as conn:
            row = conn.execute(
                "SELECT referred_to FROM balance_accounts WHERE account_id = %s",
                (account["id"],),
            ).fetchone()
        assert row == ("PPL enforcement team",)
