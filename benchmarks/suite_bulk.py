"""The throughput suite's bulk row: a billing run through ``POST /v1/invoices/batch``,
several clients at once, each on accounts of its own, each request 1,000 invoices. The
figure is events appended per second (each invoice is two: the account's claim on the
number and the invoice), set against raw single-row commits from 16 clients.

Also here, outside the suite's table: the day's receipts through ``POST
/v1/payments/batch``, 1,000 payments a request, each allocated to an invoice of its own
(raised first, untimed) and settling it. Run it alone:
``.venv/bin/python benchmarks/suite_bulk.py --payments [--clients 4] [--batches 3]``
(servers as the suite starts them); it prints payments recorded per second."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import references as ref
from benchmarks.suite_commands import KEY

BATCH = 1_000
EVENTS_PER_INVOICE = 2
# A payment recorded and allocated to one invoice that it settles: the payment, the
# invoice's allocation, the payment's allocation and the invoice settled.
EVENTS_PER_PAYMENT = 4
ACCOUNTS_PER_CLIENT = 20

Post = Callable[[str, dict[str, object]], dict[str, Any]]


def _client(base_url: str, stack: ExitStack) -> Post:
    """A keep-alive client of the API; each POST with a key of its own."""
    http = stack.enter_context(
        httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=300)
    )

    def post(path: str, body: dict[str, object]) -> dict[str, Any]:
        reply = http.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        if reply.status_code >= 300:
            raise RuntimeError(f"{path}: {reply.status_code} {reply.text[:500]}")
        answer: dict[str, Any] = reply.json()
        return answer

    return post


def _accounts(post: Post, client: int) -> list[str]:
    return [
        post("/v1/accounts", {"name": f"Bulk {client}-{a}", "currency": "GBP",
                              "payment_terms_days": 30})["id"]
        for a in range(ACCOUNTS_PER_CLIENT)
    ]  # fmt: skip


def bulk_invoices(base_url: str, clients: int, batches_per_client: int) -> ref.Timed:
    def prepare(client: int, stack: ExitStack) -> ref.Operation:
        post = _client(base_url, stack)
        opened = _accounts(post, client)

        def batch(n: int) -> None:
            invoices = [
                {
                    "account_id": opened[i % len(opened)],
                    "number": f"B{client}-{n}-{i}",
                    "amount": {"amount": 100_00 + i, "currency": "GBP"},
                    "issued_on": "2026-11-30",
                    "due_on": "2026-12-30",
                }
                for i in range(BATCH)
            ]
            result = post("/v1/invoices/batch", {"invoices": invoices})
            if result["raised"] != BATCH:
                raise RuntimeError(f"a batch raised {result['raised']} of {BATCH}")

        return batch

    timed = ref.run_clients(
        f"billing runs of {BATCH:,} invoices, {clients} clients",
        clients,
        batches_per_client,
        prepare,
    )
    events = timed.operations * BATCH * EVENTS_PER_INVOICE
    return ref.Timed(events, timed.seconds, timed.latencies)


def bulk_payments(base_url: str, clients: int, batches_per_client: int) -> ref.Timed:
    """Payments recorded per second through ``POST /v1/payments/batch``: each client's
    batches of ``BATCH`` payments, each paying one invoice of its accounts in full."""

    def prepare(client: int, stack: ExitStack) -> ref.Operation:
        post = _client(base_url, stack)
        opened = _accounts(post, client)
        invoices: list[tuple[str, str]] = []  # (account, invoice) for each payment to come
        for n in range(batches_per_client):
            run = [
                {"account_id": opened[i % len(opened)], "number": f"P{client}-{n}-{i}",
                 "amount": {"amount": 100_00 + i, "currency": "GBP"},
                 "issued_on": "2026-11-01", "due_on": "2026-11-30"}
                for i in range(BATCH)
            ]  # fmt: skip
            raised = post("/v1/invoices/batch", {"invoices": run})
            invoices += [(str(i["account_id"]), str(i["invoice_id"])) for i in raised["items"]]

        def batch(n: int) -> None:
            payments = [
                {"account_id": account, "external_ref": f"RCPT-{client}-{n}-{i}",
                 "amount": {"amount": 100_00 + i, "currency": "GBP"}, "method": "bacs",
                 "received_on": "2026-11-20", "reference": f"P{client}-{n}-{i}",
                 "allocations": [{"invoice_id": invoice,
                                  "amount": {"amount": 100_00 + i, "currency": "GBP"}}]}
                for i, (account, invoice) in enumerate(invoices[n * BATCH : (n + 1) * BATCH])
            ]  # fmt: skip
            result = post("/v1/payments/batch", {"payments": payments})
            if result["recorded"] != BATCH:
                raise RuntimeError(f"a batch recorded {result['recorded']} of {BATCH}")

        return batch

    timed = ref.run_clients(
        f"receipts of {BATCH:,} payments, {clients} clients", clients, batches_per_client, prepare
    )
    return ref.Timed(timed.operations * BATCH, timed.seconds, timed.latencies)


def main() -> None:
    """The payments figure alone, on servers started as the suite starts them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", action="store_true", required=True)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=3, help="batches per client")
    parser.add_argument("--api-workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    from benchmarks.suite import _servers
    from benchmarks.suite_api import api_process
    from runtime.composition import Root

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with ExitStack() as stack:
        settings = _servers(stack)
        ledger = Root(settings).ledger("api")  # the schema, made before the API starts
        stack.callback(ledger.close)
        with api_process(settings, args.api_workers) as api:
            timed = bulk_payments(api.base_url, args.clients, args.batches)
    ms = 1e3
    print(
        f"bulk payments, {args.clients} clients x {args.batches} batches of {BATCH:,} to "
        f"{args.api_workers} API process(es): {timed.rate:,.0f} payments/s "
        f"({timed.rate * EVENTS_PER_PAYMENT:,.0f} ev/s); a batch p50 "
        f"{timed.median() * ms:,.0f} ms, p99 {timed.percentile(0.99) * ms:,.0f} ms"
    )


if __name__ == "__main__":
    main()
