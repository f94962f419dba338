"""A notification: a message the ledger owes to people because of something that
happened, such as a payment that failed. It is queued with its recipients, subject and
text; each recipient's delivery (or failure to deliver) is an event of its own, so the
history says who was told what, when, and through which sender."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import NotFound, RuleViolation
from ledger.stamp import Stamp
from ledger.store import LedgerStore, Saved, _new


class AlreadyDelivered(RuleViolation):
    code = "notification-already-delivered"
    title = "The notification was delivered to that recipient already"


class UnknownNotification(NotFound):
    code = "unknown-notification"
    title = "Unknown notification"


class Notification(Aggregate):
    @event("Queued")
    def __init__(
        self,
        account_id: UUID,
        occasion: str,
        about: UUID,
        recipients: list[dict[str, Any]],
        subject: str,
        body: str,
        stamp: Stamp,
    ) -> None:
        self.account_id = account_id
        self.occasion = occasion
        self.about = about
        self.recipients = recipients
        self.subject = subject
        self.body = body
        self.delivered: dict[str, str] = {}  # role -> the sender's reference
        self.failed_attempts: dict[str, int] = {}

    def recipient(self, role: str) -> dict[str, Any]:
        return next(r for r in self.recipients if r["role"] == role)

    def undelivered(self) -> list[dict[str, Any]]:
        """Recipients with an address who have not been told yet."""
        return [r for r in self.recipients if r["to"] and r["role"] not in self.delivered]

    def deliver(self, role: str, sender: str, reference: str, stamp: Stamp) -> None:
        if role in self.delivered:
            raise AlreadyDelivered(f"the {role} was told already ({self.delivered[role]})")
        self._delivered(self.account_id, role, self.recipient(role)["to"], sender, reference, stamp)

    @event("Delivered")
    def _delivered(
        self, account_id: UUID, role: str, to: str, sender: str, reference: str, stamp: Stamp
    ) -> None:
        self.delivered[role] = reference

    def fail_delivery(self, role: str, sender: str, error: str, stamp: Stamp) -> None:
        self._delivery_failed(self.account_id, role, sender, error[:2000], stamp)

    @event("DeliveryFailed")
    def _delivery_failed(
        self, account_id: UUID, role: str, sender: str, error: str, stamp: Stamp
    ) -> None:
        self.failed_attempts[role] = self.failed_attempts.get(role, 0) + 1


class Notifying(LedgerStore):
    """Queue notifications and record their deliveries."""

    def queue_notification(
        self,
        notification_id: UUID,
        account_id: UUID,
        occasion: str,
        about: UUID,
        message: tuple[list[dict[str, Any]], str, str],
        stamp: Stamp,
    ) -> Saved:
        """Queued once: the same id again returns the first (``replayed``)."""
        recipients, subject, body = message
        notification = _new(
            Notification,
            "Queued",
            notification_id,
            account_id=account_id,
            occasion=occasion,
            about=about,
            recipients=recipients,
            subject=subject,
            body=body,
            stamp=stamp,
        )
        return self._create(notification, lambda: self.get_notification(notification_id))

    def get_notification(self, notification_id: UUID) -> Notification:
        return self._get(
            Notification, notification_id, UnknownNotification(f"no notification {notification_id}")
        )

    def record_delivery(
        self, notification_id: UUID, role: str, sender: str, outcome: str, stamp: Stamp
    ) -> Saved:
        """``outcome`` is the sender's reference, or its error when ``role`` failed."""

        def attempt() -> Saved:
            notification = self.get_notification(notification_id)
            if outcome.startswith("error:"):
                notification.fail_delivery(role, sender, outcome.removeprefix("error:"), stamp)
            else:
                notification.deliver(role, sender, outcome, stamp)
            return Saved(notification, self._position(self.save(notification)))

        return self._retrying(attempt)
