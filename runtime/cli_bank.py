"""``arledger import-statement``: a bank statement file into the ledger, as the API's
``POST /v1/bank-statements`` does it (the pipeline must be running: matching reads the
balances read model)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from runtime.composition import Root


def register(sub: Any) -> None:
    statement = sub.add_parser(
        "import-statement", help="match a bank statement CSV's receipts to the ledger"
    )
    statement.add_argument("file", type=Path, help="CSV: date, amount, reference, payer")
    statement.add_argument("--currency", required=True, help="ISO 4217, e.g. GBP")
    statement.add_argument("--method", default="bacs", help="bacs, ach, direct_debit, ...")
    statement.add_argument("--bank-account", default="default", help="which of our accounts")
    statement.add_argument("--date-format", default="iso", choices=["iso", "dmy", "mdy"])
    statement.add_argument("--decimal-separator", default=".", choices=[".", ","])
    statement.add_argument("--tolerance", type=int, default=None, help="minor units")
    statement.set_defaults(run=_import_statement)


def _import_statement(args: argparse.Namespace, root: Root) -> int:
    """Exit 0 when every line was placed, 1 when some wait in the exceptions queue."""
    import uuid
    from datetime import UTC, datetime

    from channels.bank_import import Statement
    from ledger.stamp import Stamp

    statement = Statement(
        args.file.read_text(encoding="utf-8-sig"),
        args.currency,
        args.method,
        args.bank_account,
        args.date_format,
        args.file.name,
        args.tolerance,
        args.decimal_separator,
    )
    services = root.services()
    try:
        run = str(uuid.uuid4())
        stamp = Stamp("arledger-cli", run, f"import-statement:{run}", datetime.now(UTC))
        report = services.bank.import_statement(statement, stamp)
    finally:
        services.close()
    print(json.dumps(report, indent=2, default=str), flush=True)
    waiting = [ln for ln in report["lines"] if ln["outcome"] == "exception"]
    return 1 if waiting else 0
