"""Reading a bank statement export: a CSV with ``date``, ``amount``, ``reference`` and
``payer`` columns (any order, any case; other columns are ignored; an optional
``currency`` column overrides the statement's currency line by line).

Amounts are in major units as banks print them (``1,234.56``, or with
``decimal_separator`` ``","`` ``1.234,56``); they become integer minor units of the
currency. An amount whose other mark does not group thousands (``12,50`` read with
``"."``) is refused as ambiguous, and one with more decimals than the currency has is
refused rather than rounded; a line dated after tomorrow (UTC) is refused, as a payment
would be. Money going out (a negative amount) is not a receipt: such lines are read but
marked ``outgoing``. Every problem in the file is reported at once,
with its line number, and a file with any problem is refused whole.

A line the file states plainly but the ledger could not keep as it stands (a reference
longer than a payment's may be, ``REFERENCE_LENGTH_MAX``) is read with that ``problem``:
the line waits for a person, the rest of the file goes on.

Each line gets a fingerprint: the bank account, date, amount, reference and payer, and
how many identical lines came before it in the file. Two exports that overlap (1-15
November, then the whole month) give their shared lines the same fingerprints, so a
line is taken once however many files carry it."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from ledger.errors import InvalidRequest
from ledger.limits import REFERENCE_LENGTH_MAX
from ledger.money import DECIMAL_SEPARATORS, Money, check_currency, minor_units
from ledger.rules import check_received_on

COLUMNS = ("date", "amount", "reference", "payer")
DATE_FORMATS = {"iso": "%Y-%m-%d", "dmy": "%d/%m/%Y", "mdy": "%m/%d/%Y"}
LINE_NAMESPACE = UUID("6f1d3c1e-9a51-4b0e-b7a4-3f5c2e8d9a70")
MAX_LINES = 50_000


class MalformedStatement(InvalidRequest):
    code = "bank-statement-malformed"
    title = "The bank statement could not be read"


@dataclass(frozen=True)
class StatementLine:
    row: int  # the line number in the file, the header being line 1
    on: date
    amount: Money
    reference: str
    payer: str
    fingerprint: UUID
    # Why the ledger could not take the line as the bank wrote it; None: it can.
    problem: str | None = None

    @property
    def outgoing(self) -> bool:
        return self.amount.amount_minor <= 0


def _header(fields: Sequence[str] | None) -> dict[str, str]:
    by_name = {f.strip().lower(): f for f in (fields or [])}
    missing = [c for c in COLUMNS if c not in by_name]
    if missing:
        raise MalformedStatement(
            f"the header must name the columns {', '.join(COLUMNS)}; missing: {', '.join(missing)}"
        )
    return by_name


def _fingerprint(
    bank_account: str, parts: tuple[str, ...], seen: dict[tuple[str, ...], int]
) -> UUID:
    occurrence = seen.get(parts, 0)
    seen[parts] = occurrence + 1
    text = "|".join((bank_account, *parts, str(occurrence)))
    return UUID(bytes=hashlib.sha256(text.encode()).digest()[:16], version=5)


WHITESPACE = re.compile(r"\s+")


def _collapse(text: str) -> str:
    return WHITESPACE.sub(" ", text).strip()


# A statement's many lines share a few dozen dates: each date's text is parsed once.
@functools.lru_cache(maxsize=4096)
def _parsed_day(text: str, date_format: str) -> date:
    return datetime.strptime(text, DATE_FORMATS[date_format]).date()


@dataclass(frozen=True)
class NumberFormat:
    """How the statement writes dates and amounts."""

    date_format: str = "iso"
    decimal_separator: str = "."

    def check(self) -> None:
        if self.date_format not in DATE_FORMATS:
            raise MalformedStatement(f"date_format must be one of {', '.join(DATE_FORMATS)}")
        if self.decimal_separator not in DECIMAL_SEPARATORS:
            raise MalformedStatement(
                f"decimal_separator must be one of {' '.join(DECIMAL_SEPARATORS)}"
            )

    def read(self, record: dict[str, str], names: dict[str, str], currency: str) -> Money:
        """The line's amount in its currency (``ValueError`` or a ledger error naming
        what is wrong)."""
        line_currency = check_currency(
            (record.get(names.get("currency", ""), "") or currency).strip().upper()
        )
        text = record[names["amount"]] or ""
        return Money(minor_units(text, line_currency, self.decimal_separator), line_currency)

    def day(self, record: dict[str, str], names: dict[str, str]) -> date:
        """The line's date: a receipt's, so never after tomorrow (UTC)."""
        text = (record[names["date"]] or "").strip()
        on = _parsed_day(text, self.date_format)
        check_received_on(on)
        return on


def read_statement(
    content: str,
    currency: str,
    bank_account: str = "default",
    date_format: str = "iso",
    decimal_separator: str = ".",
) -> list[StatementLine]:
    """Every line of the statement, or ``MalformedStatement`` naming each bad line."""
    check_currency(currency)
    number_format = NumberFormat(date_format, decimal_separator)
    number_format.check()
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    names = _header(reader.fieldnames)
    lines: list[StatementLine] = []
    problems: list[str] = []
    seen: dict[tuple[str, ...], int] = {}
    for record in reader:
        row = reader.line_num
        if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
            continue  # a blank line
        try:
            on, amount = (
                number_format.day(record, names),
                number_format.read(record, names, currency),
            )
        except (ValueError, InvalidRequest) as e:
            problems.append(f"line {row}: {e}")
            continue
        reference = _collapse(record[names["reference"]] or "")
        payer = _collapse(record[names["payer"]] or "")
        parts = (on.isoformat(), str(amount.amount_minor), amount.currency, reference, payer)
        fingerprint = _fingerprint(bank_account, parts, seen)
        problem = reference_problem(reference)
        lines.append(StatementLine(row, on, amount, reference, payer, fingerprint, problem))
        if len(lines) > MAX_LINES:
            raise MalformedStatement(f"a statement may have at most {MAX_LINES} lines")
    _refuse_problems(problems)
    if not lines:
        raise MalformedStatement("the statement has no lines")
    return lines


def reference_problem(reference: str) -> str | None:
    """Why a payment could not carry ``reference`` as the bank wrote it, or None."""
    if len(reference) > REFERENCE_LENGTH_MAX:
        return (
            f"the reference is {len(reference):,} characters; a payment keeps at most"
            f" {REFERENCE_LENGTH_MAX}, so a person looks before it is recorded"
        )
    return None


def kept_reference(reference: str) -> str | None:
    """The reference the line's payment carries: the bank's, cut to what a payment
    keeps (the bank line keeps it whole); None when the line has none."""
    return reference[:REFERENCE_LENGTH_MAX].rstrip() or None


def _refuse_problems(problems: list[str]) -> None:
    if problems:
        shown = "; ".join(problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise MalformedStatement(f"{len(problems)} line(s) could not be read: {shown}{more}")
