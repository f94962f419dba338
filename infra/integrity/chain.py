"""The hash chain of each stream. Every stored event carries ``chain_hash``:

    SHA-256("arledger.event.v1" || previous || position || originator id || version
            || topic || 0x00 || state)

where ``previous`` is the chain hash of the stream's previous version (32 zero bytes for
version 1), ``position`` and ``version`` are 8-byte big-endian integers and the originator
id is the UUID's 16 bytes. A database trigger computes it as the row is inserted, in
the inserting transaction, so that no code path can store an event without it; the
verifier recomputes it here, independently, from the row's columns.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

DOMAIN = b"arledger.event.v1"
GENESIS = bytes(32)


def event_hash(
    previous: bytes | None,
    position: int,
    originator_id: UUID,
    version: int,
    topic: str,
    state: bytes,
) -> bytes:
    digest = hashlib.sha256(DOMAIN)
    digest.update(previous or GENESIS)
    digest.update(position.to_bytes(8, "big", signed=True))
    digest.update(originator_id.bytes)
    digest.update(version.to_bytes(8, "big", signed=True))
    digest.update(topic.encode())
    digest.update(b"\x00")
    digest.update(state)
    return digest.digest()


def leaf_data(position: int, chain_hash: bytes) -> bytes:
    """What a Merkle leaf holds for one event: its position and its chain hash."""
    return position.to_bytes(8, "big", signed=True) + chain_hash


def install_statements(table: str) -> list[str]:
    """DDL that adds the chain column and the trigger that fills it (idempotent)."""
    return [
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS chain_hash bytea",
        f"""
        CREATE OR REPLACE FUNCTION {table}_chain() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            previous bytea;
        BEGIN
            IF NEW.originator_version > 1 THEN
                SELECT chain_hash INTO previous FROM {table}
                 WHERE originator_id = NEW.originator_id
                   AND originator_version = NEW.originator_version - 1;
            END IF;
            NEW.chain_hash := sha256(
                convert_to('arledger.event.v1', 'UTF8')
                || coalesce(previous, decode(repeat('00', 32), 'hex'))
                || int8send(NEW.notification_id)
                || uuid_send(NEW.originator_id)
                || int8send(NEW.originator_version)
                || convert_to(coalesce(NEW.topic, ''), 'UTF8')
                || '\\x00'::bytea
                || coalesce(NEW.state, ''::bytea));
            RETURN NEW;
        END $$
        """,
        f"CREATE OR REPLACE TRIGGER {table}_chain BEFORE INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_chain()",
    ]
