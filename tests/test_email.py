"""Email that really goes out, through a real SMTP server (``tests/smtp_server.py``:
STARTTLS, then AUTH): failed payments to the coordinator and the client, a dunning
notice's letter as a PDF attachment whose hash is on record, a receipt; a refused
recipient retried with a growing delay, then given up on record; and a notifier that
stops between sending and recording never sends the message again."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
import uuid

from jsonschema import Draft202012Validator, FormatChecker

from ledger.notification import Notifying
from tests.documents_support import (
    account_types,
    pdf_text,
    wait_for_event,
    with_company,
)
from tests.pipeline import pipeline


def _client(api, name, email, coordinator=None):
    acct = api.open_account(name)["id"]
    details = {"email": email, **({"coordinator": coordinator} if coordinator else {})}
    reply = api.http.patch(
        f"/v1/accounts/{acct}", json=details, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    api.ok(reply)
    return acct


def _notice(api, acct, channel="email"):
    body = {
        "stage": "reminder",
        "channel": channel,
        "notice_on": "2026-03-02",
        "all_eligible": True,
    }
    return api.ok(api.post(f"/v1/accounts/{acct}/notices", body))


def test_failed_payments_letters_and_receipts_are_mailed_and_on_record(settings, smtp_server):
    mail = smtp_server.mailbox
    client = f"ap-{uuid.uuid4().hex[:8]}@client.example"
    carol = f"carol{uuid.uuid4().hex[:6]}"
    with pipeline(smtp_server.settings(with_company(settings))) as p:
        api = p.api
        acct = _client(api, "Mailed Client Ltd", client, coordinator=carol)
        api.record_payment(
            acct, 120_00, method="card", status="failed", failure_code="card_declined"
        )
        (to_carol,) = mail.wait(f"{carol}@staff.example")
        assert to_carol.subject == "Payment of 120.00 GBP from Mailed Client Ltd failed"
        assert to_carol.message["From"] == "accounts@ledger.example"
        (to_client,) = mail.wait(client)
        assert "card_declined" in to_client.message.get_content()

        api.raise_invoice(acct, "EM-1", 300_00, "2026-01-01", "2026-01-31")
        api.raise_invoice(acct, "EM-2", 1234_56, "2026-01-10", "2026-02-09")
        notice = _notice(api, acct)
        (letter,) = mail.wait(client, where=lambda r: "Payment reminder" in r.subject)
        assert letter.rcpt_tos == (client,) and "1,534.56 GBP" in letter.subject
        ((filename, pdf),) = letter.attachments()
        assert filename.endswith(".pdf")
        text = pdf_text(pdf)
        for shown in ("EM-1", "EM-2", "300.00", "1,234.56", "1,534.56 GBP", "Northwind Rooms"):
            assert shown in text, (shown, text)

        sha = hashlib.sha256(pdf).hexdigest()
        (rendered,) = wait_for_event(p, acct, "arledger.notification.document_rendered")
        assert (rendered["data"]["sha256"], rendered["data"]["reference"]) == (sha, notice["id"])
        delivered = wait_for_event(p, acct, "arledger.notification.delivered", count=3)
        mailed = next(e for e in delivered if e["data"]["attachment_sha256"] == sha)
        assert mailed["data"]["message_id"] == letter.message["Message-ID"]
        assert (mailed["data"]["sender"], mailed["data"]["to"]) == ("smtp", client)
        assert mailed["schemaversion"] == 2
        again = api.get(f"/v1/accounts/{acct}/notices/{notice['id']}/letter")
        assert again.content == pdf  # what was sent, rendered again

        paid = api.record_payment(acct, 50_00, reference="BACS-5")
        api.ok(api.post(f"/v1/payments/{paid['id']}/receipts", {"channel": "email"}))
        (receipt,) = mail.wait(client, where=lambda r: r.subject.startswith("Receipt"))
        assert "50.00 GBP" in receipt.subject and "BACS-5" in receipt.message.get_content()

        index = api.ok(api.get("/v1/schemas"))
        for event in account_types(p, acct):  # the new and the changed events, as published
            schema = api.ok(api.get(index[event["type"]]))
            Draft202012Validator(schema, format_checker=FormatChecker()).validate(event)


def test_a_refused_recipient_is_retried_later_each_time_then_given_up_on_record(
    settings, smtp_server
):
    bounce = f"bounce-{uuid.uuid4().hex[:8]}@client.example"
    tight = smtp_server.settings(settings, notify_max_attempts=3, notify_backoff_ms=300)
    with pipeline(tight) as p:
        acct = _client(p.api, "Bouncing Ltd", bounce, coordinator="dev")
        p.api.record_payment(acct, 10_00, method="card", status="failed", failure_code="expired")
        wait_for_event(p, acct, "arledger.notification.gave_up")
        events = account_types(p, acct)
        failures = [e for e in events if e["type"] == "arledger.notification.delivery_failed"]
        assert len(failures) == 3 and {e["data"]["role"] for e in failures} == {"client"}
        assert "550" in failures[0]["data"]["error"]
        times = [dt.datetime.fromisoformat(e["effectivetime"]) for e in failures]  # tried at
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert gaps[0] >= 0.3 and gaps[1] >= 0.6, gaps  # 300 ms, then 600 ms
        (gave_up,) = [e for e in events if e["type"] == "arledger.notification.gave_up"]
        assert (gave_up["data"]["role"], gave_up["data"]["attempts"]) == ("client", 3)
        assert [e["data"]["to"] for e in events if e["type"].endswith(".delivered")] == ["dev"]


def test_a_notifier_that_stops_between_sending_and_recording_never_sends_again(
    settings, smtp_server, monkeypatch
):
    mail = smtp_server.mailbox
    client = f"crash-{uuid.uuid4().hex[:8]}@client.example"
    recording = Notifying.record_delivery
    crashes = []

    def crash_once(self, notification_id, role, sender, outcome, *args, **kwargs):
        if not crashes and sender == "smtp":
            crashes.append(outcome)  # sent: the notifier dies before it records that
            raise RuntimeError("the notifier stopped between sending and recording")
        return recording(self, notification_id, role, sender, outcome, *args, **kwargs)

    monkeypatch.setattr(Notifying, "record_delivery", crash_once)
    with pipeline(smtp_server.settings(settings)) as p:
        acct = _client(p.api, "Crash Test Ltd", client)
        p.api.raise_invoice(acct, "CR-1", 99_00, "2026-01-01", "2026-01-31")
        _notice(p.api, acct)
        (unconfirmed,) = wait_for_event(p, acct, "arledger.notification.delivery_unconfirmed")
        p.wait_until_projected()
        time.sleep(1.0)  # ten more turns of the notifier
        (sent,) = mail.to(client)
        assert crashes == [sent.message["Message-ID"]]
        assert unconfirmed["data"]["message_id"] == sent.message["Message-ID"]
        types = [e["type"] for e in account_types(p, acct)]
        assert "arledger.notification.delivered" not in types
        assert types.count("arledger.notification.delivery_unconfirmed") == 1
        with p.services.pool.connection() as conn:
            claims = conn.execute("SELECT role, attempt FROM notification_sends").fetchall()
        assert claims == [("client", 1)]


def test_a_statement_is_mailed_with_its_pdf_whose_hash_is_on_the_event(settings, smtp_server):
    mail = smtp_server.mailbox
    client = f"st-{uuid.uuid4().hex[:8]}@client.example"
    with pipeline(smtp_server.settings(with_company(settings))) as p:
        api = p.api
        acct = _client(api, "Statement Client Ltd", client)
        api.raise_invoice(acct, "ST-1", 450_00, "2026-01-05", "2026-02-04")
        api.raise_invoice(acct, "ST-2", 2345_67, "2026-02-01", "2026-03-03")
        api.record_payment(acct, 100_00, reference="BACS-ST")
        today = dt.datetime.now(dt.UTC).date()
        body = {"from": "2026-01-01", "to": today.isoformat(), "channel": "email"}
        key = str(uuid.uuid4())
        sent = api.post(f"/v1/accounts/{acct}/statements", body, key=key)
        assert sent.status_code == 201, sent.text
        reply = sent.json()
        assert reply["recipient"] == client

        (mailed,) = mail.wait(client, where=lambda r: r.subject.startswith("Statement"))
        assert mailed.rcpt_tos == (client,) and today.isoformat() in mailed.subject
        assert "Northwind Rooms" in mailed.message.get_body().get_content()
        ((filename, pdf),) = mailed.attachments()
        assert filename == reply["filename"] and filename.endswith(".pdf")
        text = pdf_text(pdf)
        for shown in ("ST-1", "ST-2", "450.00", "2,345.67", "100.00", "2,695.67", "Northwind"):
            assert shown in text, (shown, text)

        sha = hashlib.sha256(pdf).hexdigest()
        (event,) = wait_for_event(p, acct, "arledger.account.statement_sent")
        data = event["data"]
        assert (data["sha256"], data["recipient"], data["channel"]) == (sha, client, "email")
        assert (data["period_from"], data["period_to"]) == ("2026-01-01", today.isoformat())
        assert reply["sha256"] == sha and data["at_position"] == reply["at_position"]
        (rendered,) = wait_for_event(p, acct, "arledger.notification.document_rendered")
        assert (rendered["data"]["document"], rendered["data"]["sha256"]) == ("statement", sha)
        (delivered,) = wait_for_event(p, acct, "arledger.notification.delivered")
        assert (delivered["data"]["to"], delivered["data"]["attachment_sha256"]) == (client, sha)
        again = api.get(
            f"/v1/accounts/{acct}/statement",
            **{"from": "2026-01-01", "to": today.isoformat()},
            format="pdf",
            at_position=data["at_position"],
        )
        assert again.content == pdf  # what was sent, rendered again

        retry = api.post(f"/v1/accounts/{acct}/statements", body, key=key)
        assert retry.status_code == 201 and retry.json() == reply
        p.wait_until_projected()
        time.sleep(1.0)  # turns of the notifier
        assert len(mail.to(client)) == 1
        types = [e["type"] for e in account_types(p, acct)]
        assert types.count("arledger.account.statement_sent") == 1

        schema = api.ok(api.get(api.ok(api.get("/v1/schemas"))[event["type"]]))
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(event)


def test_a_statement_is_refused_a_bad_period_or_nobody_to_send_to(settings, smtp_server):
    with pipeline(smtp_server.settings(settings)) as p:
        api = p.api
        acct = api.open_account("No Email Ltd")["id"]
        path = f"/v1/accounts/{acct}/statements"
        tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        for period in (("2026-03-01", "2026-02-01"), ("2026-01-01", tomorrow.isoformat())):
            body = {"from": period[0], "to": period[1], "channel": "email"}
            refused = api.post(path, body)
            assert refused.status_code == 422 and refused.json()["type"].endswith("/bad-period")
        nobody = api.post(path, {"from": "2026-01-01", "channel": "email"})
        assert nobody.status_code == 409, nobody.text
        assert nobody.json()["type"] == "/v1/problems/no-recipient"
        named = api.post(
            path, {"from": "2026-01-01", "channel": "email", "recipient": "a@b.example"}
        )
        assert named.status_code == 201 and named.json()["recipient"] == "a@b.example"
        types = [e["type"] for e in account_types(p, acct)]
        assert types.count("arledger.account.statement_sent") == 1


def test_an_invoice_sent_and_its_payment_link_arrive_by_email(stripe_settings, smtp_server):
    mail = smtp_server.mailbox
    client = f"inv-{uuid.uuid4().hex[:8]}@client.example"
    with pipeline(smtp_server.settings(with_company(stripe_settings))) as p:
        api = p.api
        acct = _client(api, "Invoiced Client Ltd", client)
        inv = api.raise_invoice(acct, "IS-1", 1234_56, "2026-01-10", "2026-02-09")["id"]

        link = api.ok(api.post(f"/v1/invoices/{inv}/payment-links", {}))
        (pay,) = mail.wait(client, where=lambda r: r.subject.startswith("Pay invoice"))
        assert pay.rcpt_tos == (client,) and pay.message["From"] == "accounts@ledger.example"
        assert pay.subject == "Pay invoice IS-1 online: 1,234.56 GBP"
        text = pay.message.get_body().get_content()
        for shown in ("IS-1", "1,234.56 GBP", link["url"], "Northwind Rooms Ltd"):
            assert shown in text, (shown, text)

        api.ok(api.post(f"/v1/invoices/{inv}/sends", {"channel": "email"}))
        (sent,) = mail.wait(client, where=lambda r: r.subject.startswith("Invoice IS-1"))
        assert sent.rcpt_tos == (client,)
        assert sent.subject == "Invoice IS-1 from Northwind Rooms Ltd: 1,234.56 GBP"
        text = sent.message.get_body().get_content()
        for shown in ("IS-1", "1,234.56 GBP", "2026-02-09", link["url"]):  # the link in force
            assert shown in text, (shown, text)

        delivered = wait_for_event(p, acct, "arledger.notification.delivered", count=2)
        ids = {e["data"]["message_id"] for e in delivered if e["data"]["to"] == client}
        assert ids == {pay.message["Message-ID"], sent.message["Message-ID"]}
        # A post send calls for no email; nothing more arrives.
        api.ok(api.post(f"/v1/invoices/{inv}/sends", {"channel": "post"}))
        p.wait_until_projected()
        time.sleep(1.0)  # turns of the notifier
        assert len(mail.to(client)) == 2
