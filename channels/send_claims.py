"""Claims on sends, so that a message is never sent twice for one request. Before it
sends, the notifier claims (notification, recipient, attempt) in a transaction of its own,
committed before the message leaves; it records the outcome as an event after. A claim
found on a later run without its outcome means the notifier stopped in between: the
message may have gone out, so it is not sent again but recorded as unconfirmed, with its
Message-ID to look up in the mail server's log. The window is one send; claims are only
ever added (the service role may not change or delete them)."""

from __future__ import annotations

from uuid import UUID

from psycopg_pool import ConnectionPool

SCHEMA = """
CREATE TABLE IF NOT EXISTS notification_sends (
    notification_id uuid NOT NULL,
    role text NOT NULL,
    attempt int NOT NULL,
    message_id text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, role, attempt)
);
"""


def claim(
    pool: ConnectionPool, notification_id: UUID, role: str, attempt: int, message_id: str
) -> bool:
    """True when this run may send; False when a run before it claimed the same try."""
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "INSERT INTO notification_sends (notification_id, role, attempt, message_id)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (notification_id, role, attempt, message_id),
        ).fetchone()
    return row is not None
