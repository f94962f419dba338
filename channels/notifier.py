"""The notifier: works through ``notification_requests`` (what the ledger's events call
for: failed payments, dunning notices, emailed invoices and receipts, payment links) and
tells the people concerned (``channels.messages`` says what).

For each request it queues a ``notification.queued`` event (its id comes from the cause,
so a second notifier, or a run repeated after a crash, queues nothing new); records the
SHA-256 of a document it carries (``notification.document_rendered``: a dunning letter,
a statement of account);
sends to each recipient not yet told, and records ``notification.delivered`` (with the
message id and the attachment's hash) or ``notification.delivery_failed``. A failure is
tried again after ``ARLEDGER_NOTIFY_BACKOFF_MS``, doubling each time, and given up on
record (``notification.gave_up``) after ``ARLEDGER_NOTIFY_MAX_ATTEMPTS``. Each send is
claimed first (``channels.send_claims``): a claim whose outcome was never recorded is
never sent again (``notification.delivery_unconfirmed``). A request is done when no
recipient is left to try. Several notifiers may run: each takes requests with SKIP LOCKED."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from channels import send_claims, statement_mail
from channels.messages import Composed, Composer, compose
from channels.senders import Attachment, Message, Sender
from channels.smtp import mail_domain
from infra.database import ensure_tables
from infra.settings import Settings
from ledger.application import Ledger
from ledger.notification import Notification
from ledger.stamp import Stamp

__all__ = ["DISPATCHES", "Notifier", "compose"]

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
       r.occurred_at, r.position
  FROM notification_requests r
 WHERE NOT EXISTS (SELECT 1 FROM notification_dispatches d
                    WHERE d.notification_id = r.notification_id)
 ORDER BY r.position LIMIT %s FOR UPDATE OF r SKIP LOCKED
"""


class Notifier:
    def __init__(self, ledger: Ledger, pool: ConnectionPool, sender: Sender, settings: Settings):
        self.ledger, self.pool, self.sender = ledger, pool, sender
        self.composer = Composer(ledger, settings)
        self.composer.occasions["statement"] = statement_mail.composer(pool, self.composer.company)
        self.max_attempts = settings.notify_max_attempts
        self.backoff_ms = settings.notify_backoff_ms
        self.domain = mail_domain(settings)
        with pool.connection() as conn:
            ensure_tables(conn, DISPATCHES, send_claims.SCHEMA)

    def run_once(self, limit: int = 100) -> Counter[str]:
        made: Counter[str] = Counter()
        with self.pool.connection() as conn, conn.transaction():
            with conn.cursor(row_factory=dict_row) as cur:
                requests = cur.execute(PENDING, (limit,)).fetchall()
            for request in requests:
                try:
                    notification = self._notify(request, made)
                except Exception:
                    # One request that cannot be composed (its letter will not render,
                    # say) must not stop the others: logged, and tried again next turn.
                    log.exception("notification request not handled", extra=_ids(request))
                    continue
                if not notification.pending():
                    delivered = len(notification.delivered) + len(notification.unconfirmed)
                    conn.execute(
                        "INSERT INTO notification_dispatches (notification_id, delivered, failed)"
                        " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (notification.id, delivered, len(notification.given_up)),
                    )
        return made

    def _notify(self, request: dict[str, Any], made: Counter[str]) -> Notification:
        notification_id: UUID = request["notification_id"]
        stamp = Stamp(ACTOR, f"notify:{notification_id}", request["cause"], datetime.now(UTC))
        composed = self.composer.compose(request)
        message = (composed.recipients, composed.subject, composed.body)
        saved = self.ledger.queue_notification(
            notification_id, request["account_id"], request["occasion"], composed.about,
            message, stamp,
        )  # fmt: skip
        notification = saved.aggregate
        assert isinstance(notification, Notification)
        if not saved.replayed:
            made["queued"] += 1
        notification = self._record_document(notification, composed, stamp, made)
        for recipient in notification.pending():
            notification = self._try(notification, recipient, composed, stamp, made)
        return notification

    def _record_document(
        self, notification: Notification, composed: Composed, stamp: Stamp, made: Counter[str]
    ) -> Notification:
        document = composed.document
        if document is None or document.reference in notification.documents:
            return notification
        size = len(document.content)
        saved = self.ledger.change_notification(
            notification.id,
            lambda n: n.document_rendered(
                n.account_id, document.kind, document.reference, document.filename,
                document.sha256, size, stamp,
            ),
        )  # fmt: skip
        made["documents"] += 1
        renewed: Notification = saved.aggregate
        return renewed

    def _try(
        self,
        notification: Notification,
        recipient: dict[str, Any],
        composed: Composed,
        stamp: Stamp,
        made: Counter[str],
    ) -> Notification:
        """One try at one recipient, when its back-off has passed; the outcome on record."""
        role = recipient["role"]
        attempts = notification.failed_attempts.get(role, 0)
        if attempts >= self.max_attempts:
            return self._change(
                notification, lambda n: n.give_up(n.account_id, role, attempts, stamp)
            )
        if not notification.retry_due(role, stamp.effective_at, self.backoff_ms):
            return notification
        message_id = f"<{notification.id}.{role}@{self.domain}>"
        if not send_claims.claim(self.pool, notification.id, role, attempts + 1, message_id):
            made["unconfirmed"] += 1
            log.warning("a send's outcome was never recorded", extra={"message_id": message_id})
            return self._change(
                notification,
                lambda n: n.unconfirm(n.account_id, role, self.sender.name, message_id, stamp),
            )
        outcome = self._send(notification, recipient, message_id, composed)
        sha = composed.document.sha256 if composed.document else None
        self.ledger.record_delivery(
            notification.id, role, self.sender.name, outcome, stamp, (message_id, sha)
        )
        made["failed" if outcome.startswith("error:") else "delivered"] += 1
        notification = self.ledger.get_notification(notification.id)
        if notification.failed_attempts.get(role, 0) >= self.max_attempts:
            attempts = notification.failed_attempts[role]
            return self._change(
                notification, lambda n: n.give_up(n.account_id, role, attempts, stamp)
            )
        return notification

    def _change(self, notification: Notification, change: Any) -> Notification:
        renewed: Notification = self.ledger.change_notification(notification.id, change).aggregate
        return renewed

    def _send(
        self,
        notification: Notification,
        recipient: dict[str, Any],
        message_id: str,
        composed: Composed,
    ) -> str:
        document = composed.document
        attachments = (Attachment(document.filename, document.content),) if document else ()
        message = Message(
            notification.id,
            notification.account_id,
            recipient["role"],
            recipient["to"],
            notification.subject,
            notification.body,
            message_id,
            attachments,
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


def _ids(request: dict[str, Any]) -> dict[str, str]:
    return {"notification_id": str(request["notification_id"]), "occasion": request["occasion"]}
