"""Who may do what: API keys issued by an admin (stored as SHA-256 digests, listed
without their secret, revocable), the role guard each endpoint declares, and the access
log in which every refused call is recorded.

Keys come from two places: ``ARLEDGER_API_KEYS`` (configuration, for bootstrapping and
for other services) and the ``api_keys`` table (issued through the API). A key found in
neither, or revoked, is a 401; a known key whose role the endpoint does not allow is a
403, recorded in ``access_log`` with the actor, the role and the route.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.auth import ROLES, Principal
from infra.database import create_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id uuid PRIMARY KEY,
    digest text NOT NULL UNIQUE,
    prefix text NOT NULL,
    role text NOT NULL,
    actor text NOT NULL,
    label text,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    revoked_at timestamptz,
    revoked_by text
);
CREATE TABLE IF NOT EXISTS access_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    role text NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    status int NOT NULL,
    reason text NOT NULL
);
"""
# How long a key looked up in the table is trusted before it is looked up again: a key
# revoked through another process stops working within this.
CACHE_SECONDS = 5.0
KEY_PREFIX = "ak_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    id: UUID
    prefix: str
    role: str
    actor: str
    label: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "prefix": self.prefix,
            "role": self.role,
            "actor": self.actor,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
        }


class KeyStore:
    """API keys issued through the API, and the access log."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()
        create_schema(pool, SCHEMA)

    def find(self, key: str) -> Principal | None:
        return self.find_digest(digest(key))

    def find_digest(self, d: str) -> Principal | None:
        """The unrevoked key whose digest is ``d`` (cached for ``CACHE_SECONDS``)."""
        with self._lock:
            hit = self._cache.get(d)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT role, actor FROM api_keys WHERE digest = %s AND revoked_at IS NULL", (d,)
            ).fetchone()
        who = Principal(row[0], row[1]) if row else None
        with self._lock:
            self._cache[d] = (time.monotonic(), who)
        return who

    def issue(
        self, key_id: UUID, role: str, actor: str, label: str | None, by: str
    ) -> tuple[IssuedKey, str | None]:
        """A new key, or (for an id already issued: a retried request) the same key
        without its secret, which is shown once only."""
        if role not in ROLES:
            raise ValueError(role)
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.pool.connection() as conn:
            made = conn.execute(
                "INSERT INTO api_keys (id, digest, prefix, role, actor, label, created_by) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                (key_id, digest(secret), secret[:10], role, actor, label, by),
            ).fetchone()
        issued = self.get(key_id)
        assert issued is not None
        return issued, secret if made else None

    def get(self, key_id: UUID) -> IssuedKey | None:
        found = self._select("WHERE id = %s", (key_id,))
        return found[0] if found else None

    def listing(self, include_revoked: bool) -> list[IssuedKey]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        return self._select(where + " ORDER BY created_at, id", ())

    def revoke(self, key_id: UUID, by: str) -> IssuedKey | None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE api_keys SET revoked_at = now(), revoked_by = %s "
                "WHERE id = %s AND revoked_at IS NULL",
                (by, key_id),
            )
        with self._lock:
            self._cache.clear()
        return self.get(key_id)

    def _select(self, tail: str, params: tuple[Any, ...]) -> list[IssuedKey]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, prefix, role, actor, label, created_at, created_by, revoked_at, "
                f"revoked_by FROM api_keys {tail}",
                params,
            )
            return [IssuedKey(**row) for row in cur.fetchall()]

    def record_refusal(self, who: Principal, method: str, path: str, reason: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO access_log (actor, role, method, path, status, reason) "
                "VALUES (%s, %s, %s, %s, 403, %s)",
                (who.actor, who.role, method, path, reason),
            )

    def access_log(self, limit: int) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, at, actor, role, method, path, status, reason FROM access_log "
                "ORDER BY id DESC LIMIT %s",
                (limit,),
            )
            return list(cur.fetchall())
