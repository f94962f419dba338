"""``arledger import accounts FILE``, ``arledger import invoices FILE`` and ``arledger
import payments FILE``: a file (CSV or XLSX) of an opening book's accounts, of invoices,
or of payments, saved in batches through the ledger's bulk paths with a progress bar.
Each row is opened, raised or recorded, found already there (so an import run again, or
resumed after a crash, does nothing twice) or refused with its reason; every row's
outcome is written to a report beside the file. An opening book goes in as three files,
accounts, then invoices, then payments, and the invoices and payments may name the
accounts just opened by their ``account_ref`` at once. Rows become outcomes as they do
for ``POST /v1/accounts/imports``, ``/v1/invoices/imports`` and ``/v1/payments/imports``
(``channels.table_file.saved_rows``)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from channels import account_file, invoice_file, payment_file
from channels.account_refs import account_refs
from channels.table_file import TableFileError, saved_rows
from ledger import bulk, bulk_accounts, bulk_payments
from ledger.bulk import Outcome
from ledger.bulk_accounts import AccountOutcome
from ledger.bulk_payments import PaymentOutcome
from ledger.stamp import Stamp
from runtime.composition import Root, Store
from runtime.progress import ProgressBar

T = TypeVar("T")
# What each kind of file's report names a row by, and the outcomes it counts.
COLUMNS = {
    "accounts": ("external_ref", "name"),
    "invoices": ("account", "number"),
    "payments": ("account", "external_ref"),
}
STATUSES = {
    "accounts": bulk_accounts.STATUSES,
    "invoices": bulk.STATUSES,
    "payments": bulk_payments.STATUSES,
}


@dataclass(frozen=True)
class _Line:
    """One row of the report: the file's line, what the row names itself by, and what
    became of it (the id saved, or the problem and why)."""

    line: int
    names: tuple[str, str]
    status: str
    problem: str
    detail: str


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import",
        help="open a file of accounts, raise a file of invoices or record a file of payments"
        " (CSV or XLSX)",
    )
    parser.add_argument(
        "what",
        choices=["accounts", "invoices", "payments"],
        help="what the file holds (an opening book: accounts, then invoices, then payments)",
    )
    parser.add_argument("file", type=Path, help=".csv or .xlsx, columns as the README says")
    parser.add_argument("--sheet", default=None, help="the XLSX sheet (default: the first)")
    parser.add_argument(
        "--report", type=Path, default=None, help="every row's outcome (default: FILE.report.csv)"
    )
    parser.add_argument("--actor", default="arledger-import", help="stamped on every event")
    parser.set_defaults(run=_import)


def _import(args: argparse.Namespace, root: Root) -> int:
    """Exit 0 when every row was saved or already there, 1 when some were refused, 2
    when the file cannot be read."""
    try:
        content = args.file.read_bytes()
    except OSError as e:
        print(f"arledger import: {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    digest = hashlib.sha256(content).hexdigest()
    run = str(uuid.uuid4())
    stamp = Stamp(args.actor, f"import:{digest[:16]}", f"import:{run}", datetime.now(UTC))
    importing = {"accounts": _accounts, "invoices": _invoices, "payments": _payments}[args.what]
    with root.store("api") as store:
        try:
            lines = importing(args, content, store, stamp)
        except TableFileError as e:
            print(f"arledger import: {e}", file=sys.stderr)
            return 2
    report = args.report or args.file.with_name(args.file.name + ".report.csv")
    counts = _write_report(report, COLUMNS[args.what], STATUSES[args.what], lines)
    print(json.dumps({"file": str(args.file), "sha256": digest, **counts, "report": str(report)}))
    return 1 if counts["refused"] else 0


def _accounts(args: argparse.Namespace, content: bytes, store: Store, stamp: Stamp) -> list[_Line]:
    """Each account opened, already there or refused; a reference another account goes
    by already (as the balances read model has it) is refused, not opened twice."""
    rows = account_file.read_content(args.file.name, content, stamp, args.sheet)
    taken = account_refs(store.pool, store.ledger).known
    saved = saved_rows(
        rows,
        lambda commands: _with_progress(
            args.file.name,
            len(commands),
            lambda progress: store.ledger.bulk_accounts.open_accounts(commands, progress, taken),
        ),
    )
    return [
        _line(row.line, (row.external_ref, row.name), row.refused, outcome)
        for row, outcome in saved
    ]


def _invoices(args: argparse.Namespace, content: bytes, store: Store, stamp: Stamp) -> list[_Line]:
    """Each invoice raised, already there or refused; ``account_ref`` names an account
    by its reference (``channels/account_refs.py``)."""
    refs = account_refs(store.pool, store.ledger)
    rows = invoice_file.read_content(args.file.name, content, stamp, refs.account_for, args.sheet)
    saved = saved_rows(
        rows,
        lambda commands: _with_progress(
            args.file.name,
            len(commands),
            lambda progress: store.ledger.bulk.raise_invoices(commands, progress),
        ),
    )
    return [
        _line(row.line, (row.account, row.number), row.refused, outcome) for row, outcome in saved
    ]


def _payments(args: argparse.Namespace, content: bytes, store: Store, stamp: Stamp) -> list[_Line]:
    """Each payment recorded (and allocated to its invoice, when it names one), already
    there or refused; ``account_ref`` names an account as for invoices."""
    refs = account_refs(store.pool, store.ledger)
    rows = payment_file.read_content(args.file.name, content, stamp, refs.account_for, args.sheet)
    saved = saved_rows(
        rows,
        lambda commands: _with_progress(
            args.file.name,
            len(commands),
            lambda progress: store.ledger.bulk_payments.record_payments(commands, progress),
        ),
    )
    return [
        _line(row.line, (row.account, row.external_ref), row.refused, outcome)
        for row, outcome in saved
    ]


def _with_progress(
    name: str, total: int, run: Callable[[Callable[[int], None]], list[T]]
) -> list[T]:
    """``run`` with a progress bar on stderr, told how many rows each batch decided."""
    bar = ProgressBar(f"importing {name}", sys.stderr)
    done = 0

    def progress(count: int) -> None:
        nonlocal done
        done += count
        bar.update(done, total)

    outcomes = run(progress)
    bar.finish()
    return outcomes


def _line(
    line: int,
    names: tuple[str, str],
    refused: str | None,
    outcome: Outcome | AccountOutcome | PaymentOutcome | None,
) -> _Line:
    if outcome is None:  # the row could not be read: it never reached the ledger
        return _Line(line, names, "refused", "unreadable-row", refused or "")
    if outcome.error is not None:
        return _Line(line, names, outcome.status, outcome.error.code, outcome.error.detail)
    return _Line(line, names, outcome.status, "", str(_saved_id(outcome)))


def _saved_id(outcome: Outcome | AccountOutcome | PaymentOutcome) -> object:
    """The id of what the row became: the invoice, the account or the payment."""
    if isinstance(outcome, Outcome):
        return outcome.invoice_id
    if isinstance(outcome, AccountOutcome):
        return outcome.account_id
    return outcome.payment_id


def _write_report(
    path: Path, columns: tuple[str, str], statuses: tuple[str, ...], lines: list[_Line]
) -> dict[str, int]:
    """Every row's outcome, as CSV at ``path``; how many rows, and of each outcome."""
    counts = {"rows": len(lines), **dict.fromkeys(statuses, 0)}
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["line", *columns, "status", "problem", "detail"])
        for row in lines:
            counts[row.status] += 1
            writer.writerow([row.line, *row.names, row.status, row.problem, row.detail])
    return counts
