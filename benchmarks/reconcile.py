"""Benchmark: reconciling a day of Stripe payments with the ledger.

Run: ``.venv/bin/python benchmarks/reconcile.py [--objects 10000]``. It starts
localstripe and ``arledger up`` (embedded servers in a temporary home), makes
``--objects`` succeeded PaymentIntents in localstripe for one account, and times two
runs of ``POST /v1/reconciliations/stripe`` over today: the first finds every payment
missing from the ledger and records it, the second finds them all matched."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import client, post, start_up  # noqa: E402
from runtime.embedded import free_port  # noqa: E402
from tests.stripe_servers import localstripe  # noqa: E402

KEY = "sk_test_benchmark"


def make_intents(url: str, account: str, count: int) -> None:
    with httpx.Client(base_url=url, auth=(KEY, ""), timeout=30) as stripe:
        pm = stripe.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": "4242424242424242",
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
        ).json()["id"]

        def one(n: int) -> None:
            reply = stripe.post(
                "/v1/payment_intents",
                data={
                    "amount": str(1_000 + n),
                    "currency": "gbp",
                    "payment_method": pm,
                    "confirm": "true",
                    "metadata[account_id]": account,
                },
            )
            reply.raise_for_status()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="arledger-bench-reconcile-"))
    with localstripe() as url:
        os.environ.update({"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": url})
        port = free_port()
        proc = start_up(home, port)
        try:
            http = client(port, home)
            http.timeout = httpx.Timeout(3600)
            account = post(
                http, "/v1/accounts", {"name": "Bench", "currency": "GBP", "payment_terms_days": 30}
            )["id"]
            started = time.perf_counter()
            make_intents(url, str(account), args.objects)
            print(
                f"{args.objects} PaymentIntents made in localstripe in "
                f"{time.perf_counter() - started:.1f} s"
            )
            today = datetime.now(UTC).date().isoformat()
            for label in ("first run (all missing, recorded)", "second run (all matched)"):
                started = time.perf_counter()
                while True:  # 503 read-model-behind: the read model is still catching up
                    reply = http.post(
                        "/v1/reconciliations/stripe",
                        json={"from": today, "to": today},
                        headers={"Idempotency-Key": f"bench-{label}-{time.time()}"},
                    )
                    if reply.status_code != 503:
                        break
                    time.sleep(0.5)
                reply.raise_for_status()
                run = reply.json()
                took = time.perf_counter() - started
                print(f"reconcile, {label}: {took:.1f} s for {run['listed']} -> {run['counts']}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
