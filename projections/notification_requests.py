"""The notifications the ledger's events call for, as a read model the notifier works
through: one per failed payment (declined, failed after pending, or returned by the
bank), to tell the account's coordinator and client; and one per document the client is
sent (a dunning notice's letter, an emailed invoice or receipt, a payment link, a
statement of account).

A row is a pure function of the events, so a rebuild reproduces it exactly; what was
sent is not kept here but in the notification's own events (and the notifier's
``notification_dispatches``), so a rebuilt table never sends anything twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid5

from psycopg import Connection

NAME = "notifications"
NAMESPACE = UUID("c8a1e0d2-4f3b-4b6e-9e27-1d5a7c9b3f40")

SCHEMA = """
CREATE TABLE IF NOT EXISTS notification_requests (
    notification_id uuid PRIMARY KEY,
    occasion text NOT NULL,
    account_id uuid NOT NULL,
    about uuid NOT NULL,
    cause text NOT NULL,
    code text,
    message text,
    occurred_at timestamptz NOT NULL,
    position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS notification_requests_position ON notification_requests (position);
"""


def notification_id_for(occasion: str, about: str) -> UUID:
    return uuid5(NAMESPACE, f"{occasion}/{about}")


def notice_uuid(notice_id: str) -> UUID:
    """A notice's id as a UUID (the API makes UUIDs; anything else is hashed to one)."""
    try:
        return UUID(notice_id)
    except ValueError:
        return uuid5(NAMESPACE, f"notice/{notice_id}")


def _failure(ce: dict[str, Any]) -> tuple[str, str | None, str | None] | None:
    """(occasion, code, message) when the event is a payment failing, else None."""
    d = ce["data"]
    if ce["type"] == "arledger.payment.recorded" and d.get("status") == "failed":
        return "payment_failed", d.get("failure_code"), d.get("failure_message")
    if ce["type"] == "arledger.payment.failed":
        return "payment_failed", d.get("failure_code"), d.get("failure_message")
    if ce["type"] == "arledger.payment.returned":
        return "payment_returned", d.get("return_code"), d.get("reason")
    return None


# Documents the ledger sends: (occasion, only when sent by email). A notice's letter is
# rendered (and its hash recorded) whatever its channel; it is mailed only for email.
DOCUMENTS = {
    "arledger.account.notice_issued": ("notice", False),
    "arledger.payment.receipt_issued": ("receipt", True),
    "arledger.invoice.sent": ("invoice_sent", True),
    "arledger.invoice.payment_link_issued": ("payment_link", False),
    "arledger.account.statement_sent": ("statement", True),
}


def _document(ce: dict[str, Any]) -> tuple[str, UUID, str] | None:
    """(occasion, about, key) when the event sends the client something, else None.
    The key makes the notification's id: one per notice, one per send of the rest."""
    if ce["type"] not in DOCUMENTS:
        return None
    occasion, email_only = DOCUMENTS[ce["type"]]
    if email_only and ce["data"].get("channel") != "email":
        return None
    if occasion == "notice":
        notice_id = str(ce["data"]["notice_id"])
        return occasion, notice_uuid(notice_id), notice_id
    return occasion, UUID(str(ce["subject"])), str(ce["id"])


def _request(ce: dict[str, Any]) -> tuple[UUID, str, UUID, str | None, str | None] | None:
    """(notification id, occasion, about, code, message) of what the event calls for."""
    failure = _failure(ce)
    if failure is not None:
        occasion, code, message = failure
        about = UUID(str(ce["subject"]))
        return notification_id_for(occasion, ce["subject"]), occasion, about, code, message
    document = _document(ce)
    if document is not None:
        occasion, about, key = document
        return notification_id_for(occasion, key), occasion, about, None, None
    return None


def apply(conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None:
    for ce in events:
        request = _request(ce)
        if request is None:
            continue
        notification_id, occasion, about, code, message = request
        conn.execute(
            "INSERT INTO notification_requests (notification_id, occasion, account_id, about,"
            " cause, code, message, occurred_at, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (notification_id) DO NOTHING",
            (
                notification_id,
                occasion,
                ce["accountid"],
                about,
                ce["id"],
                code,
                message,
                ce["effectivetime"],
                ce["position"],
            ),
        )
