"""The cells of the CSV and XLSX exports on their own, without a server: formulas
neutralised, money in exact major units, the Accept header read."""

from __future__ import annotations

import pytest

from api.tabular import XLSX_MEDIA, Column, NotAcceptable, from_accept
from api.tabular_write import csv_cell, major, money_format, neutralise


def test_cells_without_a_server():
    """Neutralising, exact major units and reading Accept, on their own."""
    assert neutralise("=1+2") == "'=1+2"
    assert neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("+44 20 7946 0000") == "'+44 20 7946 0000"
    assert neutralise("-2+3") == "'-2+3"
    assert neutralise("\tx") == "'\tx" and neutralise("\rx") == "'\rx"
    assert neutralise("-12.50") == "-12.50" and neutralise("Acme") == "Acme"
    refund = Column("Amount", "amount", "money")
    assert csv_cell(refund, {"amount": {"amount": -1250, "currency": "GBP"}}) == "-12.50"
    assert csv_cell(refund, {"amount": {"amount": -5, "currency": "KWD"}}) == "-0.005"
    assert csv_cell(refund, {"amount": {"amount": 150_000, "currency": "JPY"}}) == "150000"
    huge = 123_456_789_012_345_678
    assert str(major({"amount": huge, "currency": "GBP"})) == "1234567890123456.78"
    assert [money_format(c) for c in ("GBP", "JPY", "KWD")] == ["#,##0.00", "#,##0", "#,##0.000"]
    assert from_accept(None) == from_accept("") == "json"
    assert from_accept("text/csv;q=0.4, application/json;q=0.9") == "json"
    assert from_accept(f"application/json;q=0.1, {XLSX_MEDIA}") == "xlsx"
    assert from_accept("text/*") == "csv"
    with pytest.raises(NotAcceptable):
        from_accept("application/pdf, text/csv;q=0")
