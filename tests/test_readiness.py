"""Ready means ready: /readyz is a 503 until every projection's consumer group holds all
the topic's partitions, and once it is 200 the first command's effect is readable within
the default wait (no consumer group still joining)."""

from __future__ import annotations

import threading
import time

from projections.registry import PROJECTIONS
from runtime.cli import announce_when_ready, is_ready
from tests.pipeline import pipeline
from tests.support import running_workers


def test_readyz_is_503_with_the_reasons_until_every_group_holds_its_partitions(settings):
    # The default wait of a read, not the tests' long one: ready must mean ready.
    default_wait = settings.model_copy(update={"query_wait_ms": 3_000})
    with pipeline(default_wait, workers=False) as p:
        waiting = p.api.get("/readyz")
        assert waiting.status_code == 503, waiting.text
        assert waiting.headers["Retry-After"]
        reasons = waiting.json()["reasons"]
        for name in PROJECTIONS:
            assert any(f"the {name} read model" in r for r in reasons), reasons
        assert p.api.get("/healthz").json()["ready"] is False
        assert not is_ready(p.url)
        with running_workers(default_wait):
            ready = p.until_ready()
            assert ready.json() == {"ready": True, "reasons": [], "unheld_partitions": {}}
            assert p.api.get("/healthz").json()["ready"] is True
            account = p.api.open_account("Ready Ltd")
            balance = p.api.get(
                f"/v1/accounts/{account['id']}/balance", min_position=account["position"]
            )
            assert balance.status_code == 200, balance.text
        _until_not_ready(p)


def _until_not_ready(p, timeout=30.0):
    """Consumers that stop cleanly take their partitions with them."""
    deadline = time.monotonic() + timeout
    while p.api.get("/readyz").status_code != 503:
        assert time.monotonic() < deadline, "still ready with no consumers"
        time.sleep(0.2)


def test_arledger_up_prints_ready_only_once_readyz_is_200(settings, capsys):
    with pipeline(settings, workers=False) as p:
        done = threading.Event()
        printed: list[bool] = []
        announcer = threading.Thread(
            target=lambda: printed.append(announce_when_ready(p.url, done))
        )
        announcer.start()
        time.sleep(1.5)
        assert "Ready" not in capsys.readouterr().out  # no consumer holds anything yet
        with running_workers(settings):
            announcer.join(timeout=90)
            assert printed == [True]
            assert "Ready             every read model is fed" in capsys.readouterr().out
            assert p.api.get("/readyz").status_code == 200
        done.set()
