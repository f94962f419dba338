"""The notifications the ledger's events call for, as a read model the notifier works
through: today, one per failed payment (declined, failed after pending, or returned by
the bank), to tell the account's coordinator and client.

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


def apply(conn: Connection[Any], events: Sequence[dict[str, Any]]) -> None:
    for ce in events:
        failure = _failure(ce)
        if failure is None:
            continue
        occasion, code, message = failure
        conn.execute(
            "INSERT INTO notification_requests (notification_id, occasion, account_id, about,"
            " cause, code, message, occurred_at, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (notification_id) DO NOTHING",
            (
                notification_id_for(occasion, ce["subject"]),
                occasion,
                ce["accountid"],
                ce["subject"],
                ce["id"],
                code,
                message,
                ce["effectivetime"],
                ce["position"],
            ),
        )
