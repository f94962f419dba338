"""The throughput suite's bulk row: a billing run through ``POST /v1/invoices/batch``,
several clients at once, each on accounts of its own, each request 1,000 invoices. The
figure is events appended per second (each invoice is two: the account's claim on the
number and the invoice), set against raw single-row commits from 16 clients."""

from __future__ import annotations

import uuid
from contextlib import ExitStack

import httpx

from benchmarks import references as ref
from benchmarks.suite_commands import KEY

BATCH = 1_000
EVENTS_PER_INVOICE = 2
ACCOUNTS_PER_CLIENT = 20


def bulk_invoices(base_url: str, clients: int, batches_per_client: int) -> ref.Timed:
    def prepare(client: int, stack: ExitStack) -> ref.Operation:
        http = stack.enter_context(
            httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=300)
        )

        def post(path: str, body: dict[str, object]) -> dict[str, object]:
            reply = http.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            if reply.status_code >= 300:
                raise RuntimeError(f"{path}: {reply.status_code} {reply.text[:500]}")
            answer: dict[str, object] = reply.json()
            return answer

        opened = [
            post("/v1/accounts", {"name": f"Bulk {client}-{a}", "currency": "GBP",
                                  "payment_terms_days": 30})["id"]
            for a in range(ACCOUNTS_PER_CLIENT)
        ]  # fmt: skip

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
