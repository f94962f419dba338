"""Rules a controller relies on, walked through the API: a void happens once and never to
a settled invoice; money dated after tomorrow is not received; an approver's reason is
kept; the invoice copy says what its sends said."""

from __future__ import annotations

import datetime as dt

from eventsourcing.persistence import StoredEvent
from jsonschema import Draft202012Validator, FormatChecker

from ledger.write_off import WriteOff
from tests.pipeline import pipeline
from tests.support import MANAGER_KEY, Api, gbp


def _events(ledger) -> list:
    found, after = [], 0
    while batch := ledger.read_log(after, 1000):
        found += [ledger.decode(n) for n in batch]
        after = batch[-1].id
    return found


def _refused(p, response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == f"/v1/problems/{code}", body
    return body


def test_a_void_happens_once_and_never_to_a_settled_invoice(settings):
    with pipeline(settings, workers=False) as p:
        api = p.api
        account = api.open_account("Voids Once Ltd")["id"]
        credited = api.raise_invoice(account, "VO-1", 300_00, "2026-05-01", "2026-05-31")["id"]
        note = {"amount": gbp(300_00), "reason": "cancelled order", "issued_on": "2026-05-02"}
        settled = api.ok(api.post(f"/v1/invoices/{credited}/credit-notes", note))
        assert settled["status"] == "credited"

        # Settled by a credit note: nothing is left to void, however often it is asked.
        for _ in range(2):
            head = p.services.ledger.head_position()
            again = api.post(f"/v1/invoices/{credited}/void", {"reason": "raised in error"})
            _refused(p, again, 409, "invoice-settled")
            assert p.services.ledger.head_position() == head  # nothing appended

        # Settled by a write-off (within the coordinator's own limit): the same.
        bad = api.raise_invoice(account, "VO-2", 100_00, "2026-05-01", "2026-05-31")["id"]
        gone = api.post(f"/v1/invoices/{bad}/write-offs", {"amount": gbp(100_00), "reason": "x"})
        assert gone.json()["status"] == "applied", gone.text
        void = api.post(f"/v1/invoices/{bad}/void", {"reason": "raised in error"})
        _refused(p, void, 409, "invoice-settled")

        # An open invoice is voided once; a second void is refused as void.
        wrong = api.raise_invoice(account, "VO-3", 120_00, "2026-05-01", "2026-05-31")["id"]
        voided = api.ok(api.post(f"/v1/invoices/{wrong}/void", {"reason": "raised twice"}))
        assert (voided["status"], voided["outstanding"]["amount"]) == ("void", 0)
        _refused(
            p, api.post(f"/v1/invoices/{wrong}/void", {"reason": "again"}), 409, "invoice-void"
        )

        voids = [
            e.amount.amount_minor
            for e in _events(p.services.ledger)
            if type(e).__qualname__ == "Invoice.Voided"
        ]
        assert voids == [120_00]  # one void, and never one of nothing


def test_a_payment_dated_after_tomorrow_is_refused_not_counted(settings):
    today = dt.datetime.now(dt.UTC).date()
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Early Bird Ltd")["id"]
        ahead = (today + dt.timedelta(days=18)).isoformat()
        head = p.services.ledger.head_position()
        body = {
            "account_id": account,
            "amount": gbp(500_00),
            "method": "bacs",
            "received_on": ahead,
        }
        refused = _refused(p, api.post("/v1/payments", body), 422, "payment-dated-in-future")
        assert refused["received_on"] == ahead
        assert refused["latest"] == (today + dt.timedelta(days=1)).isoformat()
        assert p.services.ledger.head_position() == head

        # A value date of tomorrow (a clock a day ahead of ours) is ordinary.
        tomorrow = (today + dt.timedelta(days=1)).isoformat()
        kept = api.record_payment(account, 200_00, received_on=tomorrow)
        balance = api.ok(api.get(f"/v1/accounts/{account}/balance", min_position=kept["position"]))
        assert balance["paid"] == gbp(200_00)

        # A bank statement with a line dated ahead is refused whole, naming the line.
        statement = (
            "Date,Amount,Reference,Payer\n"
            f"{today.isoformat()},10.00,EB-1,EARLY BIRD\n"
            f"{ahead},20.00,EB-2,EARLY BIRD\n"
        )
        bank = api.post("/v1/bank-statements", {"content": statement, "currency": "GBP"})
        problem = _refused(p, bank, 422, "bank-statement-malformed")
        assert "line 3" in problem["detail"] and "line 2" not in problem["detail"]
        assert p.services.ledger.head_position() == kept["position"]


def test_the_approver_s_reason_is_kept_on_the_write_off_and_its_event(settings):
    with pipeline(settings) as p:
        api, manager = p.api, Api(p.url, MANAGER_KEY)
        account = api.open_account("Liquidated Ltd")["id"]
        invoice = api.raise_invoice(account, "LQ-1", 900_00, "2026-02-01", "2026-03-03")["id"]
        asked = api.post(
            f"/v1/invoices/{invoice}/write-offs", {"amount": gbp(900_00), "reason": "gone bust"}
        )
        assert asked.json()["status"] == "pending_approval", asked.text
        why = "liquidator confirmed no dividend for unsecured creditors"
        approved = manager.ok(
            manager.post(f"/v1/write-offs/{asked.json()['id']}/approve", {"reason": why})
        )
        assert (approved["status"], approved["decision_reason"]) == ("applied", why)
        read = manager.ok(manager.get(f"/v1/write-offs/{approved['id']}"))
        assert (read["decided_by"], read["decision_reason"]) == ("mo", why)

        trail = api.ok(
            api.get(
                "/v1/audit-trail",
                account_id=account,
                type="arledger.write_off.approved",
                min_position=approved["position"],
            )
        )["entries"]
        assert [(e["actor"], e["reason"]) for e in trail] == [("mo", why)]
        events = api.ok(
            api.get(f"/v1/accounts/{account}/events", min_position=approved["position"])
        )["events"]
        event = next(e for e in events if e["type"] == "arledger.write_off.approved")
        schema = api.ok(api.get("/v1/schemas/arledger.write_off.approved"))
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(event)
        assert (event["data"]["reason"], event["schemaversion"]) == (why, 2)


def test_an_approval_stored_before_it_had_a_reason_still_loads(settings):
    with pipeline(settings, workers=False) as p:
        api, manager = p.api, Api(p.url, MANAGER_KEY)
        account = api.open_account("Old Events Ltd")["id"]
        invoice = api.raise_invoice(account, "OE-1", 900_00, "2026-02-01", "2026-03-03")["id"]
        asked = api.post(
            f"/v1/invoices/{invoice}/write-offs", {"amount": gbp(900_00), "reason": "x"}
        )
        manager.ok(manager.post(f"/v1/write-offs/{asked.json()['id']}/approve", {"reason": "ok"}))
        ledger = p.services.ledger
        approved = next(e for e in _events(ledger) if isinstance(e, WriteOff.Approved))
        stored = ledger.mapper.to_stored_event(approved)
        state = ledger.mapper.transcoder.decode(stored.state)
        assert state.pop("class_version") == 2
        del state["reason"]  # as version 1 wrote it
        old = StoredEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=ledger.mapper.transcoder.encode(state),
        )
        loaded = ledger.mapper.to_domain_event(old)
        assert isinstance(loaded, WriteOff.Approved)
        assert (loaded.approved_by, loaded.reason) == ("mo", None)


