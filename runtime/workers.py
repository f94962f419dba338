"""The background processes of the pipeline, as threads that stop on an Event: the relay,
the projection consumers (with the notifier) and the Stripe applier. ``arledger up``
supervises each kind in processes of its own beside the API; ``arledger relay``,
``arledger consume`` and ``arledger stripe-apply`` run them alone."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from consumers.runner import ProjectionConsumer
from infra.settings import Settings
from projections.registry import PROJECTIONS
from runtime.composition import Root
from runtime.stripe_applier import stripe_applier_worker

log = logging.getLogger("arledger.workers")

RESTART_DELAY_SECONDS = 1.0
RESTART_DELAY_MAX_SECONDS = 30.0
# A worker up this long before it crashed is restarted after the shortest delay again.
RESTART_BACKOFF_RESET_SECONDS = 60.0
SLOT_ENV = "ARLEDGER_WORKER_SLOT"


# Which in-process workers are running their body now (not waiting to restart).
_running: dict[str, bool] = {}
# The projection consumer each running consumer worker is (its partitions are beaten).
_consumers: dict[str, ProjectionConsumer] = {}


def _supervised(name: str, body: Callable[[threading.Event], None], stop: threading.Event) -> None:
    """Run ``body`` until ``stop``; if it crashes (a database restart, a broker gone), log
    and start it again, waiting longer after each crash in a row."""
    delay = RESTART_DELAY_SECONDS
    while not stop.is_set():
        began = time.monotonic()
        _running[name] = True
        try:
            body(stop)
        except Exception:
            log.exception("worker crashed; restarting", extra={"worker": name, "in_s": delay})
        _running[name] = False
        if time.monotonic() - began > RESTART_BACKOFF_RESET_SECONDS:
            delay = RESTART_DELAY_SECONDS
        stop.wait(delay)
        delay = min(delay * 2, RESTART_DELAY_MAX_SECONDS)


def mark_running(name: str) -> None:
    """A worker that runs on the main thread (the scheduler) beats from now on."""
    _running[name] = True


def worker_slot() -> str:
    """The name this process's workers beat under: the supervisor's slot for it (the
    same after a restart), or the command's name when run alone."""
    return os.environ.get(SLOT_ENV) or "workers"


def heartbeat(root: Root, names: list[str], stop: threading.Event) -> threading.Thread:
    """Beat in PostgreSQL for each of ``names`` while its body runs (``/healthz``)."""
    slot = worker_slot()
    keyed = {f"{slot}/{name}": name for name in names}
    beat = root.heartbeat(
        list(keyed),
        lambda key: _running.get(keyed[key], False),
        lambda key: _holding(keyed[key]),
    )
    return beat.start(stop)


def _holding(name: str) -> tuple[str, list[int]] | None:
    consumer = _consumers.get(name)
    if consumer is None:
        return None
    return consumer.projection.name, sorted(consumer.assignments.held)


def relay_worker(root: Root) -> Callable[[threading.Event], None]:
    def body(stop: threading.Event) -> None:
        with root.relay() as relay:
            relay.run(stop)

    return body


def consumer_worker(root: Root, projection: str, n: int) -> Callable[[threading.Event], None]:
    name = f"{projection}-{n}"  # as start() names it

    def body(stop: threading.Event) -> None:
        try:
            with root.consumer(projection, client_id=f"arledger-{name}") as consumer:
                _consumers[name] = consumer
                consumer.run(stop)
        finally:
            _consumers.pop(name, None)

    return body


def notifier_worker(root: Root) -> Callable[[threading.Event], None]:
    def body(stop: threading.Event) -> None:
        with root.notifier() as notifier:
            notifier.run(stop, root.settings.notify_interval_ms / 1000)

    return body


