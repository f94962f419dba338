"""Benchmark: importing a bank statement through the API, then the same file again, then
an overlapping one.

Run: ``.venv/bin/python benchmarks/bank_import.py [--lines 5000] [--accounts 500]``. It
starts ``arledger up`` (embedded servers in a temporary home, unless DATABASE_URL /
KAFKA_BOOTSTRAP_SERVERS are set), raises two invoices per account, writes a CSV in which
70% of the lines name an invoice, 15% name only the payer and 15% nobody we know, and
prints the lines matched per second for each import and what became of them."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import client, post, start_up  # noqa: E402
from runtime.embedded import free_port  # noqa: E402


def book(http: httpx.Client, accounts: int) -> list[tuple[str, list[str]]]:
    made = []
    for n in range(accounts):
        name = f"Bench Client {n:04d} Ltd"
        body = {"name": name, "currency": "GBP", "payment_terms_days": 30}
        acct = str(post(http, "/v1/accounts", body)["id"])
        numbers = []
        for k in range(2):
            number = f"INV-{n:04d}{k}"
            post(
                http,
                "/v1/invoices",
                {
                    "account_id": acct,
                    "number": number,
                    "amount": {"amount": 10_000_000, "currency": "GBP"},
                    "issued_on": "2026-10-01",
                    "due_on": "2026-10-31",
                },
            )
            numbers.append(number)
        made.append((name, numbers))
    return made


def statement(made: list[tuple[str, list[str]]], lines: int, rng: random.Random) -> list[str]:
    out = []
    for i in range(lines):
        name, numbers = rng.choice(made)
        day = f"2026-11-{1 + i % 28:02d}"
        amount = f"{rng.randint(100, 50_000) / 100:.2f}"
        roll = rng.random()
        if roll < 0.70:
            out.append(f"{day},{amount},{rng.choice(numbers)} PAYMENT,{name.upper()}")
        elif roll < 0.85:
            out.append(f"{day},{amount},THANK YOU,{name.upper()}")
        else:
            out.append(f"{day},{amount},REF {i},UNKNOWN PAYER {i}")
    return out


def timed_import(http: httpx.Client, lines: list[str], label: str) -> None:
    content = "date,amount,reference,payer\n" + "\n".join(lines) + "\n"
    started = time.perf_counter()
    reply = http.post(
        "/v1/bank-statements",
        json={"content": content, "currency": "GBP"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=3600,
    )
    took = time.perf_counter() - started
    reply.raise_for_status()
    body = reply.json()
    counts = {k: v for k, v in body["counts"].items() if v}
    print(
        f"{label}: {len(lines):,} lines in {took:.1f} s, {len(lines) / took:,.0f} lines/s;"
        f" duplicate={body['duplicate']}; {counts}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(7)
    home = Path(tempfile.mkdtemp(prefix="arledger-bench-bank-"))
    port = free_port()
    proc = start_up(home, port)
    try:
        http = client(port, home)
        made = book(http, args.accounts)
        lines = statement(made, args.lines, rng)
        timed_import(http, lines, "first import")
        timed_import(http, lines, "same file again")
        more = statement(made, args.lines // 10, random.Random(8))
        timed_import(http, lines + more, "overlapping file")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
