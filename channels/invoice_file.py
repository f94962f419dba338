"""Reading a file of invoices (a billing system's month-end export, an opening book) into
commands: CSV (UTF-8, a header row) or XLSX (the first sheet, or one named; a header
row). Columns, in any order and case: ``account_id`` or ``account_ref`` (the account's
``external_ref``), ``number``, ``amount`` (major units as a person writes them:
``1,234.56``; a numeric cell in XLSX), ``currency``, ``issued_on``, ``due_on`` (ISO
dates, or date cells) and an optional ``description``. A row that cannot be read is
refused on its own, with its line and why (an ``account_ref`` no account goes by, or one
several go by: ambiguous, naming them); the others become commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from channels.table_file import (
    Record,
    TableFileError,
    account_named,
    account_rows,
    amount_minor,
    day,
    text,
)
from ledger.commands import RaiseInvoice
from ledger.errors import LedgerError
from ledger.money import Money, check_currency
from ledger.stamp import Stamp

REQUIRED = ("number", "amount", "currency", "issued_on", "due_on")

# The file as a whole cannot be read (no header, a required column missing, too many
# rows): the error of every file reader (``channels/table_file.py``), by its old name.
InvoiceFileError = TableFileError


@dataclass(frozen=True)
class Row:
    """One line of the file: the command it became, or why it could not be read."""

    line: int  # as a spreadsheet numbers it: the header is line 1
    number: str
    account: str
    command: RaiseInvoice | None = None
    refused: str | None = None


def read(
    path: Path,
    stamp: Stamp,
    account_for_ref: Callable[[str], UUID | None],
    sheet: str | None = None,
) -> list[Row]:
    """Every row of the file at ``path``, in order."""
    return read_content(path.name, path.read_bytes(), stamp, account_for_ref, sheet)


def read_content(
    name: str,
    content: bytes,
    stamp: Stamp,
    account_for_ref: Callable[[str], UUID | None],
    sheet: str | None = None,
) -> list[Row]:
    """Every row of the file ``name`` (XLSX when it ends so, else CSV), in order."""
    return account_rows(
        name,
        content,
        sheet,
        REQUIRED,
        lambda line, record: _row(line, record, stamp, account_for_ref),
    )


def _row(
    line: int, record: Record, stamp: Stamp, account_for_ref: Callable[[str], UUID | None]
) -> Row:
    number = text(record.get("number"))
    account = text(record.get("account_id")) or text(record.get("account_ref"))
    try:
        account_id = account_named(record, account_for_ref)
        currency = check_currency(text(record.get("currency")).upper())
        command = RaiseInvoice(
            account_id=account_id,
            number=number,
            amount=Money(amount_minor(record.get("amount"), currency), currency),
            issued_on=day(record.get("issued_on"), "issued_on"),
            due_on=day(record.get("due_on"), "due_on"),
            description=text(record.get("description")) or None,
            stamp=stamp,
        )
    except LedgerError as e:  # a value the ledger refuses on sight (a currency, a date)
        return Row(line, number, account, refused=e.detail)
    except ValueError as e:  # a value that is not what its column holds
        return Row(line, number, account, refused=str(e))
    return Row(line, number, account, command=command)
