"""`arledger up` is a supervisor: a worker process that dies is started again in its slot,
and /healthz says when a worker is down instead of "ok"."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from runtime import workers
from runtime.workers import YIELDING_NICENESS, Supervisor
from tests.pipeline import pipeline


def _beat_pid(p, worker):
    with p.services.pool.connection() as conn:
        row = conn.execute(
            "SELECT pid FROM worker_heartbeats WHERE worker = %s", (worker,)
        ).fetchone()
    return row[0] if row else None


def _until(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_healthz_is_503_when_a_worker_has_stopped_beating(settings):
    with pipeline(settings) as p:
        _until(lambda: _beat_pid(p, "workers/relay") is not None, what="the relay's beat")
        assert p.api.get("/healthz").status_code == 200
        with p.services.pool.connection() as conn:
            conn.execute(
                "INSERT INTO worker_heartbeats (worker, host, pid, beat_at)"
                " VALUES ('consume-9/balances-0', 'elsewhere', 4242, now() - interval '5 minutes')"
            )
        down = p.api.get("/healthz")
        assert down.status_code == 503
        assert "worker consume-9/balances-0 is down" in down.json()["problems"]


@pytest.mark.slow
def test_a_killed_worker_process_is_restarted_and_the_pipeline_goes_on(settings):
    with pipeline(settings, workers=False) as p:
        supervisor = Supervisor(settings, consumers=1)
        supervisor.start()
        try:
            relay = supervisor.children["relay"]
            _until(lambda: _beat_pid(p, "relay/relay") == relay.pid, what="the relay's beat")
            applier = supervisor.children["stripe-apply"].pid  # its own slot, not a consumer's
            _until(
                lambda: _beat_pid(p, "stripe-apply/stripe-applier") == applier,
                what="the Stripe applier's beat",
            )
            assert _beat_pid(p, "consume-0/stripe-applier") is None
            # It gives way to the API on a busy machine; the relay does not.
            ours = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, applier) == max(YIELDING_NICENESS, ours)
            assert os.getpriority(os.PRIO_PROCESS, relay.pid) == ours
            relay.send_signal(signal.SIGKILL)
            _until(lambda: supervisor.children["relay"].pid != relay.pid, what="a restart")
            restarted = supervisor.children["relay"].pid
            _until(lambda: _beat_pid(p, "relay/relay") == restarted, what="the new beat")
            account = p.api.open_account("After The Crash Ltd")
            balance = p.api.get(
                f"/v1/accounts/{account['id']}/balance", min_position=account["position"]
            )
            assert balance.status_code == 200, balance.text
            assert p.api.get("/healthz").status_code == 200
        finally:
            supervisor.stop()


def test_a_worker_killed_at_shutdown_is_named_by_its_slot(monkeypatch, caplog):
    """A child that ignores SIGTERM is killed after the wait, and the log says which
    worker it was, not only its pid."""
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    monkeypatch.setattr(workers, "CHILD_STOP_SECONDS", 0.5)
    with caplog.at_level(logging.WARNING, logger="arledger.workers"):
        workers.stop_children({"consume-1": stubborn})
    assert stubborn.returncode == -signal.SIGKILL
    killed = [r for r in caplog.records if r.getMessage() == "worker did not stop; killing it"]
    assert [(r.worker, r.pid) for r in killed] == [("consume-1", stubborn.pid)]
