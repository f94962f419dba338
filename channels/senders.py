"""Senders deliver notifications. With ``ARLEDGER_SMTP_URL`` set, email
(``channels.smtp``); otherwise the default, ``outbox``, writes each message to the
``notification_outbox`` table and to the log, for a mail or SMS relay (or a person) to
pick up (an attachment is named in the log, not kept). Another is plugged in with
``ARLEDGER_NOTIFICATION_SENDER=package.module:make``, where ``make(settings, pool)``
returns an object with a ``name`` and ``send(message)`` that returns the delivery's
reference, or raises to say it failed."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from infra.database import ensure_tables
from infra.settings import Settings

log = logging.getLogger("arledger.notifications")

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS notification_outbox (
    outbox_id bigserial PRIMARY KEY,
    notification_id uuid NOT NULL,
    account_id uuid NOT NULL,
    role text NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (notification_id, role)
);
CREATE INDEX IF NOT EXISTS notification_outbox_account ON notification_outbox (account_id);
"""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str = "application/pdf"


@dataclass(frozen=True)
class Message:
    notification_id: UUID
    account_id: UUID
    role: str  # coordinator or client
    to: str
    subject: str
    body: str
    # The same for every try of one notification to one recipient (an email's
    # Message-ID), so that a receiver can tell a repeat; and what goes with the text.
    message_id: str = ""
    attachments: tuple[Attachment, ...] = ()


class Sender(Protocol):
    name: str

    def send(self, message: Message) -> str: ...


class OutboxSender:
    """Writes each message once (a second send of the same one finds the first row)."""

    name = "outbox"

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        with pool.connection() as conn:
            ensure_tables(conn, OUTBOX_SCHEMA)

    def send(self, message: Message) -> str:
        with self.pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO notification_outbox (notification_id, account_id, role, recipient,"
                " subject, body) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (notification_id,"
                " role) DO UPDATE SET role = EXCLUDED.role RETURNING outbox_id",
                (
                    message.notification_id,
                    message.account_id,
                    message.role,
                    message.to,
                    message.subject,
                    message.body,
                ),
            ).fetchone()
        assert row is not None
        log.info(
            "notification written to the outbox",
            extra={
                "notification_id": str(message.notification_id),
                "role": message.role,
                "to": message.to,
                "subject": message.subject,
                "attachments": [a.filename for a in message.attachments],
            },
        )
        return f"outbox:{row[0]}"


def outbox(pool: ConnectionPool, account_id: UUID | None, limit: int) -> list[dict[str, Any]]:
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        ensure_tables(conn, OUTBOX_SCHEMA)
        return cur.execute(
            "SELECT outbox_id, notification_id, account_id, role, recipient, subject, body,"
            " written_at FROM notification_outbox"
            " WHERE (%(account)s::uuid IS NULL OR account_id = %(account)s)"
            " ORDER BY outbox_id LIMIT %(limit)s",
            {"account": account_id, "limit": limit},
        ).fetchall()


def load_sender(settings: Settings, pool: ConnectionPool) -> Sender:
    spec = settings.notification_sender
    if spec == "outbox" and settings.smtp_url:
        from channels.smtp import SmtpSender

        return SmtpSender(settings)
    if spec == "outbox":
        return OutboxSender(pool)
    module, _, factory = spec.partition(":")
    if not factory:
        raise ValueError(
            f"ARLEDGER_NOTIFICATION_SENDER must be 'outbox' or module:factory, not {spec!r}"
        )
    sender: Sender = getattr(importlib.import_module(module), factory)(settings, pool)
    return sender
