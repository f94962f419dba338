"""The notifier: works through ``notification_requests`` (the failed payments the
ledger's events call for) and tells the account's coordinator and client.

For each request it queues a ``notification.queued`` event (its id comes from the
failure, so a second notifier, or a run repeated after a crash, queues nothing new),
sends to each recipient not yet told, and records ``notification.delivered`` or
``notification.delivery_failed``. A request is done when every recipient with an
address is told, or has failed ``ARLEDGER_NOTIFY_MAX_ATTEMPTS`` times; a client with no
email on file is named in the notification, without an address, so the coordinator's
message says so. Several notifiers may run: each takes requests with SKIP LOCKED."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from channels.senders import Message, Sender
from ledger.account import Account
from ledger.application import Ledger
from ledger.notification import Notification
from ledger.payment import Payment
from ledger.settings import Settings
from ledger.stamp import Stamp
from projections.database import ensure_tables

log = logging.getLogger("arledger.notifier")

ACTOR = "notifier"
DISPATCHES = """
CREATE TABLE IF NOT EXISTS notification_dispatches (
    notification_id uuid PRIMARY KEY,
    finished_at timestamptz NOT NULL DEFAULT now(),
    delivered int NOT NULL,
    failed int NOT NULL
);
"""
PENDING = """
SELECT r.notification_id, r.occasion, r.account_id, r.about, r.cause, r.code, r.message,
       r.occurred_at
  FROM notification_requests r
 WHERE NOT EXISTS (SELECT 1 FROM notification_dispatches d
                    WHERE d.notification_id = r.notification_id)
 ORDER BY r.position LIMIT %s FOR UPDATE OF r SKIP LOCKED
"""
WHAT = {"payment_failed": "failed", "payment_returned": "was returned by the bank"}


def compose(request: dict[str, Any], account: Account, payment: Payment) -> tuple[str, str]:
    """The subject and text: what failed, when, why, and what happens next."""
    what = WHAT.get(request["occasion"], "failed")
    reference = f" (reference {payment.reference})" if payment.reference else ""
    subject = f"Payment of {payment.amount} from {account.name} {what}"
    why = request["code"] or "no reason given"
    if request["message"]:
        why += f": {request['message']}"
    why = why.rstrip()
    if not why.endswith((".", "!", "?")):  # Stripe's messages end a sentence themselves
        why += "."
    body = (
        f"The {payment.method} payment of {payment.amount}{reference} received on "
        f"{payment.received_on.isoformat()} for account {account.name} {what}. "
        f"Reason: {why} The invoices it was meant for are still owed; please pay again "
        f"or contact us to arrange another way to pay."
    )
    if not account.email:
        body += " (The client has no email address on file and was not told.)"
    return subject, body


class Notifier:
    def __init__(self, ledger: Ledger, pool: ConnectionPool, sender: Sender, settings: Settings):
        self.ledger, self.pool, self.sender = ledger, pool, sender
        self.unassigned_to = settings.notify_unassigned_to
        self.max_attempts = settings.notify_max_attempts
        with pool.connection() as conn:
            ensure_tables(conn, DISPATCHES)

    def run_once(self, limit: int = 100) -> Counter[str]:
        made: Counter[str] = Counter()
        with self.pool.connection() as conn, conn.transaction():
            with conn.cursor(row_factory=dict_row) as cur:
                requests = cur.execute(PENDING, (limit,)).fetchall()
            for request in requests:
                notification = self._notify(request, made)
                failed = [
                    r for r in notification.undelivered()
                    if notification.failed_attempts.get(r["role"], 0) >= self.max_attempts
                ]  # fmt: skip
                if len(failed) == len(notification.undelivered()):
                    conn.execute(
                        "INSERT INTO notification_dispatches (notification_id, delivered, failed)"
                        " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (notification.id, len(notification.delivered), len(failed)),
                    )
        return made

    def _notify(self, request: dict[str, Any], made: Counter[str]) -> Notification:
        notification_id: UUID = request["notification_id"]
        stamp = Stamp(ACTOR, f"notify:{notification_id}", request["cause"], datetime.now(UTC))
        account = self.ledger.get_account(request["account_id"])
        payment = self.ledger.get_payment(request["about"])
        recipients: list[dict[str, Any]] = [
            {"role": "coordinator", "to": account.coordinator or self.unassigned_to},
            {"role": "client", "to": account.email},
        ]
        message = (recipients, *compose(request, account, payment))
        saved = self.ledger.queue_notification(
            notification_id, account.id, request["occasion"], payment.id, message, stamp
        )
        notification = saved.aggregate
        assert isinstance(notification, Notification)
        if not saved.replayed:
            made["queued"] += 1
        for recipient in notification.undelivered():
            role = recipient["role"]
            if notification.failed_attempts.get(role, 0) >= self.max_attempts:
                continue
            outcome = self._send(notification, recipient)
            self.ledger.record_delivery(notification.id, role, self.sender.name, outcome, stamp)
            made["failed" if outcome.startswith("error:") else "delivered"] += 1
            notification = self.ledger.get_notification(notification.id)
        return notification

    def _send(self, notification: Notification, recipient: dict[str, Any]) -> str:
        message = Message(
            notification.id,
            notification.account_id,
            recipient["role"],
            recipient["to"],
            notification.subject,
            notification.body,
        )
        try:
            return self.sender.send(message)
        except Exception as e:  # noqa: BLE001 - a plugged-in sender may raise anything; recorded, retried
            log.warning(
                "notification not delivered",
                extra={
                    "notification_id": str(notification.id),
                    "role": message.role,
                    "error": repr(e),
                },
            )
            return f"error:{e!r}"

    def run(self, stop: threading.Event, interval_s: float) -> None:
        while not stop.is_set():
            made = self.run_once()
            if made:
                log.info("notifier ran", extra=dict(made))
            stop.wait(interval_s)
