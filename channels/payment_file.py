"""Reading a file of payments (the payments of an opening book, a billing system's
receipts) into commands: CSV (UTF-8, a header row) or XLSX (the first sheet, or one
named; a header row), read as ``channels/table_file.py`` reads every file. Columns, in
any order and case: ``external_ref`` (the payment's reference where it comes from: a
receipt number; its identity in the ledger, with its account), ``account_id`` or
``account_ref`` (the account's ``external_ref``), ``amount`` (major units as a person
writes them: ``1,234.56``; a numeric cell in XLSX), ``currency``, ``received_on`` (an
ISO date, or a date cell), ``method`` (``bacs``, ``card``, ``cheque``...) and optional
``reference`` (what the payer wrote) and ``invoice_number`` (the account's invoice the
whole payment is allocated to, with it). A row that cannot be read is refused on its
own, with its line and why; the others become commands, which the ledger checks as it
records them (``ledger/bulk_payments.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from channels.table_file import (
    Record,
    account_named,
    account_rows,
    amount_minor,
    day,
    text,
)
from ledger.bulk_payments import BatchPayment
from ledger.commands import RecordPayment
from ledger.errors import LedgerError
from ledger.money import Money, check_currency
from ledger.stamp import Stamp

REQUIRED = ("external_ref", "amount", "currency", "received_on", "method")


@dataclass(frozen=True)
class Row:
    """One line of the file: the command it became, or why it could not be read."""

    line: int  # as a spreadsheet numbers it: the header is line 1
    external_ref: str
    account: str
    command: BatchPayment | None = None
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
    ref = text(record.get("external_ref"))
    account = text(record.get("account_id")) or text(record.get("account_ref"))
    try:
        account_id = account_named(record, account_for_ref)
        currency = check_currency(text(record.get("currency")).upper())
        amount = Money(amount_minor(record.get("amount"), currency), currency)
        payment = RecordPayment(
            account_id=account_id,
            amount=amount,
            method=text(record.get("method")).lower(),
            received_on=day(record.get("received_on"), "received_on"),
            stamp=stamp,
            reference=text(record.get("reference")) or None,
        )
        # An empty reference is the ledger's to refuse: each payment is named by one.
        command = BatchPayment(
            payment, ref, invoice_number=text(record.get("invoice_number")) or None
        )
    except LedgerError as e:  # a value the ledger refuses on sight (a currency, a date)
        return Row(line, ref, account, refused=e.detail)
    except ValueError as e:  # a value that is not what its column holds
        return Row(line, ref, account, refused=str(e))
    return Row(line, ref, account, command=command)
