"""``arledger import-statement``: a bank statement file into the ledger, as the API's
``POST /v1/bank-statements`` does it (the pipeline must be running: matching reads the
balances read model)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from channels.reconcile import ReadModelBehind
from ledger import limits
from ledger.errors import InvalidRequest
from ledger.text import control_character_refusal
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


class Unreadable(Exception):
    """The file cannot be taken as a statement at all; why, as the API would refuse it."""


def _import_statement(args: argparse.Namespace, root: Root) -> int:
    """Exit 0 when every line was placed, 1 when some wait in the exceptions queue, 2
    when the file is refused whole (as ``POST /v1/bank-statements`` refuses it), 3 when
    the ledger cannot match it yet (its balances read model is behind: try again)."""
    try:
        report = _imported(args, root)
    except (Unreadable, InvalidRequest) as e:
        print(f"arledger import-statement: {args.file}: {e}", file=sys.stderr)
        return 2
    except ReadModelBehind as e:
        print(f"arledger import-statement: {args.file}: nothing imported: {e}", file=sys.stderr)
        return 3
    print(json.dumps(report, indent=2, default=str), flush=True)
    waiting = [ln for ln in report["lines"] if ln["outcome"] == "exception"]
    return 1 if waiting else 0


def statement_text(path: Path) -> str:
    """``path``'s text, bounded as the API bounds a statement's ``content``: UTF-8, at
    most ``STATEMENT_CHARS_MAX`` characters and no control character (a NUL cannot be
    stored, and would stop the import half-way)."""
    too_long = Unreadable(f"a statement holds at most {limits.STATEMENT_CHARS_MAX} characters")
    bytes_max = 4 * limits.STATEMENT_CHARS_MAX  # UTF-8 takes at most 4 bytes a character
    try:
        with path.open("rb") as file:
            raw = file.read(bytes_max + 1)
    except OSError as e:
        raise Unreadable(e.strerror or str(e)) from None
    if len(raw) > bytes_max:
        raise too_long
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable("the file is not text (UTF-8): export it as CSV") from None
    if len(text) > limits.STATEMENT_CHARS_MAX:
        raise too_long
    refusal = control_character_refusal(text)
    if refusal is not None:
        raise Unreadable(refusal)
    return text


def _imported(args: argparse.Namespace, root: Root) -> dict[str, Any]:
    import uuid
    from datetime import UTC, datetime

    from channels.bank_import import Statement
    from ledger.stamp import Stamp

    statement = Statement(
        statement_text(args.file),
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
        return services.bank.import_statement(statement, stamp)
    finally:
        services.close()
