"""A failed payment tells the account's coordinator and client: a notification event,
its deliveries as events, the default sender writing to the outbox; once each, however
often the notifier runs; a sender that fails is retried, then given up on, on record."""

from __future__ import annotations

import time
import uuid

from channels.notifier import Notifier
from channels.senders import OutboxSender
from tests.pipeline import pipeline


def _outbox(api, account, count, timeout=30.0):
    """The account's outbox messages, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        messages = api.ok(api.get("/v1/notifications/outbox", account_id=account))["messages"]
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


def _assign(api, account, **details):
    reply = api.http.patch(
        f"/v1/accounts/{account}", json=details, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    return api.ok(reply)


def _types(p, account):
    """The types of the account's events, once the read model has every event so far."""
    head = p.services.ledger.head_position()
    page = p.api.ok(p.api.get(f"/v1/accounts/{account}/events", min_position=head))
    return [e["type"] for e in page["events"]]


def test_a_failed_payment_tells_the_coordinator_and_the_client_once(settings):
    with pipeline(settings) as p:
        api = p.api
        acme = api.open_account("Acme Meeting Rooms Ltd")["id"]
        assert _assign(api, acme, coordinator="carol", email="ap@acme.example")["coordinator"] == (
            "carol"
        )
        api.record_payment(
            acme, 120_00, method="card", status="failed", failure_code="card_declined",
            failure_message="Your card was declined.", reference="pi_123",
        )  # fmt: skip
        pending = api.record_payment(acme, 80_00, method="direct_debit", status="pending")
        api.ok(
            api.post(
                f"/v1/payments/{pending['id']}/outcome",
                {"status": "failed", "failure_code": "insufficient_funds"},
            )
        )
        messages = _outbox(api, acme, 4)
        assert sorted((m["role"], m["recipient"]) for m in messages) == [
            ("client", "ap@acme.example"),
            ("client", "ap@acme.example"),
            ("coordinator", "carol"),
            ("coordinator", "carol"),
        ]
        declined = next(m for m in messages if "120.00 GBP" in m["subject"])
        assert declined["subject"] == "Payment of 120.00 GBP from Acme Meeting Rooms Ltd failed"
        assert "Reason: card_declined: Your card was declined. The invoices" in declined["body"]
        returned = next(m for m in messages if "80.00 GBP" in m["subject"])
        assert "Reason: insufficient_funds. The invoices" in returned["body"]
        assert not [m["body"] for m in messages if ".." in m["body"]]  # one full stop each
        assert "reference pi_123" in declined["body"]

        # Another notifier over the same requests adds nothing, and sends nothing again.
        p.wait_until_projected()  # the pipeline's own notifier has recorded every delivery
        head = p.services.ledger.head_position()
        again = Notifier(
            p.services.ledger, p.services.pool, OutboxSender(p.services.pool), settings
        )
        with p.services.pool.connection() as conn:
            conn.execute("DELETE FROM notification_dispatches")  # as if it had never finished
        assert again.run_once() == {}
        assert p.services.ledger.head_position() == head
        assert len(_outbox(api, acme, 5, timeout=0)) == 4
        types = _types(p, acme)
        assert types.count("arledger.notification.queued") == 2
        assert types.count("arledger.notification.delivered") == 4


def test_an_account_with_no_coordinator_or_email_still_gets_someone_told(settings):
    with pipeline(settings) as p:
        api = p.api
        quiet = api.open_account("Quiet Ltd")["id"]
        paid = api.record_payment(quiet, 50_00, method="bacs")
        api.ok(
            api.post(
                f"/v1/payments/{paid['id']}/return",
                {"return_code": "ARUDD-0", "returned_on": "2026-03-05", "reason": "no account"},
            )
        )
        (message,) = _outbox(api, quiet, 1)
        assert (message["role"], message["recipient"]) == ("coordinator", "coordinators")
        assert message["subject"].endswith("was returned by the bank")
        assert "ARUDD-0: no account" in message["body"]
        assert "no email address on file" in message["body"]


class FlakySender:
    """A sender plugged in by setting (say, a mail relay) that cannot reach the client's
    mail server, every time."""

    name = "flaky-mail"

    def __init__(self, settings, pool) -> None:
        self.sent = 0

    def send(self, message):
        if message.role == "client":
            raise ConnectionError("mail relay refused the connection")
        self.sent += 1
        return f"mail:{self.sent}"


def test_a_plugged_in_sender_that_fails_is_retried_then_given_up_on_record(settings):
    flaky = settings.model_copy(
        update={
            "notification_sender": "tests.test_notifications:FlakySender",
            "notify_max_attempts": 2,
            "notify_interval_ms": 100,
        }
    )
    with pipeline(flaky) as p:
        api = p.api
        acct = api.open_account("Flaky Ltd")["id"]
        _assign(api, acct, coordinator="dev", email="ar@flaky.example")
        api.record_payment(acct, 10_00, method="card", status="failed", failure_code="expired_card")
        deadline = time.monotonic() + 30
        while _types(p, acct).count("arledger.notification.delivery_failed") < 2:
            assert time.monotonic() < deadline, _types(p, acct)
            time.sleep(0.2)
        time.sleep(1.0)  # ten more turns of the notifier: it has given up
        types = _types(p, acct)
        assert types.count("arledger.notification.queued") == 1
        assert types.count("arledger.notification.delivered") == 1  # the coordinator
        assert types.count("arledger.notification.delivery_failed") == 2
        with p.services.pool.connection() as conn:
            done = conn.execute("SELECT delivered, failed FROM notification_dispatches").fetchall()
        assert done == [(1, 1)]
        assert _outbox(api, acct, 1, timeout=0) == []  # the outbox was not the sender
