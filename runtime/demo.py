"""The demo book: a realistic sample of accounts, invoices and payments, loaded through
the HTTP API.

It goes through the API (not into the store directly) so that it exercises what a real
client does (validation, idempotency, the allocation rules, read-your-writes positions)
and works against any running deployment. The book is planned first, offline and
deterministically from ``random.Random(seed)`` and the day it is loaded on, keeping each
invoice's outstanding locally so that every allocation asked for is valid; then it is
posted. Every POST carries an ``Idempotency-Key`` derived from the seed, the day and the
item, so loading the same seed again on the same day replays the first replies
(``Idempotent-Replayed: true``) instead of duplicating the book; on another day the
dates move, so the keys do too and a fresh book is loaded rather than a 409.

This module posts the plan; ``runtime.demo_book`` makes it (with the clients and invoices
from ``runtime.demo_accounts``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx

from runtime.demo_accounts import InvoiceStep
from runtime.demo_book import AccountPlan, PaymentStep, plan_book

PROGRESS_EVERY = 10  # accounts between two progress lines on stderr
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class DemoSummary:
    """What one load did: counts of what was posted (replays included), how many replies
    were replays of an earlier load, and the highest store position a command replied."""

    accounts: int
    invoices: int
    payments: int
    failed_payments: int
    allocations: int  # allocation requests (one may split a payment over two invoices)
    replayed: int
    last_position: int


class _Loader:
    """Posts planned accounts through the API, checks each reply against the plan, and
    counts what happened."""

    def __init__(self, client: httpx.Client, key_base: str) -> None:
        self.client = client
        self.key_base = key_base
        self.counts = {
            "accounts": 0,
            "invoices": 0,
            "payments": 0,
            "failed_payments": 0,
            "allocations": 0,
            "replayed": 0,
            "last_position": 0,
        }

    def post(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        """POST with an Idempotency-Key; raise RuntimeError on any failure."""
        try:
            reply = self.client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError as e:
            raise RuntimeError(
                f"POST {path} failed: {e!r} (is the API at {self.client.base_url} running?)"
            ) from e
        if not reply.is_success:
            raise RuntimeError(f"POST {path} failed: HTTP {reply.status_code}: {reply.text}")
        if reply.headers.get("Idempotent-Replayed", "").lower() == "true":
            self.counts["replayed"] += 1
        data: dict[str, Any] = reply.json()
        position = data.get("position")
        if isinstance(position, int):
            self.counts["last_position"] = max(self.counts["last_position"], position)
        return data

    def load(self, plan: AccountPlan) -> None:
        """Open the account, then raise its invoices and record its payments in order."""
        key = f"{self.key_base}-a{plan.index:03d}"
        account_id = str(self.post("/v1/accounts", plan.body, key)["id"])
        self.counts["accounts"] += 1
        ids: dict[str, str] = {}
        for step in plan.steps:
            if isinstance(step, InvoiceStep):
                ids[step.number] = self._invoice(account_id, plan.currency, step, key)
            else:
                self._payment(account_id, plan.currency, step, ids, key)

    def _invoice(self, account_id: str, currency: str, step: InvoiceStep, key: str) -> str:
        """Raise one invoice on the account; return the id the server gave it."""
        body = {
            "account_id": account_id,
            "number": step.number,
            "amount": {"amount": step.amount, "currency": currency},
            "issued_on": step.issued_on.isoformat(),
            "due_on": step.due_on.isoformat(),
            "description": step.description,
        }
        reply = self.post("/v1/invoices", body, f"{key}-{step.number}")
        self.counts["invoices"] += 1
        return str(reply["id"])

    def _payment(
        self, account_id: str, currency: str, step: PaymentStep, ids: dict[str, str], key: str
    ) -> None:
        """Record one payment, check its status, and allocate it if the plan says so."""
        body: dict[str, Any] = {
            "account_id": account_id,
            "amount": {"amount": step.amount, "currency": currency},
            "method": step.method,
            "received_on": step.received_on.isoformat(),
            "reference": step.reference,
            "status": step.status,
        }
        if step.failure_code:
            body["failure_code"] = step.failure_code
            body["failure_message"] = step.failure_message
        key = f"{key}-p{step.seq:03d}"
        reply = self.post("/v1/payments", body, key)
        self.counts["payments"] += 1
        self.counts["failed_payments"] += int(step.status == "failed")
        _expect("POST /v1/payments status", reply.get("status"), step.status)
        if step.rows:
            self._allocate(str(reply["id"]), currency, step, ids, key)

    def _allocate(
        self, payment_id: str, currency: str, step: PaymentStep, ids: dict[str, str], key: str
    ) -> None:
        """Allocate a succeeded payment, and check the server did what the plan expects,
        so that the plan's outstanding (and so every later allocation) stays true."""
        path = f"/v1/payments/{payment_id}/allocations"
        body: dict[str, Any] = (
            {"strategy": "oldest_first"}
            if step.oldest_first
            else {
                "allocations": [
                    {"invoice_id": ids[n], "amount": {"amount": a, "currency": currency}}
                    for n, a in step.rows
                ]
            }
        )
        reply = self.post(path, body, f"{key}-alloc")
        self.counts["allocations"] += 1
        got = [(row["invoice_id"], row["amount"]["amount"]) for row in reply["allocations"]]
        _expect(f"POST {path} allocations", got, [(ids[n], a) for n, a in step.rows])
        _expect(
            f"POST {path} unallocated",
            reply["unallocated"],
            {"amount": step.unallocated, "currency": currency},
        )

    def summary(self) -> DemoSummary:
        """What has been loaded so far."""
        return DemoSummary(**self.counts)


def _expect(what: str, got: object, expected: object) -> None:
    """Stop at the first reply that disagrees with the plan: every later allocation is
    planned from the same local outstanding and could otherwise be refused."""
    if got != expected:
        raise RuntimeError(f"{what}: the server replied {got!r}; the demo expected {expected!r}")


def _progress(summary: DemoSummary, total: int) -> None:
    """One progress line on stderr."""
    print(
        f"demo: {summary.accounts}/{total} accounts, {summary.invoices} invoices, "
        f"{summary.payments} payments",
        file=sys.stderr,
        flush=True,
    )


def load_demo(
    base_url: str, api_key: str, *, accounts: int = 40, seed: int = 7, today: date | None = None
) -> DemoSummary:
    """Load a sample book of ``accounts`` accounts through the API at ``base_url``, and
    say what was loaded. The same seed on the same day (UTC) replays rather than
    duplicates; ``today`` fixes the day the book is dated back from."""
    day = today or datetime.now(UTC).date()
    plans = plan_book(accounts, seed, day)
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(
        base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:
        loader = _Loader(client, f"arledger-demo-s{seed}-{day:%Y%m%d}")
        for done, plan in enumerate(plans, start=1):
            loader.load(plan)
            if done % PROGRESS_EVERY == 0 or done == len(plans):
                _progress(loader.summary(), len(plans))
    summary = loader.summary()
    print(
        f"demo: loaded {summary.accounts} accounts, {summary.invoices} invoices, "
        f"{summary.payments} payments ({summary.failed_payments} failed), "
        f"{summary.allocations} allocations; {summary.replayed} replies were replays; "
        f"store position {summary.last_position}; {time.monotonic() - started:.1f}s"
    )
    return summary
