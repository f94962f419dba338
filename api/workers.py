"""The background processes of the pipeline, as threads that stop on an Event: the relay
and the projection consumers. ``arledger up`` runs them beside the API; ``arledger relay``
and ``arledger consume`` run them alone."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

from consumers.relay import Relay
from consumers.runner import ProjectionConsumer
from ledger.settings import Settings
from projections.database import open_ledger, open_pool
from projections.registry import PROJECTIONS

log = logging.getLogger("arledger.workers")

RESTART_DELAY_SECONDS = 1.0
# Connections each worker's ledger opens at once: they read the store, and save little.
WORKER_LEDGER_POOL = 2


def _supervised(name: str, body: Callable[[threading.Event], None], stop: threading.Event) -> None:
    """Run ``body`` until ``stop``; if it crashes, log and start it again."""
    while not stop.is_set():
        try:
            body(stop)
        except Exception:
            log.exception("worker crashed; restarting", extra={"worker": name})
            stop.wait(RESTART_DELAY_SECONDS)


def relay_worker(settings: Settings) -> Callable[[threading.Event], None]:
    def body(stop: threading.Event) -> None:
        ledger = open_ledger(settings, pool_size=WORKER_LEDGER_POOL)
        pool = open_pool(settings.database_url or "", max_size=2, name="arledger-relay")
        try:
            Relay(settings, ledger, pool).run(stop)
        finally:
            pool.close()
            ledger.close()

    return body


def consumer_worker(
    settings: Settings, projection: str, n: int
) -> Callable[[threading.Event], None]:
    def body(stop: threading.Event) -> None:
        ledger = open_ledger(settings, pool_size=WORKER_LEDGER_POOL)
        pool = open_pool(settings.database_url or "", max_size=2, name=f"arledger-{projection}")
        try:
            ProjectionConsumer(
                settings,
                ledger,
                pool,
                PROJECTIONS[projection],
                client_id=f"arledger-{projection}-{n}",
            ).run(stop)
        finally:
            pool.close()
            ledger.close()

    return body


def notifier_worker(settings: Settings) -> Callable[[threading.Event], None]:
    def body(stop: threading.Event) -> None:
        from channels.notifier import Notifier
        from channels.senders import load_sender

        ledger = open_ledger(settings, pool_size=WORKER_LEDGER_POOL)
        pool = open_pool(settings.database_url or "", max_size=3, name="arledger-notifier")
        try:
            PROJECTIONS["notifications"].ensure_schema(pool)
            notifier = Notifier(ledger, pool, load_sender(settings, pool), settings)
            notifier.run(stop, settings.notify_interval_ms / 1000)
        finally:
            pool.close()
            ledger.close()

    return body


def start(
    settings: Settings, stop: threading.Event, *, relay: bool = True, consumers: int = 1
) -> list[threading.Thread]:
    """Start the relay, ``consumers`` consumer threads per projection and, with any
    consumers, a notifier."""
    bodies: list[tuple[str, Callable[[threading.Event], None]]] = []
    if relay:
        bodies.append(("relay", relay_worker(settings)))
    for name in PROJECTIONS:
        bodies.extend((f"{name}-{n}", consumer_worker(settings, name, n)) for n in range(consumers))
    if consumers:
        bodies.append(("notifier", notifier_worker(settings)))
    threads = [
        threading.Thread(target=_supervised, args=(name, body, stop), name=name, daemon=True)
        for name, body in bodies
    ]
    for thread in threads:
        thread.start()
    return threads


CHILD_STOP_SECONDS = 15


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read the same settings."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        env[f"ARLEDGER_{name.upper()}"] = text
    return env


def spawn(settings: Settings, consumers: int) -> list[subprocess.Popen[bytes]]:
    """The relay and ``consumers`` consumer processes, for ``arledger up``: separate
    processes, as in a deployment, so that they neither share the API's interpreter lock
    nor die with one another."""
    env = {**os.environ, **settings_env(settings)}
    commands = [["relay"], ["scheduler"]] + [["consume"]] * consumers
    return [
        subprocess.Popen([sys.executable, "-m", "api.cli", *command], env=env)  # noqa: S603 - our own CLI
        for command in commands
    ]


def stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(CHILD_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("worker did not stop; killing it", extra={"pid": child.pid})
            child.kill()
            child.wait()
