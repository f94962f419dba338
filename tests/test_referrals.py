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


def test_a_direct_debit_is_set_up_and_a_doubtful_debt_is_flagged(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Old Mill Pub")
        path = f"/v1/accounts/{account['id']}"

        no_mandate = api.post(f"{path}/payment-methods", {"method": "direct_debit"})
        assert no_mandate.status_code == 422
        assert "mandate" in no_mandate.json()["detail"]
        mandate = api.ok(
            api.post(
                f"{path}/payment-methods", {"method": "direct_debit", "reference": "DDI-88412"}
            )
        )
        assert mandate["payment_method"] == "direct_debit"

        api.raise_invoice(account["id"], "LIC-9", 300_00, "2026-01-01", "2026-01-31")

        def doubtful(amount: int):
            return api.post(
                f"{path}/doubtful-debt",
                {
                    "amount": {"amount": amount, "currency": "GBP"},
                    "reason": "venue closed; owner not answering",
                },
            )

        too_much = doubtful(400_00)
        assert too_much.json()["type"] == "/v1/problems/nothing-to-collect"
        flagged = api.ok(doubtful(300_00))
        assert flagged["doubtful_debt"] == {"amount": 300_00, "currency": "GBP"}

        events = api.ok(api.get(f"{path}/events", min_position=flagged["position"]))["events"]
        kinds = [e["type"] for e in events]
        assert kinds.count("arledger.account.payment_method_set_up") == 1
        assert kinds.count("arledger.account.debt_flagged_doubtful") == 1
        assert events[-1]["data"]["outstanding"] == {"amount": 300_00, "currency": "GBP"}
        assert events[-1]["data"]["reason"] == "venue closed; owner not answering"
