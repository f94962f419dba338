"""Reading what the API exports, for the CSV and XLSX tests: the CSV parsed with the csv
module, the XLSX opened with openpyxl, money turned back into exact minor units."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openpyxl
from openpyxl.cell.cell import Cell
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from api.tabular import CSV_MEDIA, XLSX_MEDIA
from ledger.money import exponent


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code in (200, 201), response.text
    assert response.headers["content-type"].startswith(CSV_MEDIA), response.headers
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith(("\ufeff",)) is False  # plain UTF-8, no byte-order mark
    return list(csv.DictReader(io.StringIO(text, newline="")))


def workbook(response: httpx.Response) -> Workbook:
    assert response.status_code in (200, 201), response.text
    assert response.headers["content-type"] == XLSX_MEDIA, response.headers
    return openpyxl.load_workbook(io.BytesIO(response.content))


def header_row(ws: Worksheet) -> int:
    """The header row: the one the panes are frozen under."""
    assert ws.freeze_panes is not None and ws.freeze_panes.startswith("A"), ws.freeze_panes
    return int(ws.freeze_panes[1:]) - 1


def records(ws: Worksheet) -> list[dict[str, Cell]]:
    """Each data row as {header: cell}, after checking the header row is bold and
    filtered."""
    head = header_row(ws)
    rows = list(ws.iter_rows(min_row=head))
    header = [c.value for c in rows[0]]
    assert all(c.font.b for c in rows[0]), "the header row is bold"
    assert ws.auto_filter.ref is not None and ws.auto_filter.ref.startswith(f"A{head}:")
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def title_block(ws: Worksheet) -> dict[str, Any]:
    """The labels and values above the header row (the title is under ``title``)."""
    block: dict[str, Any] = {"title": ws["A1"].value}
    for row in ws.iter_rows(min_row=2, max_row=header_row(ws) - 1):
        if row[0].value:
            block[str(row[0].value)] = row[1].value
    return block


def minor(value: Any, currency: str) -> int:
    """A major-unit amount (CSV text or an XLSX number) in minor units, exactly."""
    scaled = Decimal(str(value)).scaleb(exponent(currency))
    assert scaled == scaled.to_integral_value(), (value, currency)
    return int(scaled)


def money_cell(cell: Cell, currency: str) -> int:
    """A numeric cell, formatted with the currency's decimals, in minor units."""
    assert cell.data_type == "n" and isinstance(cell.value, (int, float)), cell.value
    digits = exponent(currency)
    assert cell.number_format == ("#,##0." + "0" * digits if digits else "#,##0")
    return minor(cell.value, currency)


def amount(money: dict[str, Any]) -> int:
    return int(money["amount"])


class FakeStripe:
    """A Stripe API that lists no payment intents or refunds and one payout."""

    def __init__(self) -> None:
        now = int(datetime.now(UTC).timestamp())
        payout = {
            "id": "po_exports_1",
            "object": "payout",
            "amount": 123_45,
            "currency": "gbp",
            "arrival_date": now,
            "created": now,
            "status": "paid",
        }

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                found = [payout] if self.path.startswith("/v1/payouts") else []
                url = self.path.split("?")[0]
                body = {"object": "list", "data": found, "has_more": False, "url": url}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    try:
        yield fake
    finally:
        fake.close()
