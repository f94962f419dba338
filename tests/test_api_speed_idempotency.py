"""The idempotency store's quick path: a new key is claimed in one statement on a
connection that does not wait for the WAL's flush, and a reply is kept that way only when
the store can rebuild it; every guarantee stays (the same reply for a retry, nothing run
twice, a reused key refused, a concurrent duplicate told it is in progress)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from api import idempotency
from api.idempotency import IdempotencyStore, Reply
from api.problems import ApiProblem
from infra.database import open_pool
from ledger.errors import RuleViolation


def quick_pool(database_url: str) -> ConnectionPool:
    """As the composition root makes the API's (``Root.quick_pool``)."""
    return open_pool(database_url, max_size=4, wait_for_flush=False, autocommit=True)


@pytest.fixture
def pool(database_url: str) -> Iterator[ConnectionPool]:
    pool = open_pool(database_url, max_size=4)
    yield pool
    pool.close()


@pytest.fixture
def store(pool: ConnectionPool, database_url: str) -> Iterator[IdempotencyStore]:
    store = IdempotencyStore(pool, quick_pool(database_url))
    yield store
    store.close()


class Counted:
    """A command that counts its runs and answers ``reply``."""

    def __init__(self, reply: Reply) -> None:
        self.reply, self.runs = reply, 0

    def __call__(self) -> Reply:
        self.runs += 1
        return self.reply


def _row(pool: ConnectionPool, key: str) -> tuple[Any, ...] | None:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT status, response_text FROM idempotency_keys WHERE actor = 'alice' AND key = %s",
            (key,),
        ).fetchone()


def test_the_quick_connections_commit_each_statement_without_waiting_for_the_flush(
    store: IdempotencyStore,
) -> None:
    with store.quick.connection() as conn:
        assert conn.autocommit
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)


def test_a_reply_that_cannot_be_rebuilt_is_kept_durably_on_a_quick_connection(
    store: IdempotencyStore,
) -> None:
    """The durable keep turns ``synchronous_commit`` on for its own statement only."""
    durable = idempotency._KEEP_DURABLY + " RETURNING current_setting('synchronous_commit')"
    store.run("alice", "k-1", "fingerprint", "/v1/x", Counted(Reply(201, {})))
    with store.quick.connection() as conn:
        assert conn.execute(durable, (201, "{}", "alice", "k-1")).fetchone() == ("on",)
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)


def test_a_retry_gets_the_first_reply_and_runs_nothing(
    store: IdempotencyStore, pool: ConnectionPool
) -> None:
    for rebuildable in (True, False):  # kept quickly, or durably
        key = f"k-{rebuildable}"
        command = Counted(Reply(201, {"id": "é\x00", "n": 2**70}, rebuildable=rebuildable))
        first = store.run("alice", key, "fingerprint", "/v1/x", command)
        again = store.run("alice", key, "fingerprint", "/v1/x", command)
        assert command.runs == 1
        assert (again.status, again.body, again.replayed) == (201, first.body, True)
        assert again.response().body == first.response().body
        assert _row(pool, key) == (201, first.text)


def test_a_refusal_is_kept_durably_and_answered_again(store: IdempotencyStore) -> None:
    def refused() -> Reply:
        raise RuleViolation("the invoice is paid")

    first = store.run("alice", "k-1", "fingerprint", "/v1/x", refused)
    again = store.run("alice", "k-1", "fingerprint", "/v1/x", Counted(Reply(201, {})))
    assert first.status == 409 and again.replayed
    assert (again.status, again.body, again.media_type) == (409, first.body, first.media_type)


def test_a_key_reused_for_another_request_is_refused(store: IdempotencyStore) -> None:
    store.run("alice", "k-1", "fingerprint", "/v1/x", Counted(Reply(201, {})))
    with pytest.raises(ApiProblem) as reused:
        store.run("alice", "k-1", "another", "/v1/x", Counted(Reply(201, {})))
    assert reused.value.code == "idempotency-key-reused"


def test_a_concurrent_duplicate_is_in_progress_then_answered(store: IdempotencyStore) -> None:
    running, finish = threading.Event(), threading.Event()
    replies: list[Reply] = []

    def slow() -> Reply:
        running.set()
        finish.wait(10)
        return Reply(201, {"ran": True}, rebuildable=True)

    first = threading.Thread(
        target=lambda: replies.append(store.run("alice", "k-1", "fp", "/v1/x", slow))
    )
    first.start()
    assert running.wait(10)
    with pytest.raises(ApiProblem) as busy:
        store.run("alice", "k-1", "fp", "/v1/x", Counted(Reply(201, {})))
    assert busy.value.code == "request-in-progress"
    finish.set()
    first.join(10)
    again = store.run("alice", "k-1", "fp", "/v1/x", Counted(Reply(201, {})))
    assert (again.body, again.replayed) == ({"ran": True}, True) and replies[0].status == 201


def test_a_failed_command_lets_go_of_its_key_for_the_retry(store: IdempotencyStore) -> None:
    def broken() -> Reply:
        raise RuntimeError("the server failed")

    with pytest.raises(RuntimeError):
        store.run("alice", "k-1", "fp", "/v1/x", broken)
    unavailable = store.run("alice", "k-1", "fp", "/v1/x", Counted(Reply(503, {})))
    assert unavailable.status == 503  # a transient refusal is not kept either
    command = Counted(Reply(201, {"ran": True}))
    assert store.run("alice", "k-1", "fp", "/v1/x", command).status == 201
    assert command.runs == 1


def test_a_claim_let_go_of_meanwhile_is_claimed_not_a_failure(
    store: IdempotencyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick claim met another request's claim, which was then released before it
    could be read: the key is claimed on the second try (it was an assertion, a 500)."""
    real, calls = store._inserted, []

    def inserted(*args: Any) -> bool:
        calls.append(args)
        return len(calls) > 1 and real(*args)  # the first "conflicts"; no row to read

    monkeypatch.setattr(store, "_inserted", inserted)
    command = Counted(Reply(201, {"ran": True}))
    assert store.run("alice", "k-1", "fp", "/v1/x", command).status == 201
    assert command.runs == 1
    assert len(calls) == 2
