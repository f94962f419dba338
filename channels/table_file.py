"""Reading a file of rows that a person or another system exported: CSV (UTF-8, a header
row) or XLSX (the first sheet, or one named; a header row). The header's columns are
found in any order and case; each row after it comes with its line, as a spreadsheet
numbers it, so that a refusal can point at it. What the cells mean is the reader's
business (``channels/invoice_file.py``, ``channels/account_file.py``,
``channels/payment_file.py``); the cells read the same way in each: text trimmed,
amounts in major units as a person writes them, dates ISO or date cells, an account by
its id or its reference."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Generator, Sequence
from datetime import date, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from ledger.money import minor_units

# A file's rows are bounded: a larger file is refused whole, before anything is saved.
ROWS_MAX = 1_000_000

Record = dict[str, Any]  # a row's cells by column name
Rows = Generator[tuple[int, Record], None, None]
_Cells = Generator[list[Any], None, None]


class FileRow(Protocol):
    """A row of a file: its line, and the command it became (None: it could not be read)."""

    @property
    def line(self) -> int: ...

    @property
    def command(self) -> Any: ...


RowT = TypeVar("RowT", bound=FileRow)
OutcomeT = TypeVar("OutcomeT")


class TableFileError(ValueError):
    """The file as a whole cannot be read (not CSV UTF-8 or XLSX, no header, a required
    column missing, too many rows): nothing of it is taken."""


def records(name: str, content: bytes, sheet: str | None = None) -> tuple[list[str], Rows]:
    """The file's columns (its header, trimmed and lower-cased) and its rows after the
    header, each with its line (the header is line 1) and its cells by column; blank
    rows are skipped. The file is XLSX when ``name`` ends so, else CSV."""
    cells = _xlsx(name, content, sheet) if is_xlsx(name) else _csv(name, content)
    header = next(cells, None)
    if header is None:
        raise TableFileError(f"{name} is empty")
    columns = [text(column).lower() for column in header]
    return columns, _numbered(name, columns, cells)


def header(name: str, content: bytes, sheet: str | None = None) -> list[str]:
    """The file's columns alone, as ``records`` finds them: to tell what it holds."""
    columns, rows = records(name, content, sheet)
    rows.close()
    return columns


def require_columns(name: str, columns: list[str], required: tuple[str, ...]) -> None:
    """Every column in ``required`` is in the header, or the file is refused whole."""
    missing = [column for column in required if column not in columns]
    if missing:
        raise TableFileError(f"{name} has no column {', '.join(missing)}")


def is_xlsx(name: str) -> bool:
    return name.lower().endswith(".xlsx")


def text(value: Any) -> str:
    """A cell as text, trimmed ("" for an empty cell)."""
    return "" if value is None else str(value).strip()


def blank(value: Any) -> bool:
    return value is None or text(value) == ""


def amount_minor(value: Any, currency: str, column: str = "amount") -> int:
    """A cell of money in major units (``1,234.56``, or a number cell) in ``currency``'s
    minor units, exactly: more decimals than the currency has is refused, never rounded."""
    if isinstance(value, bool) or blank(value):
        raise ValueError(f"no {column}")
    # A numeric cell: its shortest decimal form, the digits the spreadsheet shows.
    written = repr(value) if isinstance(value, float) else str(value)
    try:
        return minor_units(written, currency)
    except ValueError as e:
        if column == "amount":
            raise
        raise ValueError(f"{column}: {e}") from None


def day(value: Any, column: str) -> date:
    """A date cell, or an ISO date (YYYY-MM-DD)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(text(value))
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a date (YYYY-MM-DD)") from None


def account_rows(
    name: str,
    content: bytes,
    sheet: str | None,
    required: tuple[str, ...],
    row: Callable[[int, Record], OutcomeT],
) -> list[OutcomeT]:
    """Every row of a file whose rows each name an account (``account_id`` or
    ``account_ref``), made by ``row`` from its line and cells, in order: the file ``name``
    is XLSX when it ends so, else CSV; ``required`` are the columns besides the account's."""
    columns, rows = records(name, content, sheet)
    named = {"account_id", "account_ref"} & set(columns)
    require_columns(name, columns, required + (() if named else ("account_id",)))
    return [row(line, record) for line, record in rows]


def account_named(record: Record, account_for_ref: Callable[[str], UUID | None]) -> UUID:
    """The account a row names: by its id (``account_id``), or by the reference it goes
    by (``account_ref``, its ``external_ref``: ``account_for_ref`` finds it, and raises
    a ``ValueError`` of its own when several accounts go by it)."""
    given = text(record.get("account_id"))
    if given:
        try:
            return UUID(given)
        except ValueError:
            raise ValueError(f"account_id {given!r} is not a UUID") from None
    ref = text(record.get("account_ref"))
    if not ref:
        raise ValueError("no account_id or account_ref")
    found = account_for_ref(ref)
    if found is None:
        raise ValueError(f"no account has the external_ref {ref!r}")
    return found


def _numbered(name: str, columns: list[str], cells: _Cells) -> Rows:
    try:
        for line, values in enumerate(cells, start=2):
            if line > ROWS_MAX + 1:
                raise TableFileError(f"{name} has more than {ROWS_MAX:,} rows")
            record = dict(zip(columns, values, strict=False))
            if not all(blank(v) for v in record.values()):
                yield line, record
    finally:
        cells.close()  # an XLSX workbook is closed however far it was read


def _csv(name: str, content: bytes) -> _Cells:
    try:
        decoded = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TableFileError(f"{name} is not UTF-8 text (save it as CSV UTF-8)") from None
    reader = csv.reader(io.StringIO(decoded, newline=""))
    try:
        yield from reader
    except csv.Error as e:  # a field beyond the csv module's limit (128 KiB), say
        raise TableFileError(
            f"{name} cannot be read as CSV at line {reader.line_num}: {e}"
        ) from None


def _xlsx(name: str, content: bytes, sheet: str | None) -> _Cells:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as e:
        raise TableFileError(f"{name} is not an XLSX workbook ({type(e).__name__})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise TableFileError(f"{name} has no sheet {sheet!r}")
        rows = book[sheet] if sheet else book.worksheets[0]
        for values in rows.iter_rows(values_only=True):
            yield list(values)
    finally:
        book.close()


def saved_rows(
    rows: Sequence[RowT], save: Callable[[list[Any]], Sequence[OutcomeT]]
) -> list[tuple[RowT, OutcomeT | None]]:
    """Every row of a file, in its order, with its outcome: the readable rows' commands
    are saved at once (``save`` answers an outcome for each, in order); a row that could
    not be read never reached the ledger, so its outcome is None. What the file imports
    share, over HTTP (``api/routes/file_import.py``) and from the command line."""
    readable = [row for row in rows if row.command is not None]
    outcomes = save([row.command for row in readable])
    by_line = dict(zip((row.line for row in readable), outcomes, strict=True))
    return [(row, by_line.get(row.line)) for row in rows]
