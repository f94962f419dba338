"""Reading a file of accounts (the accounts of an opening book, when a company moves to
arledger) into commands: CSV (UTF-8, a header row) or XLSX (the first sheet, or one
named; a header row), read as ``channels/table_file.py`` reads every file. Columns, in
any order and case: ``external_ref`` (the old system's reference: the account's
identity in the book), ``name``, ``currency``, ``payment_terms_days``, and optional
``email``, ``credit_limit`` (major units as a person writes them, ``25,000.00``, or a
number cell) and ``coordinator`` (the actor name of who looks after it). A row that
cannot be read is refused on its own, with its line and why; the others become
commands, which the ledger checks as it opens them (``ledger/bulk_accounts.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from channels.table_file import Record, amount_minor, blank, records, require_columns, text
from ledger.commands import OpenAccount
from ledger.errors import LedgerError
from ledger.money import Money, check_currency
from ledger.stamp import Stamp

REQUIRED = ("external_ref", "name", "currency", "payment_terms_days")


@dataclass(frozen=True)
class Row:
    """One line of the file: the command it became, or why it could not be read."""

    line: int  # as a spreadsheet numbers it: the header is line 1
    external_ref: str
    name: str
    command: OpenAccount | None = None
    refused: str | None = None


def read(path: Path, stamp: Stamp, sheet: str | None = None) -> list[Row]:
    """Every row of the file at ``path``, in order."""
    return read_content(path.name, path.read_bytes(), stamp, sheet)


def read_content(name: str, content: bytes, stamp: Stamp, sheet: str | None = None) -> list[Row]:
    """Every row of the file ``name`` (XLSX when it ends so, else CSV), in order."""
    columns, rows = records(name, content, sheet)
    require_columns(name, columns, REQUIRED)
    return [_row(line, record, stamp) for line, record in rows]


def _row(line: int, record: Record, stamp: Stamp) -> Row:
    ref = text(record.get("external_ref"))
    name = text(record.get("name"))
    try:
        currency = check_currency(text(record.get("currency")).upper())
        limit = record.get("credit_limit")
        command = OpenAccount(
            name=name,
            currency=currency,
            payment_terms_days=_days(record.get("payment_terms_days")),
            stamp=stamp,
            email=text(record.get("email")) or None,
            # None without one: the ledger refuses it, as an opening book names each.
            external_ref=ref or None,
            credit_limit=None
            if blank(limit)
            else Money(amount_minor(limit, currency, "credit_limit"), currency),
            coordinator=text(record.get("coordinator")) or None,
        )
    except LedgerError as e:  # a value the ledger refuses on sight (a currency)
        return Row(line, ref, name, refused=e.detail)
    except ValueError as e:  # a value that is not what its column holds
        return Row(line, ref, name, refused=str(e))
    return Row(line, ref, name, command=command)


def _days(value: Any) -> int:
    """A whole number of days: ``30``, or a number cell holding one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    written = text(value)
    if not written:
        raise ValueError("no payment_terms_days")
    if not (written.isascii() and written.isdigit()) or len(written) > 9:
        raise ValueError(f"payment_terms_days {written!r} is not a whole number of days")
    return int(written)
