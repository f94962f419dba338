"""A notification: a message the ledger owes to people because of something that
happened, such as a payment that failed. It is queued with its recipients, subject and
text; each recipient's delivery (or failure to deliver) is an event of its own, so the
history says who was told what, when, and through which sender."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import NotFound, RuleViolation
from ledger.stamp import Stamp
from ledger.unit_of_work import Saved, UnitOfWork, new


class AlreadyDelivered(RuleViolation):
    code = "notification-already-delivered"
    title = "The notification was delivered to that recipient already"


class UnknownNotification(NotFound):
    code = "unknown-notification"
    title = "Unknown notification"


class Notification(Aggregate):
    class Queued(Aggregate.Created):
        """A message owed to ``recipients`` because of ``occasion`` (about ``about``)."""

        cloudevent_type: ClassVar[str] = "arledger.notification.queued"
        account_id: UUID
        occasion: str
        about: UUID
        recipients: list[dict[str, Any]]
        subject: str
        body: str
        stamp: Stamp

    @event(Queued)
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

    # Read with defaults: notifications queued before these were kept have none.
    @property
    def unconfirmed(self) -> dict[str, str]:
        """Role -> message id of a send whose outcome was never recorded."""
        return dict(getattr(self, "_unconfirmed", {}))

    @property
    def given_up(self) -> list[str]:
        return list(getattr(self, "_given_up", []))

    @property
    def documents(self) -> dict[str, dict[str, Any]]:
        """Reference -> the document rendered for this notification (its SHA-256)."""
        return dict(getattr(self, "_documents", {}))

    def pending(self) -> list[dict[str, Any]]:
        """Recipients still to be tried: not told, not given up on, not unconfirmed."""
        done = set(self.unconfirmed) | set(self.given_up)
        return [r for r in self.undelivered() if r["role"] not in done]

    def retry_due(self, role: str, now: datetime, backoff_ms: int) -> bool:
        """After ``n`` failures the next try waits ``backoff_ms * 2**(n-1)``."""
        failures = self.failed_attempts.get(role, 0)
        last: datetime | None = getattr(self, "_last_failed_at", {}).get(role)
        if not failures or last is None:
            return True
        return now >= last + timedelta(milliseconds=backoff_ms * 2 ** (failures - 1))

    def deliver(
        self,
        role: str,
        sender: str,
        reference: str,
        stamp: Stamp,
        message_id: str | None = None,
        attachment_sha256: str | None = None,
    ) -> None:
        if role in self.delivered:
            raise AlreadyDelivered(f"the {role} was told already ({self.delivered[role]})")
        to = self.recipient(role)["to"]
        self._delivered(
            self.account_id, role, to, sender, reference, stamp, message_id, attachment_sha256
        )

    class Delivered(Aggregate.Event):
        """Told: ``reference`` is the sender's; version 2 adds the message id (an email's
        Message-ID) and the attached document's SHA-256 (none before it)."""

        cloudevent_type: ClassVar[str] = "arledger.notification.delivered"
        class_version = 2
        account_id: UUID
        role: str
        to: str
        sender: str
        reference: str
        stamp: Stamp
        message_id: str | None = None
        attachment_sha256: str | None = None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["message_id"] = None
            state["attachment_sha256"] = None

    @event(Delivered)
    def _delivered(
        self,
        account_id: UUID,
        role: str,
        to: str,
        sender: str,
        reference: str,
        stamp: Stamp,
        message_id: str | None = None,
        attachment_sha256: str | None = None,
    ) -> None:
        self.delivered[role] = reference

    def fail_delivery(self, role: str, sender: str, error: str, stamp: Stamp) -> None:
        self._delivery_failed(self.account_id, role, sender, error[:2000], stamp)

    class DeliveryFailed(Aggregate.Event):
        """A try to tell ``role`` failed with ``error``."""

        cloudevent_type: ClassVar[str] = "arledger.notification.delivery_failed"
        account_id: UUID
        role: str
        sender: str
        error: str
        stamp: Stamp

    @event(DeliveryFailed)
    def _delivery_failed(
        self, account_id: UUID, role: str, sender: str, error: str, stamp: Stamp
    ) -> None:
        self.failed_attempts[role] = self.failed_attempts.get(role, 0) + 1
        self._last_failed_at = {**getattr(self, "_last_failed_at", {}), role: stamp.effective_at}

    class GaveUp(Aggregate.Event):
        """No more tries for ``role``."""

        cloudevent_type: ClassVar[str] = "arledger.notification.gave_up"
        account_id: UUID
        role: str
        attempts: int
        stamp: Stamp

    @event(GaveUp)
    def give_up(self, account_id: UUID, role: str, attempts: int, stamp: Stamp) -> None:
        """No more tries for ``role``: it failed ``attempts`` times."""
        self._given_up = [*self.given_up, role]

    class DeliveryUnconfirmed(Aggregate.Event):
        """A send claimed and its outcome never recorded."""

        cloudevent_type: ClassVar[str] = "arledger.notification.delivery_unconfirmed"
        account_id: UUID
        role: str
        sender: str
        message_id: str
        stamp: Stamp

    @event(DeliveryUnconfirmed)
    def unconfirm(
        self, account_id: UUID, role: str, sender: str, message_id: str, stamp: Stamp
    ) -> None:
        """A send was claimed (message ``message_id``) and its outcome never recorded:
        the notifier stopped in between. It may have gone out, so it is never sent again."""
        self._unconfirmed = {**self.unconfirmed, role: message_id}

    class DocumentRendered(Aggregate.Event):
        """The document this notification carries, by hash."""

        cloudevent_type: ClassVar[str] = "arledger.notification.document_rendered"
        account_id: UUID
        document: str
        reference: str
        filename: str
        sha256: str
        size: int
        stamp: Stamp

    @event(DocumentRendered)
    def document_rendered(
        self,
        account_id: UUID,
        document: str,
        reference: str,
        filename: str,
        sha256: str,
        size: int,
        stamp: Stamp,
    ) -> None:
        """The PDF this notification carries (a dunning letter, a statement), by hash:
        proof of exactly what was sent."""
        self._documents = {
            **self.documents,
            reference: {"document": document, "filename": filename, "sha256": sha256},
        }


class Notifying:
    """Queue notifications and record their deliveries."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

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
        notification = new(
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
        return self.uow.create(notification, self.get_notification)

    def get_notification(self, notification_id: UUID) -> Notification:
        missing = UnknownNotification(f"no notification {notification_id}")
        return self.uow.get(Notification, notification_id, missing)

    def record_delivery(
        self,
        notification_id: UUID,
        role: str,
        sender: str,
        outcome: str,
        stamp: Stamp,
        sent: tuple[str | None, str | None] = (None, None),
    ) -> Saved:
        """``outcome`` is the sender's reference, or its error when ``role`` failed;
        ``sent``: the message id and the attachment's SHA-256, when there are."""

        def change(notification: Notification) -> None:
            if outcome.startswith("error:"):
                notification.fail_delivery(role, sender, outcome.removeprefix("error:"), stamp)
            else:
                notification.deliver(role, sender, outcome, stamp, *sent)

        return self.change_notification(notification_id, change)

    def change_notification(
        self, notification_id: UUID, change: Callable[[Notification], None]
    ) -> Saved:
        """Load, ``change`` (which appends events or raises), save; retried on a race."""
        return self.uow.change(self.get_notification, notification_id, change)