def start(
    root: Root,
    stop: threading.Event,
    *,
    relay: bool = True,
    consumers: int = 1,
    stripe_applier: bool = False,
) -> list[threading.Thread]:
    """Start the relay, ``consumers`` consumer threads per projection and, with any
    consumers, a notifier; and the Stripe applier when asked. Each is built by ``root``.

    The applier is asked for apart: it needs an interpreter of its own (``arledger
    stripe-apply``), not a share of the consumers' lock on it, and one per deployment
    does the work (a second stands by, ``channels/stripe_applier.py``)."""
    bodies: list[tuple[str, Callable[[threading.Event], None]]] = []
    if relay:
        bodies.append(("relay", relay_worker(root)))
    for name in PROJECTIONS:
        bodies.extend((f"{name}-{n}", consumer_worker(root, name, n)) for n in range(consumers))
    if consumers:
        bodies.append(("notifier", notifier_worker(root)))
    if stripe_applier:
        bodies.append(("stripe-applier", stripe_applier_worker(root)))
    threads = [
        threading.Thread(target=_supervised, args=(name, body, stop), name=name, daemon=True)
        for name, body in bodies
    ]
    for thread in threads:
        thread.start()
    threads.append(heartbeat(root, [name for name, _ in bodies], stop))
    return threads


CHILD_STOP_SECONDS = 15
CHILD_CHECK_SECONDS = 0.5


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read the same settings."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        env[f"ARLEDGER_{name.upper()}"] = text
    return env


# Children that give way when the machine is busy: the Stripe applier works through what
# the webhook has recorded, and Stripe waits on the webhook's answer, not on the applier.
# Sharing the API's cores as an equal, it took their CPU while deliveries arrived and the
# API answered fewer of them.
YIELDING_SLOTS = frozenset({"stripe-apply"})
YIELDING_NICENESS = 10


class Supervisor:
    """The children of ``arledger up``: the relay, the scheduler, the Stripe applier (one,
    however many consumer processes) and the consumer processes, as in a deployment, so
    that they neither share the API's interpreter lock nor die with one another. A child
    that exits (a crash, a SIGKILL) is started again in the same slot, after a delay that
    doubles while it keeps dying, and it is logged."""

    def __init__(self, settings: Settings, consumers: int) -> None:
        self.env = {**os.environ, **settings_env(settings)}
        self.commands = {
            "relay": ["relay"],
            "scheduler": ["scheduler"],
            "stripe-apply": ["stripe-apply"],
        }
        self.commands.update({f"consume-{n}": ["consume"] for n in range(consumers)})
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        for slot in self.commands:
            self.children[slot] = self._spawn(slot)
        self._watch = threading.Thread(target=self._watch_children, name="supervisor", daemon=True)
        self._watch.start()

    def _spawn(self, slot: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "runtime.cli", *self.commands[slot]]
        child = subprocess.Popen(command, env={**self.env, SLOT_ENV: slot})  # noqa: S603 - our own CLI
        if slot in YIELDING_SLOTS:
            with contextlib.suppress(OSError):  # a child gone already is restarted anyway
                niceness = max(YIELDING_NICENESS, os.getpriority(os.PRIO_PROCESS, 0))
                os.setpriority(os.PRIO_PROCESS, child.pid, niceness)  # never above ours
        return child

    def _watch_children(self) -> None:
        delays = {slot: RESTART_DELAY_SECONDS for slot in self.commands}
        started = {slot: time.monotonic() for slot in self.commands}
        while not self.stopping.wait(CHILD_CHECK_SECONDS):
            for slot, child in list(self.children.items()):
                code = child.poll()
                if code is None:
                    continue
                if time.monotonic() - started[slot] > RESTART_BACKOFF_RESET_SECONDS:
                    delays[slot] = RESTART_DELAY_SECONDS
                log.error(
                    "worker process exited; restarting it",
                    extra={"worker": slot, "exit_code": code, "in_s": delays[slot]},
                )
                if self.stopping.wait(delays[slot]):
                    return
                delays[slot] = min(delays[slot] * 2, RESTART_DELAY_MAX_SECONDS)
                self.children[slot] = self._spawn(slot)
                started[slot] = time.monotonic()

    def stop(self) -> None:
        self.stopping.set()
        if self._watch is not None:
            self._watch.join(timeout=CHILD_STOP_SECONDS)
        stop_children(self.children)


def stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """Ask each child (by slot) to stop; kill one that has not within
    ``CHILD_STOP_SECONDS``, saying which slot it served."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for slot, child in children.items():
        try:
            child.wait(CHILD_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("worker did not stop; killing it", extra={"worker": slot, "pid": child.pid})
            child.kill()
            child.wait()
