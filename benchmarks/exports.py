"""Benchmark of the spreadsheet exports: a 100,000-row audit trail as XLSX and as CSV,
next to references measured in the same run.

What is measured: the rows the audit-trail route makes (``api.routes.audit.audit_entry``
on a read-model row, then ``model_dump(mode="json")``, as ``?all=true`` streams them)
going through the export's own functions (``api.tabular_lists.audit_trail`` and
``api.tabular_write``) to a file on disk. Not measured: reading the rows from PostgreSQL
(``?all=true`` reads 1,000 a page) and sending the file over HTTP. Each case runs in a
fresh process of its own, so its peak resident memory (``ru_maxrss``) is its own:

* ``rows``: only making the rows (the floor under every case);
* ``json``: the rows gathered in a list and ``json.dumps``-ed to a file, as one JSON
  reply of the whole trail would be (the reference);
* ``csv``: ``csv_chunks`` (streamed a few hundred rows at a time) to a file;
* ``xlsx``: ``write_xlsx`` (XlsxWriter in constant-memory mode) to a file.

Run: ``.venv/bin/python benchmarks/exports.py [--rows 100000]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api import tabular_lists, tabular_write  # noqa: E402
from api.routes.audit import audit_entry  # noqa: E402

CASES = ("rows", "json", "csv", "xlsx")
TYPES = ("arledger.invoice.issued", "arledger.payment.received", "arledger.invoice.allocated")


def rows(n: int) -> Iterator[dict[str, Any]]:
    """``n`` audit entries as the route's JSON, made one at a time."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    accounts = [uuid.uuid5(uuid.NAMESPACE_URL, f"account-{i}") for i in range(400)]
    for i in range(n):
        at = start + timedelta(seconds=37 * i)
        db_row = {
            "position": i + 1,
            "account_id": accounts[i % 400],
            "type": TYPES[i % 3],
            "subject": uuid.uuid5(uuid.NAMESPACE_URL, f"subject-{i}"),
            "actor": f"user-{i % 17}@example.com",
            "reason": "agreed on the phone" if i % 5 == 0 else None,
            "effective_at": at,
            "recorded_at": at + timedelta(seconds=2),
            "outstanding_after_minor": (i * 7919) % 10_000_000 - 50_000,
            "currency": "GBP",
            "correlation_id": f"corr-{i // 3}",
            "causation_id": None,
            "data": {"number": f"INV-{i:06d}", "amount": {"amount": 12345, "currency": "GBP"}},
        }
        yield audit_entry(db_row).model_dump(mode="json")


def run_case(case: str, n: int, out: str) -> dict[str, Any]:
    """One case in this process: seconds, peak memory, output size."""
    base_kib = _rss_kib()
    started = time.perf_counter()
    if case == "rows":
        for _ in rows(n):
            pass
    elif case == "json":
        Path(out).write_text(json.dumps({"entries": list(rows(n))}))
    else:
        doc = tabular_lists.audit_trail(rows(n), [("Rows", n)])
        if case == "csv":
            with open(out, "wb") as f:
                for chunk in tabular_write.csv_chunks(doc.sheets[-1]):
                    f.write(chunk)
        else:
            tabular_write.write_xlsx(doc, out)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    size = os.path.getsize(out) if os.path.exists(out) else 0
    return {"case": case, "seconds": seconds, "peak_kib": peak_kib, "base_kib": base_kib} | {
        "bytes": size
    }


def _rss_kib() -> int:
    """Resident memory now (after the imports), from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # a child: one case, its figures as JSON on stdout
        print(json.dumps(run_case(args.case, args.rows, args.out)))
        return
    print(f"audit trail of {args.rows:,} rows, each case in a fresh process")
    print(f"{'case':6} {'seconds':>8} {'rows/s':>9} {'peak RSS':>10} {'growth':>9} {'file':>9}")
    with tempfile.TemporaryDirectory() as folder:
        for case in CASES:
            out = os.path.join(folder, f"trail.{case}")
            cmd = [sys.executable, __file__, "--case", case, "--rows", str(args.rows), "--out", out]
            found = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
            _show(found, args.rows)


def _show(r: dict[str, Any], n: int) -> None:
    mib = 1024
    print(
        f"{r['case']:6} {r['seconds']:8.1f} {n / r['seconds']:9,.0f} "
        f"{r['peak_kib'] / mib:8.0f}MB {(r['peak_kib'] - r['base_kib']) / mib:7.0f}MB "
        f"{r['bytes'] / 1024 / mib:7.1f}MB"
    )


if __name__ == "__main__":
    main()
