"""Idempotency keys: the same key with the same request returns the first result and
appends nothing; the same key with another request is a 409.

A key is claimed before the command runs, so two concurrent requests with one key cannot
both run it: the second is told the first is in progress. The ids a command creates are
derived from the key, so even a command that ran but whose reply was lost (the process
died between the store's commit and this table's) conflicts with itself when retried
after the claim goes stale, instead of appending twice.

A new claim and a kept reply are one statement each, on connections of their own that
commit without waiting for the WAL to reach the disk (``synchronous_commit=off``):

- a claim is committed before its command starts, and the server flushes the WAL in
  order, so the claim is on disk by the time the command's own (durable) commit is; a
  claim lost in a crash belongs to a command that committed nothing, and the retry runs
  it;
- a reply is kept that way only when it can be rebuilt as it was: a command that saved
  an aggregate and appended events (``Reply.rebuildable``), whose mark and reply row are
  in the events' transaction (``infra/recorder.py``). If a crash loses it, the retry
  finds the mark and rebuilds the same reply from the aggregate, as after a process that
  died before keeping it. Every other reply (a refusal, a batch's report, an allocation)
  is kept durably, so a retry is answered with it even after a crash."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from uuid import UUID, uuid4, uuid5

import orjson
import psycopg
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool

from api import lifeline
from api.lifeline import Lifeline
from api.problems import PROBLEM_MEDIA_TYPE, ApiProblem, problem_body, status_of
from infra import recorder
from infra.database import create_schema
from ledger.errors import ConcurrencyExhausted, LedgerError

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    actor text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status int,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);
-- The reply as JSON text: jsonb cannot hold every string a reply may carry (a NUL).
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS response_text text;
-- Which API process claimed the key: its own dead claims are taken over at once.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS claimed_by uuid;
-- The advisory lock that process holds while it lives (api/lifeline.py): a claim whose
-- process no longer holds it is dead, and taken over at once by any process.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS claimed_lock bigint;
"""
log = logging.getLogger("arledger.idempotency")
KEY_LENGTH_MAX = 255
# A claim older than this with no result belongs to a request that died; it may be retried.
# (A claim whose process is gone is known dead at once: this is for a process that lives
# but whose request hangs, and for claims made before processes held a lifeline.)
CLAIM_STALE_SECONDS = 30
# A claim met while another request lets go of it (a release) is asked for again this
# many times before the request is told the key is in progress.
CLAIM_ATTEMPTS = 3
_NAMESPACE = UUID("a3c1e4f2-5b7d-4e8a-9f10-2c3d4e5f6a7b")
_CLAIM = (
    "INSERT INTO idempotency_keys (actor, key, request_hash, claimed_by, claimed_lock)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1"
)
_KEEP = "UPDATE idempotency_keys SET status = %s, response_text = %s WHERE actor = %s AND key = %s"
# The same, durable on a quick connection: in one statement (its own transaction, one
# round trip), ``set_config(..., true)`` turns ``synchronous_commit`` on for that
# transaction alone, so its commit waits for the WAL's flush.
_KEEP_DURABLY = (
    "WITH durable AS (SELECT set_config('synchronous_commit', 'on', true))"
    " UPDATE idempotency_keys SET status = %s, response_text = %s"
    " WHERE actor = %s AND key = %s AND EXISTS (SELECT FROM durable)"
)


