"""Benchmark: time and peak memory to render 1,000 statements of account as PDF (fpdf2)
and as HTML (Jinja2), next to a reference measured in the same run: the same statements'
data serialised as JSON. Each statement is folded from its account's events first (the
fold is in every figure, so the difference is the rendering); the events are made here,
as the audit read model holds them (a year of monthly invoices, part payments,
allocations, a credit note), so no server is needed.

Time is measured over every statement; peak memory (tracemalloc, which slows Python
several times over) in a second pass over the first 100, one statement held at a time.

Run: ``.venv/bin/python benchmarks/documents.py [--statements 1000] [--months 12]``."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from documents import html, pdf  # noqa: E402
from documents.company import Company  # noqa: E402
from documents.statement import Statement, build  # noqa: E402

COMPANY = Company(
    "Northwind Rooms Ltd",
    ("1 Quay Street", "Bristol BS1 1AA"),
    ("Sort code 20-00-00", "Account 12345678"),
)
PERIOD = (date(2025, 7, 1), date(2025, 12, 31))
SAMPLE = 100


def _row(position: int, kind: str, subject: str, on: date, data: dict[str, Any]) -> dict:
    at = datetime.combine(on, datetime.min.time(), tzinfo=UTC)
    return {"position": position, "type": f"arledger.{kind}", "subject": subject,
            "effective_at": at, "recorded_at": at, "data": data}  # fmt: skip


def _money(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "GBP"}


def account_rows(n: int, months: int) -> list[dict[str, Any]]:
    """One account's events: an invoice a month, paid in part the month after."""
    account = str(uuid.UUID(int=n))
    rows = [_row(1, "account.opened", account, date(2025, 1, 1),
                 {"name": f"Client {n} Ltd", "currency": "GBP"})]  # fmt: skip
    for m in range(months):
        issued = date(2025, 1 + m % 12, 5)
        invoice, payment = str(uuid.uuid4()), str(uuid.uuid4())
        amount = 1000_00 + 37 * n + 101 * m
        raised = {"number": f"INV-{n}-{m:02d}", "amount": _money(amount),
                  "due_on": (issued + timedelta(days=30)).isoformat()}  # fmt: skip
        paid_on = issued + timedelta(days=35)
        rows += [
            _row(len(rows) + 1, "invoice.raised", invoice, issued, raised),
            _row(len(rows) + 2, "payment.recorded", payment, paid_on,
                 {"status": "succeeded", "reference": f"BACS-{n}-{m}",
                  "amount": _money(amount - 100_00)}),
            _row(len(rows) + 3, "invoice.payment_allocated", invoice, paid_on,
                 {"payment_id": payment, "amount": _money(amount - 100_00)}),
        ]  # fmt: skip
        if m % 4 == 0:
            credit = {"amount": _money(50_00), "reason": "goodwill"}
            rows.append(_row(len(rows) + 1, "invoice.credit_note_issued", invoice, paid_on, credit))
    return rows


def fold(books: list[list[dict[str, Any]]]) -> Iterator[Statement]:
    """One statement at a time: only the one being rendered is held."""
    return (build(str(i), rows, PERIOD, None) for i, rows in enumerate(books))


def measure(
    name: str, books: list[list[dict[str, Any]]], render: Callable[[Statement], Any]
) -> dict[str, Any]:
    """Time over every statement; then peak traced memory over the first ``SAMPLE``
    (tracing slows Python several times over, so it is kept out of the timing)."""
    gc.collect()
    began = time.perf_counter()
    size = sum(len(render(statement)) for statement in fold(books))
    seconds = time.perf_counter() - began
    gc.collect()
    tracemalloc.start()
    for statement in fold(books[:SAMPLE]):
        render(statement)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "format": name,
        "seconds": round(seconds, 3),
        "per_statement_ms": round(1000 * seconds / len(books), 3),
        "peak_mib": round(peak / 2**20, 2),
        "output_mib": round(size / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--statements", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    books = [account_rows(n, args.months) for n in range(args.statements)]
    events = sum(len(rows) for rows in books)
    print(f"{args.statements} statements from {events} events ({PERIOD[0]} to {PERIOD[1]})")
    results = [
        measure("json (reference)", books, lambda s: json.dumps(s.to_json()).encode()),
        measure("pdf", books, lambda s: pdf.render_statement(s, COMPANY)),
        measure("html", books, lambda s: html.render_statement(s, COMPANY).encode()),
    ]
    reference = results[0]["seconds"]
    for r in results:
        ratio = r["seconds"] / reference if reference else 0
        print(f"{r['format']:>17}: {r['seconds']:8.3f} s  {r['per_statement_ms']:7.3f} ms each"
              f"  peak {r['peak_mib']:7.2f} MiB  output {r['output_mib']:7.2f} MiB"
              f"  x{ratio:.1f} the reference")  # fmt: skip


if __name__ == "__main__":
    main()
