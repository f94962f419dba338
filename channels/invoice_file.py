"""Reading a file of invoices (a billing system's month-end export, an opening book) into
commands: CSV (UTF-8, a header row) or XLSX (the first sheet, or one named; a header
row). Columns, in any order and case: ``account_id`` or ``account_ref`` (the account's
``external_ref``), ``number``, ``amount`` (major units as a person writes them:
``1,234.56``; a numeric cell in XLSX), ``currency``, ``issued_on``, ``due_on`` (ISO
dates, or date cells) and an optional ``description``. A row that cannot be read is
refused on its own, with its line and why; the others become commands."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger.commands import RaiseInvoice
from ledger.errors import LedgerError
from ledger.money import Money, check_currency, minor_units
from ledger.stamp import Stamp

REQUIRED = ("number", "amount", "currency", "issued_on", "due_on")
ROWS_MAX = 1_000_000


class InvoiceFileError(ValueError):
    """The file as a whole cannot be read (no header, a required column missing)."""


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
    xlsx = name.lower().endswith(".xlsx")
    records = _xlsx(name, content, sheet) if xlsx else _csv(name, content)
    header = next(records, None)
    if header is None:
        raise InvoiceFileError(f"{name} is empty")
    columns = [str(name or "").strip().lower() for name in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing or not {"account_id", "account_ref"} & set(columns):
        wanted = missing + ([] if {"account_id", "account_ref"} & set(columns) else ["account_id"])
        raise InvoiceFileError(f"{name} has no column {', '.join(wanted)}")
    rows = []
    for line, values in enumerate(records, start=2):
        if line > ROWS_MAX + 1:
            raise InvoiceFileError(f"{name} has more than {ROWS_MAX:,} rows")
        record = dict(zip(columns, values, strict=False))
        if all(v in (None, "") for v in record.values()):
            continue  # a blank line
        rows.append(_row(line, record, stamp, account_for_ref))
    return rows


def _row(
    line: int, record: dict[str, Any], stamp: Stamp, account_for_ref: Callable[[str], UUID | None]
) -> Row:
    number = _text(record.get("number"))
    account = _text(record.get("account_id")) or _text(record.get("account_ref"))
    try:
        account_id = _account(record, account_for_ref)
        currency = check_currency(_text(record.get("currency")).upper())
        command = RaiseInvoice(
            account_id=account_id,
            number=number,
            amount=Money(_minor(record.get("amount"), currency), currency),
            issued_on=_day(record.get("issued_on"), "issued_on"),
            due_on=_day(record.get("due_on"), "due_on"),
            description=_text(record.get("description")) or None,
            stamp=stamp,
        )
    except LedgerError as e:  # a value the ledger refuses on sight (a currency, a date)
        return Row(line, number, account, refused=e.detail)
    except ValueError as e:  # a value that is not what its column holds
        return Row(line, number, account, refused=str(e))
    return Row(line, number, account, command=command)


def _account(record: dict[str, Any], account_for_ref: Callable[[str], UUID | None]) -> UUID:
    given = _text(record.get("account_id"))
    if given:
        try:
            return UUID(given)
        except ValueError:
            raise ValueError(f"account_id {given!r} is not a UUID") from None
    ref = _text(record.get("account_ref"))
    if not ref:
        raise ValueError("no account_id or account_ref")
    found = account_for_ref(ref)
    if found is None:
        raise ValueError(f"no account has the external_ref {ref!r}")
    return found


def _minor(value: Any, currency: str) -> int:
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError("no amount")
    # A numeric cell: its shortest decimal form, the digits the spreadsheet shows.
    text = repr(value) if isinstance(value, float) else str(value)
    return minor_units(text, currency)


def _day(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(_text(value))
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _csv(name: str, content: bytes) -> Iterator[list[Any]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvoiceFileError(f"{name} is not UTF-8 text (save it as CSV UTF-8)") from None
    yield from csv.reader(io.StringIO(text, newline=""))


def _xlsx(name: str, content: bytes, sheet: str | None) -> Iterator[list[Any]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as e:
        raise InvoiceFileError(f"{name} is not an XLSX workbook ({type(e).__name__})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InvoiceFileError(f"{name} has no sheet {sheet!r}")
        rows = book[sheet] if sheet else book.worksheets[0]
        for values in rows.iter_rows(values_only=True):
            yield list(values)
    finally:
        book.close()
