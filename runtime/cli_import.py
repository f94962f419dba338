"""``arledger import invoices FILE``: a file of invoices (CSV or XLSX) raised in batches
through the ledger's bulk path, with a progress bar, each row raised, found already there
(so an import run again, or resumed after a crash, raises nothing twice) or refused with
its reason; every row's outcome is written to a report beside the file."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from channels import invoice_file
from ledger.bulk import Outcome
from ledger.stamp import Stamp
from projections import balance_queries
from runtime.composition import Root
from runtime.progress import ProgressBar


def register(sub: Any) -> None:
    parser = sub.add_parser("import", help="raise a file of invoices (CSV or XLSX) in batches")
    parser.add_argument("what", choices=["invoices"], help="what the file holds")
    parser.add_argument("file", type=Path, help=".csv or .xlsx, columns as the README says")
    parser.add_argument("--sheet", default=None, help="the XLSX sheet (default: the first)")
    parser.add_argument(
        "--report", type=Path, default=None, help="every row's outcome (default: FILE.report.csv)"
    )
    parser.add_argument("--actor", default="arledger-import", help="stamped on every event")
    parser.set_defaults(run=_import)


def _import(args: argparse.Namespace, root: Root) -> int:
    """Exit 0 when every row was raised or already there, 1 when some were refused, 2
    when the file cannot be read."""
    digest = hashlib.sha256(args.file.read_bytes()).hexdigest()
    run = str(uuid.uuid4())
    stamp = Stamp(args.actor, f"import:{digest[:16]}", f"import:{run}", datetime.now(UTC))
    with root.store("api") as store:
        with store.pool.connection() as conn:
            refs = balance_queries.accounts_by_external_ref(conn)
        try:
            rows = invoice_file.read(args.file, stamp, refs.get, args.sheet)
        except invoice_file.InvoiceFileError as e:
            print(f"arledger import: {e}", file=sys.stderr)
            return 2
        readable = [row for row in rows if row.command is not None]
        bar = ProgressBar(f"importing {args.file.name}", sys.stderr)
        done = 0

        def progress(count: int) -> None:
            nonlocal done
            done += count
            bar.update(done, len(readable))

        commands = [row.command for row in readable if row.command is not None]
        outcomes = store.ledger.bulk.raise_invoices(commands, progress)
        bar.finish()
    by_line = {row.line: outcome for row, outcome in zip(readable, outcomes, strict=True)}
    report = args.report or args.file.with_name(args.file.name + ".report.csv")
    counts = _write_report(report, rows, by_line)
    print(json.dumps({"file": str(args.file), "sha256": digest, **counts, "report": str(report)}))
    return 1 if counts["refused"] else 0


def _write_report(
    path: Path, rows: list[invoice_file.Row], by_line: dict[int, Outcome]
) -> dict[str, int]:
    counts = {"rows": len(rows), "raised": 0, "already": 0, "refused": 0}
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "account", "number", "status", "problem", "detail"])
        for row in rows:
            outcome = by_line.get(row.line)
            if outcome is None:
                status, problem, detail = "refused", "unreadable-row", row.refused or ""
            else:
                status = outcome.status
                problem = outcome.error.code if outcome.error else ""
                detail = outcome.error.detail if outcome.error else str(outcome.invoice_id)
            counts[status] += 1
            writer.writerow([row.line, row.account, row.number, status, problem, detail])
    return counts
