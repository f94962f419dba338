"""Running the real pipeline inside a test: the API served by uvicorn on a free port,
the relay and the consumers as threads, all against the test's own database and topic."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.services import Services
from infra.settings import Settings
from runtime import cli, workers
from runtime.composition import Root

COORDINATOR_KEY = "test-coordinator-key"
AUDITOR_KEY = "test-auditor-key"
MANAGER_KEY = "test-manager-key"
ADMIN_KEY = "test-admin-key"
SERVICE_KEY = "test-service-key"
KEY_OF_ROLE = {
    "coordinator": COORDINATOR_KEY,
    "manager": MANAGER_KEY,
    "auditor": AUDITOR_KEY,
    "service": SERVICE_KEY,
    "admin": ADMIN_KEY,
}
_keys = itertools.count()


def gbp(amount_minor: int) -> dict[str, object]:
    """A Money body in pounds: ``gbp(12_50)`` is £12.50."""
    return {"amount": amount_minor, "currency": "GBP"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """An HTTP client for the API, as a coordinator, with a fresh Idempotency-Key per POST
    unless one is given."""

    def __init__(self, base_url: str, key: str = COORDINATOR_KEY) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def post(
        self, path: str, body: dict[str, Any], key: str | None = None, **headers: str
    ) -> httpx.Response:
        idem = key or f"test-{uuid.uuid4()}-{next(_keys)}"
        return self.http.post(path, json=body, headers={"Idempotency-Key": idem, **headers})

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code < 300, (response.status_code, response.text)
        body: dict[str, Any] = response.json()
        return body

    def open_account(
        self, name: str = "Acme Meeting Rooms Ltd", currency: str = "GBP", terms: int = 30
    ) -> dict[str, Any]:
        return self.ok(
            self.post(
                "/v1/accounts", {"name": name, "currency": currency, "payment_terms_days": terms}
            )
        )

    def raise_invoice(
        self,
        account_id: str,
        number: str,
        amount: int,
        issued_on: str,
        due_on: str,
        currency: str = "GBP",
    ) -> dict[str, Any]:
        return self.ok(
            self.post(
                "/v1/invoices",
                {
                    "account_id": account_id,
                    "number": number,
                    "amount": {"amount": amount, "currency": currency},
                    "issued_on": issued_on,
                    "due_on": due_on,
                },
            )
        )

    def record_payment(
        self,
        account_id: str,
        amount: int,
        method: str = "bacs",
        received_on: str = "2026-03-01",
        status: str = "succeeded",
        currency: str = "GBP",
        **extra: Any,
    ) -> dict[str, Any]:
        return self.ok(
            self.post(
                "/v1/payments",
                {
                    "account_id": account_id,
                    "amount": {"amount": amount, "currency": currency},
                    "method": method,
                    "received_on": received_on,
                    "status": status,
                    **extra,
                },
            )
        )

    def allocate(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.ok(self.post(f"/v1/payments/{payment_id}/allocations", body))

    def close(self) -> None:
        self.http.close()


@contextmanager
def serving(settings: Settings, services: Services) -> Iterator[str]:
    """Serve the API over real HTTP on a free port; yield its base URL. ``services``
    (built from ``settings`` by the composition root) stay the caller's to close."""
    port = free_port()
    config = uvicorn.Config(
        create_app(services),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def running_workers(
    settings: Settings,
    *,
    relay: bool = True,
    consumers: int = 1,
    stripe_applier: bool | None = None,
) -> Iterator[threading.Event]:
    """The pipeline's workers in this process: the relay, the consumers with the notifier,
    and (by default, with any consumers) the Stripe applier; ``arledger up`` runs each
    kind in processes of its own."""
    stop = threading.Event()
    applier = bool(consumers) if stripe_applier is None else stripe_applier
    threads = workers.start(
        Root(settings), stop, relay=relay, consumers=consumers, stripe_applier=applier
    )
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)


def run_cli(argv: list[str], settings: Settings, monkeypatch: pytest.MonkeyPatch) -> int:
    """``arledger ARGV`` in this process, configured by ``settings``; its exit code. The
    command sets up its own logging: the tests' is put back after it."""
    for name, value in workers.settings_env(settings).items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return cli.main(argv)
    finally:
        root.handlers[:], root.level = handlers, level