def test_the_invoice_copy_says_what_the_send_said(settings):
    with pipeline(settings) as p:
        api = p.api
        body = {
            "name": "Stretched Ltd",
            "currency": "GBP",
            "payment_terms_days": 30,
            "credit_limit": gbp(100_00),
        }
        account = api.ok(api.post("/v1/accounts", body))["id"]
        invoice = api.raise_invoice(account, "ST-1", 150_00, "2026-06-01", "2026-07-01")
        assert invoice["credit_limit_exceeded"] is True
        sent = api.ok(api.post(f"/v1/invoices/{invoice['id']}/sends", {"channel": "email"}))
        assert (sent["sends"], sent["kind"]) == (1, "invoice")
        resent = api.ok(api.post(f"/v1/invoices/{invoice['id']}/sends", {"channel": "post"}))

        copy = api.ok(api.get(f"/v1/invoices/{invoice['id']}", min_position=resent["position"]))
        said = ("sends", "kind", "credit_limit_exceeded", "charged_for")
        assert {k: copy[k] for k in said} == {
            "sends": 2,
            "kind": "invoice",
            "credit_limit_exceeded": True,
            "charged_for": None,
        }
        listed = api.ok(api.get(f"/v1/accounts/{account}/invoices", min_position=copy["position"]))
        assert [(i["sends"], i["kind"]) for i in listed["invoices"]] == [(2, "invoice")]