class _Rendered(JSONResponse):
    """A JSON response whose body was rendered already (as the text the key keeps)."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


@dataclass(frozen=True)
class Reply:
    """A command's answer. ``rebuildable``: the command saved an aggregate and appended
    events, so the answer can be rebuilt from the store (see the module's docstring)."""

    status: int
    body: dict[str, Any]
    media_type: str = "application/json"
    replayed: bool = False
    rebuildable: bool = False

    @cached_property
    def text(self) -> str:
        """The body as JSON text, rendered once for the response and the kept reply."""
        try:
            return orjson.dumps(self.body).decode()
        except TypeError:  # what orjson does not take (an integer past 64 bits): as before
            return json.dumps(self.body, allow_nan=False, separators=(",", ":"))

    def response(self) -> JSONResponse:
        headers = {"Idempotent-Replayed": "true"} if self.replayed else {}
        if self.status == 503:
            headers["Retry-After"] = "1"
        body = self.text.encode()
        return _Rendered(body, self.status, headers=headers, media_type=self.media_type)


def command_id(actor: str, key: str, purpose: str) -> UUID:
    """A stable id for what the command with this key creates."""
    return uuid5(_NAMESPACE, f"{actor}\x00{key}\x00{purpose}")


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    """The keys' claims and kept replies, in ``idempotency_keys``. ``quick``: the pool,
    in autocommit, of the statements that need not wait for the WAL's flush (the
    composition root's ``Root.quick_pool``), closed with the store."""

    def __init__(self, pool: ConnectionPool, quick: ConnectionPool) -> None:
        self.pool = pool
        self.instance = uuid4()  # this process, in the claims it makes
        self.in_flight: set[tuple[str, str]] = set()
        create_schema(pool, SCHEMA, recorder.SCHEMA)
        conninfo = pool.conninfo if isinstance(pool.conninfo, str) else pool.conninfo()
        self.quick = quick
        self.lifeline = Lifeline(conninfo, self.instance)

    def close(self) -> None:
        """Let go of this process's lifeline: its unfinished claims are dead from now; and
        of the quick connections."""
        self.lifeline.close()
        self.quick.close()

    def run(
        self,
        actor: str,
        key: str | None,
        fingerprint: str,
        instance: str,
        command: Callable[[], Reply],
        recover: Callable[[recorder.Mark], Reply] | None = None,
    ) -> Reply:
        """Run ``command`` once for (actor, key) and keep its reply, a refusal included,
        as the key's answer from then on. A failure of the server itself releases the
        key so that the client's retry runs the command."""
        key = check_key(key)
        stored = self._claim(actor, key, fingerprint, recover)
        if stored is not None:
            return stored
        reply = self._run_claimed(actor, key, instance, command)
        if reply.status >= 500:
            # A transient refusal (a read model behind, a channel not configured) is not
            # the command's result: the retry with this key runs it again.
            self._release(actor, key)
            return reply
        self._keep(actor, key, reply)
        return reply

    def _run_claimed(
        self, actor: str, key: str, instance: str, command: Callable[[], Reply]
    ) -> Reply:
        """``command`` under the key's claim, marked with the key in the store; a refusal
        is its reply, and a failure of the server lets go of the claim."""
        self.in_flight.add((actor, key))
        marking = recorder.current_command.set((actor, key))
        try:
            return command()
        except ConcurrencyExhausted:
            self._release(actor, key)  # transient: the retry should run the command
            raise
        except LedgerError as refused:
            return Reply(status_of(refused), problem_body(refused, instance), PROBLEM_MEDIA_TYPE)
        except BaseException:
            self._release(actor, key)
            raise
        finally:
            recorder.current_command.reset(marking)
            self.in_flight.discard((actor, key))

    def _claim(
        self,
        actor: str,
        key: str,
        fingerprint: str,
        recover: Callable[[recorder.Mark], Reply] | None = None,
    ) -> Reply | None:
        """Claim the key for this request (None), or answer with what the key has: its
        kept reply, its recovered reply, or a refusal (reused, in progress)."""
        self.lifeline.hold()
        with self.quick.connection() as conn:
            if self._inserted(conn, actor, key, fingerprint):
                return None  # a new key: one statement
        for _ in range(CLAIM_ATTEMPTS):
            with self.pool.connection() as conn, conn.transaction():
                row = conn.execute(
                    "SELECT request_hash, status, COALESCE(response_text, response::text),"
                    " claimed_at < now() - make_interval(secs => %s) AS stale, claimed_by,"
                    " claimed_lock FROM idempotency_keys WHERE actor = %s AND key = %s"
                    " FOR UPDATE",
                    (CLAIM_STALE_SECONDS, actor, key),
                ).fetchone()
                if row is not None:
                    return self._existing(conn, actor, key, fingerprint, row, recover)
                if self._inserted(conn, actor, key, fingerprint):
                    return None  # let go of since (a failed request's release)
        raise _in_progress(key)

    def _inserted(self, conn: Any, actor: str, key: str, fingerprint: str) -> bool:
        values = (actor, key, fingerprint, self.instance, self.lifeline.key)
        return conn.execute(_CLAIM, values).fetchone() is not None

    def _existing(
        self,
        conn: Any,
        actor: str,
        key: str,
        fingerprint: str,
        row: tuple[Any, ...],
        recover: Callable[[recorder.Mark], Reply] | None,
    ) -> Reply | None:
        """The answer of a key claimed before (its row locked in ``conn``'s transaction),
        or None when the claim was dead and this request has taken it over."""
        stored_hash, status, response, stale, claimed_by, claimed_lock = row
        if stored_hash != fingerprint:
            raise _reused(key)
        if status is not None:
            media = PROBLEM_MEDIA_TYPE if int(status) >= 400 else "application/json"
            return Reply(int(status), json.loads(response), media, replayed=True)
        mark = recorder.mark_of(conn, actor, key)
        if mark is not None:
            return self._recovered(conn, actor, key, mark, recover)
        if not stale and not self._dead(conn, actor, key, claimed_by, claimed_lock):
            raise _in_progress(key)
        conn.execute(
            "UPDATE idempotency_keys SET claimed_at = now(), claimed_by = %s,"
            " claimed_lock = %s WHERE actor = %s AND key = %s",
            (self.instance, self.lifeline.key, actor, key),
        )
        return None

    def _dead(
        self, conn: Any, actor: str, key: str, claimed_by: UUID | None, claimed_lock: int | None
    ) -> bool:
        """A claim of this process for a request it no longer runs, or of a process that
        no longer holds its lifeline (it exited, was killed, or lost its connection)."""
        if claimed_by == self.instance:
            return (actor, key) not in self.in_flight
        return claimed_lock is not None and lifeline.is_gone(conn, claimed_lock)

    @staticmethod
    def _recovered(
        conn: Any,
        actor: str,
        key: str,
        mark: recorder.Mark,
        recover: Callable[[recorder.Mark], Reply] | None,
    ) -> Reply:
        """The command committed but its reply was never kept (the process died, or the
        database went, in between): append nothing, answer as the command did (rebuilt
        from the aggregate it replied with, as it was then) where the route can, else say
        it was recorded; and keep that as the key's answer."""
        if recover is not None and mark.reply_id is not None:
            reply = recover(mark)
        else:
            reply = Reply(
                200,
                {
                    "recorded": True,
                    "idempotency_key": key,
                    "position": mark.position,
                    "detail": "this request was recorded before its reply was lost; nothing "
                    "was appended again: read the resource it concerns for its state",
                },
            )
        conn.execute(_KEEP, (reply.status, reply.text, actor, key))
        return Reply(reply.status, reply.body, reply.media_type, replayed=True)

    def _keep(self, actor: str, key: str, reply: Reply) -> None:
        """Keep ``reply`` as the key's answer: without waiting for the WAL's flush when
        the store can rebuild it, durably otherwise (see the module's docstring)."""
        quickly = reply.rebuildable and reply.status < 300
        try:
            with self.quick.connection() as conn:
                conn.execute(
                    _KEEP if quickly else _KEEP_DURABLY, (reply.status, reply.text, actor, key)
                )
        except psycopg.Error:
            # The command has committed; its reply is the truth even if keeping it failed.
            # The claim stays and goes stale, and a retry then meets the ids the command
            # derived from the key (and appends nothing) instead of a 500 here.
            log.exception("could not keep the reply of a committed command", extra={"key": key})

    def _release(self, actor: str, key: str) -> None:
        """Let go of the claim of a request that failed, so that its retry runs it (a
        release lost in a crash leaves a dead claim, which the retry takes over)."""
        with self.quick.connection() as conn:
            conn.execute(
                "DELETE FROM idempotency_keys WHERE actor = %s AND key = %s AND status IS NULL",
                (actor, key),
            )


def _reused(key: str) -> ApiProblem:
    return ApiProblem(
        409,
        "idempotency-key-reused",
        "Idempotency-Key reused with another request",
        f"Idempotency-Key {key!r} was first used for a different request; "
        "use a new key for a new request",
    )


def _in_progress(key: str) -> ApiProblem:
    return ApiProblem(
        409,
        "request-in-progress",
        "A request with this Idempotency-Key is running",
        f"a request with Idempotency-Key {key!r} is still being processed; retry shortly",
        headers={"Retry-After": "1"},
    )


def check_key(key: str | None) -> str:
    if not key:
        raise ApiProblem(
            400,
            "idempotency-key-required",
            "Idempotency-Key header missing",
            "every POST needs an Idempotency-Key header (a unique string per request, "
            "reused only to retry the same request)",
        )
    if len(key) > KEY_LENGTH_MAX:
        raise ApiProblem(
            400,
            "idempotency-key-required",
            "Idempotency-Key header too long",
            f"Idempotency-Key is {len(key)} characters; the limit is {KEY_LENGTH_MAX}",
        )
    return key
