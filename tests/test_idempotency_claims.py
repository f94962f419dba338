"""A claim on an Idempotency-Key left by another API process: while that process lives
the key is "in progress"; once it is gone (killed mid-request) the claim is taken over at
once, not after CLAIM_STALE_SECONDS."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from api.idempotency import CLAIM_STALE_SECONDS, IdempotencyStore, Reply
from api.problems import ApiProblem
from infra.database import open_pool

ROOT = Path(__file__).resolve().parents[1]

# Another API process: it claims the key, then hangs in the command until it is killed.
_OTHER_PROCESS = textwrap.dedent(
    """
    import sys, time
    from api.idempotency import IdempotencyStore
    from infra.database import open_pool

    quick = open_pool(sys.argv[1], max_size=2, wait_for_flush=False, autocommit=True)
    store = IdempotencyStore(open_pool(sys.argv[1], max_size=2), quick)

    def hang():
        print("claimed", flush=True)
        time.sleep(600)

    store.run("alice", "k-1", "fingerprint", "/v1/x", hang)
    """
)


def quick_pool(database_url: str) -> ConnectionPool:
    """As the composition root makes the API's (``Root.quick_pool``)."""
    return open_pool(database_url, max_size=2, wait_for_flush=False, autocommit=True)


def _created() -> Reply:
    return Reply(201, {"ran": True})


@pytest.fixture
def pool(database_url):
    pool = open_pool(database_url, max_size=4)
    yield pool
    pool.close()


def test_a_claim_of_a_live_process_is_in_progress(database_url, pool):
    first = IdempotencyStore(pool, quick_pool(database_url))
    second = IdempotencyStore(pool, quick_pool(database_url))
    try:
        assert first._claim("alice", "k-1", "fingerprint") is None  # its request runs
        first.in_flight.add(("alice", "k-1"))
        with pytest.raises(ApiProblem) as refused:
            second.run("alice", "k-1", "fingerprint", "/v1/x", _created)
        assert refused.value.code == "request-in-progress"
    finally:
        first.close()
        second.close()


def test_a_claim_of_another_process_that_died_is_taken_over_at_once(database_url, pool):
    other = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, database_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "claimed"
    finally:
        other.kill()
        other.wait()
    began = time.monotonic()
    store = IdempotencyStore(pool, quick_pool(database_url))
    try:
        deadline = time.monotonic() + 5  # the server notices the closed connection at once
        while True:
            try:
                reply = store.run("alice", "k-1", "fingerprint", "/v1/x", _created)
                break
            except ApiProblem as refused:
                assert refused.code == "request-in-progress"
                assert time.monotonic() < deadline, "the dead process's claim was not taken over"
                time.sleep(0.2)
        assert reply.status == 201 and reply.body == {"ran": True}
        assert time.monotonic() - began < CLAIM_STALE_SECONDS / 2
        again = store.run("alice", "k-1", "fingerprint", "/v1/x", _created)
        assert again.replayed
    finally:
        store.close()
