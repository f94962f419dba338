"""A scheduler asked to stop (``arledger up`` shutting down, a deployment rolling) ends
at once, even while it waits for a read model that is behind: it used to wait out its
30 seconds, and ``up`` killed it after 15."""

from __future__ import annotations

import threading

from runtime import scheduler
from tests.pipeline import pipeline

STOPS_WITHIN_S = 5  # the read-model wait it must cut short is 30 s


def test_a_scheduler_waiting_for_a_read_model_stops_when_asked(settings):
    with pipeline(settings, workers=False) as p:  # no consumers: the read models stay behind
        p.api.open_account("Waiting Room Ltd")
        stop = threading.Event()
        running = threading.Thread(
            target=scheduler.run,
            args=(p.services.ledger, p.services.pool, p.settings.topic, stop, 60.0),
        )
        running.start()
        try:
            stop.wait(0.5)  # it is waiting for the balances read model now
            stop.set()
            running.join(STOPS_WITHIN_S)
            assert not running.is_alive(), "the scheduler did not stop when asked"
        finally:
            stop.set()
            running.join()
