"""The Stripe applier is a process of its own, ``arledger stripe-apply``: it applies what
the webhook recorded; a second one stands by and takes over when the first dies; and
``arledger consume`` no longer runs one (``arledger up`` runs it once, in its own slot)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.workers import Supervisor, settings_env
from tests import stripe_payloads as sp
from tests.pipeline import pipeline

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_process"
pytestmark = pytest.mark.slow


@pytest.fixture
def stripe_settings(settings):
    return settings.model_copy(update={"stripe_webhook_secret": SECRET})


def _command(settings, *argv: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_env(settings), "ARLEDGER_LOG_LEVEL": "WARNING"}
    env.pop("ARLEDGER_WORKER_SLOT", None)
    return subprocess.Popen([sys.executable, "-m", "runtime.cli", *argv], cwd=ROOT, env=env)


def _beats(p) -> dict[str, int]:
    with p.services.pool.connection() as conn:
        return dict(conn.execute("SELECT worker, pid FROM worker_heartbeats").fetchall())


def _until(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _stopped(*children: subprocess.Popen[bytes]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        child.wait(timeout=30)


def test_stripe_apply_applies_what_the_webhook_recorded_and_a_second_one_takes_over(
    stripe_settings,
):
    with pipeline(stripe_settings, workers=False) as p:
        acct = p.api.open_account("Own Process Ltd")["id"]
        first = _command(stripe_settings, "stripe-apply")
        second = None
        try:
            paid = sp.payment_intent(12_00, "succeeded", {"account_id": acct})
            done = sp.delivered(p.api.http, sp.event("payment_intent.succeeded", paid), SECRET, 60)
            assert done["outcome"] == "applied", done
            _until(lambda: _beats(p).get("workers/stripe-applier") == first.pid, what="a beat")

            second = _command(stripe_settings, "stripe-apply")  # stands by: one applies
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            later = sp.payment_intent(8_00, "succeeded", {"account_id": acct})
            done = sp.delivered(p.api.http, sp.event("payment_intent.succeeded", later), SECRET, 60)
            assert done["outcome"] == "applied", done
            assert second.poll() is None
        finally:
            _stopped(first, *([second] if second else []))


def test_consume_runs_no_stripe_applier_and_up_runs_one_whatever_its_consumers(
    stripe_settings,
):
    with pipeline(stripe_settings, workers=False) as p:
        consumer = _command(stripe_settings, "consume")
        try:
            _until(lambda: "workers/balances-0" in _beats(p), what="the consumer's beat")
            beats = _beats(p)
            assert beats["workers/notifier"] == consumer.pid
            assert "workers/stripe-applier" not in beats, beats
        finally:
            _stopped(consumer)
    supervised = Supervisor(stripe_settings, consumers=3).commands
    assert [slot for slot, argv in supervised.items() if argv == ["stripe-apply"]] == [
        "stripe-apply"
    ]
