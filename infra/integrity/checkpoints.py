"""Checkpoints: the Merkle root over the notification log up to a position, recorded at
intervals (by the relay) and on demand, signed when a signing key is configured. The
table is append-only like the store; each row keeps the tree's frontier so that the next
checkpoint only hashes what is new."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from infra.integrity import chain, merkle
from infra.integrity.signing import Signer, checkpoint_message

log = logging.getLogger("arledger.integrity")

TABLE = "ledger_checkpoints"
LOCK_KEY = 0x41524C434B505431  # "ARLCKPT1"
BATCH = 10_000

CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    position bigint PRIMARY KEY,
    tree_size bigint NOT NULL,
    root bytea NOT NULL,
    frontier jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    signature bytea,
    key_id text
)"""


@dataclass(frozen=True)
class Checkpoint:
    position: int
    tree_size: int
    root: bytes
    recorded_at: datetime | None
    signature: bytes | None
    key_id: str | None
    frontier: merkle.Frontier

    @property
    def message(self) -> bytes:
        return checkpoint_message(self.position, self.tree_size, self.root)

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            "signature": self.signature.hex() if self.signature else None,
            "key_id": self.key_id,
            "signed_message": self.message.decode(),
        }


def _from_row(row: dict[str, Any]) -> Checkpoint:
    return Checkpoint(
        position=row["position"],
        tree_size=row["tree_size"],
        root=bytes(row["root"]),
        recorded_at=row["recorded_at"],
        signature=bytes(row["signature"]) if row["signature"] is not None else None,
        key_id=row["key_id"],
        frontier=merkle.Frontier.from_json(row["tree_size"], row["frontier"]),
    )


def all_checkpoints(conn: psycopg.Connection[Any]) -> list[Checkpoint]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT * FROM {TABLE} ORDER BY position")
        return [_from_row(row) for row in cur.fetchall()]


def latest(conn: psycopg.Connection[Any], at_most: int | None = None) -> Checkpoint | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT * FROM {TABLE} WHERE position <= %s ORDER BY position DESC LIMIT 1",
            (at_most if at_most is not None else 2**62,),
        )
        row = cur.fetchone()
    return _from_row(row) if row else None


def leaves(conn: psycopg.Connection[Any], events_table: str, after: int, up_to: int) -> Any:
    """(position, leaf hash) for every stored event in ``(after, up_to]``, in order."""
    last = after
    while True:
        rows = conn.execute(
            f"SELECT notification_id, chain_hash FROM {events_table} "
            "WHERE notification_id > %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s",
            (last, up_to, BATCH),
        ).fetchall()
        for position, chain_hash in rows:
            yield position, merkle.leaf_hash(chain.leaf_data(position, bytes(chain_hash or b"")))
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def record(
    conn: psycopg.Connection[Any],
    events_table: str,
    signer: Signer | None,
    up_to: int | None = None,
) -> Checkpoint | None:
    """A checkpoint over the log up to ``up_to`` (default: the head): the one already
    recorded at that position, or a new one. None when the log is empty there."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        bound = up_to if up_to is not None else 2**62
        row = conn.execute(
            f"SELECT max(notification_id) FROM {events_table} WHERE notification_id <= %s",
            (bound,),
        ).fetchone()
        position = row[0] if row else None
        if position is None:
            return None
        base = latest(conn, position)
        if base is not None and base.position == position:
            return base
        frontier = base.frontier if base else merkle.Frontier()
        after = base.position if base else 0
        frontier.extend(leaf for _, leaf in leaves(conn, events_table, after, position))
        root = frontier.root()
        message = checkpoint_message(position, frontier.size, root)
        signature = signer.sign(message) if signer else None
        conn.execute(
            f"INSERT INTO {TABLE} (position, tree_size, root, frontier, signature, key_id) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (
                position,
                frontier.size,
                root,
                json.dumps(frontier.to_json()),
                signature,
                signer.key_id if signer else None,
            ),
        )
    made = latest(conn, position)
    assert made is not None
    log.info(
        "checkpoint recorded",
        extra={"position": position, "tree_size": made.tree_size, "root": root.hex()},
    )
    return made
