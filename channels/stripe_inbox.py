"""Every Stripe event we were sent, recorded once by its id, with what we did with it.

A delivery inserts its event's row as ``received`` and commits before the webhook answers
(Stripe's advice: store, answer 2xx, work later; ``channels/stripe_intake.py`` records
deliveries that arrive together in one commit); a second delivery of the same id, even
one arriving at the same moment, waits on the first's row and then finds it, so it has no
second effect. The applier (``channels/stripe_applier.py``) takes ``received`` rows
oldest first and settles each with its outcome. Events we do not handle are kept
(``unhandled``) for inspection; events that arrive before what they depend on (a refund
before its payment) wait as ``deferred`` and are applied when it arrives."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from infra.database import ensure_tables

SCHEMA = """
CREATE TABLE IF NOT EXISTS stripe_events (
    event_id text PRIMARY KEY,
    type text NOT NULL,
    object_id text,
    payment_intent text,
    created timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome text NOT NULL,
    detail text,
    payload jsonb NOT NULL
);
ALTER TABLE stripe_events ADD COLUMN IF NOT EXISTS positions bigint[];
CREATE INDEX IF NOT EXISTS stripe_events_received
    ON stripe_events (received_at, event_id) WHERE outcome = 'received';
CREATE INDEX IF NOT EXISTS stripe_events_deferred
    ON stripe_events (payment_intent, created) WHERE outcome = 'deferred';
CREATE INDEX IF NOT EXISTS stripe_events_outcome ON stripe_events (outcome, received_at);
CREATE TABLE IF NOT EXISTS stripe_rejected_payloads (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    reason text NOT NULL,
    body bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS stripe_customers (
    customer_id text PRIMARY KEY,
    account_id uuid NOT NULL UNIQUE
);
"""


def ensure_schema(conn: Connection[Any]) -> None:
    ensure_tables(conn, SCHEMA)


def keep_rejected(conn: Connection[Any], body: bytes, reason: str) -> None:
    """Keep a signed payload we refused, as received, for a person to inspect."""
    conn.execute(
        "INSERT INTO stripe_rejected_payloads (reason, body) VALUES (%s, %s)",
        (reason.replace("\x00", "\\u0000")[:2_000], body),
    )


def payment_intent_of(obj: dict[str, Any]) -> str | None:
    """The PaymentIntent an object belongs to (itself, for a PaymentIntent)."""
    if obj.get("object") == "payment_intent":
        return str(obj["id"])
    pi = obj.get("payment_intent")
    if isinstance(pi, dict):
        return str(pi["id"])
    return str(pi) if pi else None


# A commit that recorded new ``received`` events says so here, and the applier, which
# listens, looks at once instead of every few milliseconds.
RECEIVED_CHANNEL = "arledger_stripe_received"


def signal_received(conn: Connection[Any]) -> None:
    """Tell the applier that ``received`` events were recorded (as the transaction
    commits; at once on a connection in autocommit)."""
    conn.execute("SELECT pg_notify(%s, '')", (RECEIVED_CHANNEL,))


def waiting(conn: Connection[Any], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` received events not applied yet, in the order they arrived."""
    rows = conn.execute(
        "SELECT payload FROM stripe_events WHERE outcome = 'received'"
        " ORDER BY received_at, event_id LIMIT %s",
        (limit,),
    ).fetchall()
    return [row[0] for row in rows]


def settle(
    conn: Connection[Any],
    event_id: str,
    outcome: str,
    detail: str | None,
    positions: list[int] | None = None,
) -> None:
    conn.execute(
        "UPDATE stripe_events SET outcome = %s, detail = %s, positions = %s WHERE event_id = %s",
        (outcome, detail, positions or None, event_id),
    )


def settle_many(
    conn: Connection[Any], outcomes: Sequence[tuple[str, str, str | None, list[int]]]
) -> None:
    """Settle many events at once: (event id, outcome, detail, positions) each."""
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE stripe_events SET outcome = %s, detail = %s, positions = %s"
            " WHERE event_id = %s",
            [
                (outcome, detail, positions or None, key)
                for key, outcome, detail, positions in outcomes
            ],
        )


def deferred_for_any(conn: Connection[Any], payment_intents: list[str]) -> list[dict[str, Any]]:
    """Events that waited for any of these PaymentIntents' payments, oldest first (each
    PaymentIntent's in the order they were created), locked."""
    if not payment_intents:
        return []
    rows = conn.execute(
        "SELECT payload FROM stripe_events WHERE payment_intent = ANY(%s)"
        " AND outcome = 'deferred' ORDER BY created, event_id FOR UPDATE",
        (list(dict.fromkeys(payment_intents)),),
    ).fetchall()
    return [row[0] for row in rows]


COLUMNS = (
    "event_id, type, object_id, payment_intent, created, received_at, outcome, detail,"
    " coalesce(positions, '{}') AS positions"
)


def one(conn: Connection[Any], event_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {COLUMNS} FROM stripe_events WHERE event_id = %s", (event_id,)
        ).fetchone()


def listing(
    conn: Connection[Any], outcome: str | None, after: datetime | None, limit: int
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {COLUMNS} FROM stripe_events"
            " WHERE (%(outcome)s::text IS NULL OR outcome = %(outcome)s)"
            " AND (%(after)s::timestamptz IS NULL OR received_at > %(after)s)"
            " ORDER BY received_at, event_id LIMIT %(limit)s",
            {"outcome": outcome, "after": after, "limit": limit},
        ).fetchall()


def remember_customer(conn: Connection[Any], customer_id: str, account_id: Any) -> None:
    """The account a Stripe customer pays for; the first one named stays."""
    conn.execute(
        "INSERT INTO stripe_customers (customer_id, account_id) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING",
        (customer_id, account_id),
    )


def account_for_customer(conn: Connection[Any], customer_id: str) -> str | None:
    row = conn.execute(
        "SELECT account_id FROM stripe_customers WHERE customer_id = %s", (customer_id,)
    ).fetchone()
    return str(row[0]) if row else None
