"""Desk sessions: signing in with an API key gives a signed, HttpOnly session cookie.

The session is kept in PostgreSQL under the digest of its token (never the token or the
API key itself), with the key's digest, so that a revoked key's sessions stop working at
once, and with the session's CSRF token. Signing out ends it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from psycopg_pool import ConnectionPool

from api.access import KeyStore, digest
from api.auth import KeyRing, Principal
from infra.database import create_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS desk_sessions (
    token_digest text PRIMARY KEY,
    key_digest text NOT NULL,
    csrf text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    ended_at timestamptz
);
CREATE TABLE IF NOT EXISTS desk_secret (
    only_one boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    secret text NOT NULL
);
"""
COOKIE = "arledger_desk"
TOKEN_BYTES = 32


@dataclass(frozen=True)
class DeskUser:
    """Who is signed in, as their API key says now, and their session's CSRF token."""

    who: Principal
    csrf: str
    token: str


class DeskSessions:
    """Sign in, look up and sign out desk sessions."""

    def __init__(
        self, pool: ConnectionPool, keys: KeyRing, store: KeyStore, secret: str, hours: int
    ) -> None:
        self.pool, self.keys, self.store, self.lifetime = pool, keys, store, timedelta(hours=hours)
        create_schema(pool, SCHEMA)
        self._secret = (secret or self._shared_secret()).encode()

    def _shared_secret(self) -> str:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO desk_secret (secret) VALUES (%s) ON CONFLICT DO NOTHING",
                (secrets.token_urlsafe(32),),
            )
            row = conn.execute("SELECT secret FROM desk_secret").fetchone()
        assert row is not None
        return str(row[0])

    def principal_of(self, key_digest: str) -> Principal | None:
        """The key's role and actor now; None once it is revoked or unknown."""
        return self.keys.find_digest(key_digest) or self.store.find_digest(key_digest)

    def sign_in(self, api_key: str) -> str | None:
        """A new session's signed cookie value, or None for a key that is not valid."""
        if self.principal_of(digest(api_key)) is None:
            return None
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO desk_sessions (token_digest, key_digest, csrf, expires_at)"
                " VALUES (%s, %s, %s, now() + %s)",
                (digest(token), digest(api_key), secrets.token_urlsafe(24), self.lifetime),
            )
        return f"{token}.{self.sign(token)}"

    def find(self, cookie: str | None) -> DeskUser | None:
        """The signed-in user of a cookie: signed by us, live, and with a valid key."""
        token = self.verified(cookie)
        if token is None:
            return None
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT key_digest, csrf FROM desk_sessions WHERE token_digest = %s"
                " AND ended_at IS NULL AND expires_at > now()",
                (digest(token),),
            ).fetchone()
        who = self.principal_of(row[0]) if row else None
        return DeskUser(who, row[1], token) if who and row else None

    def sign_out(self, user: DeskUser) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE desk_sessions SET ended_at = now() WHERE token_digest = %s",
                (digest(user.token),),
            )

    def sign(self, value: str) -> str:
        return hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()

    def verified(self, cookie: str | None) -> str | None:
        """The token of a cookie whose signature is ours, else None."""
        token, _, signature = (cookie or "").rpartition(".")
        if token and hmac.compare_digest(signature, self.sign(token)):
            return token
        return None

    def max_age_seconds(self) -> int:
        return int(self.lifetime.total_seconds())
