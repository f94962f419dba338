"""Writing a :class:`api.tabular.Document`: CSV (RFC 4180, UTF-8, streamed) and XLSX
(XlsxWriter in constant-memory mode: each row goes to disk as it is written).

Money is never a float on its way into a cell: minor units become a ``Decimal`` in major
units (``Decimal(minor).scaleb(-exponent)``, exact), written as that decimal's digits, with
the currency's own decimals as the number format (GBP ``#,##0.00``, JPY ``#,##0``, KWD
``#,##0.000``). A text cell a spreadsheet would run as a formula is neutralised."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from api.tabular import Column, Document, Row, Sheet
from ledger.money import exponent

CSV_CHUNK_ROWS = 500
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
WIDTHS = {"money": 14, "date": 12, "datetime": 20, "int": 10, "number": 10, "bool": 8}
WIDTH_MAX, WIDTH_SAMPLE = 60, 200


def major(money: Any) -> Decimal | None:
    """A JSON Money in major units, exactly: 12345 GBP is Decimal('123.45')."""
    if not isinstance(money, dict):
        return None
    return Decimal(int(money["amount"])).scaleb(-exponent(money["currency"]))


def money_format(currency: str) -> str:
    digits = exponent(currency)
    return "#,##0." + "0" * digits if digits else "#,##0"


def neutralise(text: str) -> str:
    """``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``: shown, never run. A plain number
    (``-12.50``) is left as it is."""
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def moment(value: Any) -> datetime | None:
    """An ISO date and time as a naive UTC datetime (what a spreadsheet cell holds)."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def csv_cell(column: Column, row: Row) -> str:
    value = column.value(row)
    if value is None:
        return ""
    kind = column.kind
    if kind == "money":
        return str(major(value))
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("int", "number", "date"):
        return str(value)
    if kind == "datetime":
        found = moment(value)
        return found.isoformat() + "Z" if found else ""
    return neutralise(_text(value))


def csv_chunks(sheet: Sheet) -> Iterator[bytes]:
    """The sheet as CSV: a header row, then a row per row, in UTF-8, a few hundred rows
    at a time (memory stays flat however long the sheet)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: CRLF, quoted only where needed
    writer.writerow([neutralise(c.header) for c in sheet.columns])
    for n, row in enumerate(sheet.rows, 1):
        writer.writerow([csv_cell(c, row) for c in sheet.columns])
        if n % CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


class Styles:
    """The workbook's formats, each made once."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.book = book
        self.made: dict[str, Format] = {}

    def get(self, name: str) -> Format:
        if name not in self.made:
            self.made[name] = self.book.add_format(self._props(name))
        return self.made[name]

    @staticmethod
    def _props(name: str) -> dict[str, Any]:
        if name.startswith("money:"):
            return {"num_format": money_format(name.removeprefix("money:"))}
        named: dict[str, dict[str, Any]] = {
            "title": {"bold": True, "font_size": 14},
            "label": {"bold": True},
            "header": {"bold": True, "bottom": 1, "bg_color": "#DDEBF7"},
            "date": {"num_format": "yyyy-mm-dd"},
            "datetime": {"num_format": "yyyy-mm-dd hh:mm:ss"},
            "number": {"num_format": "#,##0.00"},
            "quoted": {"quote_prefix": True},
        }
        return named[name]


def _write_value(ws: Worksheet, styles: Styles, at: tuple[int, int], value: Any) -> None:
    """A title-block value: a date or time as such, anything else as text."""
    if isinstance(value, datetime):
        ws.write_datetime(*at, moment(value), styles.get("datetime"))
    elif isinstance(value, date):
        ws.write_datetime(*at, value, styles.get("date"))
    elif value is not None:
        _write_text(ws, styles, at, _text(value))


def _write_text(ws: Worksheet, styles: Styles, at: tuple[int, int], text: str) -> None:
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        ws.write_string(*at, text, styles.get("quoted"))  # text, kept text when edited
    else:
        ws.write_string(*at, text)


def _write_cell(ws: Worksheet, styles: Styles, at: tuple[int, int], c: Column, row: Row) -> int:
    """Writes the column's cell of ``row``; returns the width its text takes."""
    value = c.value(row)
    if value is None:
        return 0
    if c.kind == "money":
        ws.write_number(*at, major(value), styles.get(f"money:{value['currency']}"))
    elif c.kind in ("int", "number"):
        ws.write_number(*at, value, styles.get("number") if c.kind == "number" else None)
    elif c.kind == "date":
        ws.write_datetime(*at, day(value), styles.get("date"))
    elif c.kind == "datetime":
        ws.write_datetime(*at, moment(value), styles.get("datetime"))
    elif c.kind == "bool":
        ws.write_boolean(*at, bool(value))
    else:
        text = _text(value)
        _write_text(ws, styles, at, text)
        return len(text)
    return 0


def _title_block(ws: Worksheet, styles: Styles, doc: Document) -> int:
    """The report's name, its parameters and when it was produced; returns the next row."""
    ws.write_string(0, 0, doc.title, styles.get("title"))
    params = [(k, v) for k, v in doc.params if v is not None]
    for n, (label, value) in enumerate([*params, ("Produced at (UTC)", doc.produced_at)], 1):
        ws.write_string(n, 0, label, styles.get("label"))
        _write_value(ws, styles, (n, 1), value)
    return len(params) + 3


def _write_sheet(book: xlsxwriter.Workbook, styles: Styles, doc: Document, sheet: Sheet) -> None:
    ws = book.add_worksheet(sheet.name[:31])
    head = _title_block(ws, styles, doc)
    widths = [max(len(c.header) + 3, WIDTHS.get(c.kind, 10)) for c in sheet.columns]
    for j, c in enumerate(sheet.columns):
        ws.write_string(head, j, c.header, styles.get("header"))
    last = head
    for last, row in enumerate(sheet.rows, head + 1):
        for j, c in enumerate(sheet.columns):
            used = _write_cell(ws, styles, (last, j), c, row)
            if used and last - head <= WIDTH_SAMPLE:
                widths[j] = max(widths[j], min(used + 2, WIDTH_MAX))
    for j, c in enumerate(sheet.columns):
        ws.set_column(j, j, c.width or widths[j])
    ws.set_column(0, 0, max(c.width or widths[0], 22))  # the title block's labels too
    ws.freeze_panes(head + 1, 0)
    ws.autofilter(head, 0, last, len(sheet.columns) - 1)


def write_xlsx(doc: Document, path: str) -> None:
    """The document as a workbook at ``path``: a sheet per sheet, in order. Two exports
    of the same thing differ only in the produced-at cell and the document properties'
    times (set to it); the zip's own timestamps are fixed by XlsxWriter."""
    book = xlsxwriter.Workbook(
        path,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    produced = moment(doc.produced_at)
    book.set_properties({"title": doc.title, "author": "arledger", "created": produced})
    styles = Styles(book)
    for sheet in doc.sheets:
        _write_sheet(book, styles, doc, sheet)
    book.close()


def xlsx_file(doc: Document) -> str:
    """The document written to a temporary file; the caller removes it."""
    with tempfile.NamedTemporaryFile(prefix="arledger-", suffix=".xlsx", delete=False) as f:
        path = f.name
    try:
        write_xlsx(doc, path)
    except BaseException:
        os.remove(path)
        raise
    return path
