"""Aged debt invoice by invoice: the XLSX's By invoice sheet (and the CSV with
``detail=invoice``) add up to the JSON's buckets, accounts and total to the minor unit,
in GBP, JPY and KWD, opened with openpyxl. The book is ``tests/test_exports_tabular.py``'s
(as of 2026-06-30: Acme Rooms A1 600.00 left of 1,000.00 due 03-31, A2 500.00 due 05-31,
A4 1,200.00 due 07-05; a formula-named account's E1 123.45 due 05-15; JPY T1; KWD K1)."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.pipeline import pipeline
from tests.tabular_support import amount, csv_rows, money_cell, records, title_block, workbook
from tests.test_exports_tabular import AS_OF, FORMULA, _book, module_settings  # noqa: F401


@pytest.fixture(scope="module")
def book(module_settings):  # noqa: F811 - the fixture imported above
    with pipeline(module_settings) as p:
        ids = _book(p.api)
        p.wait_until_projected()
        yield p, ids


BUCKET_HEADERS = {
    "current": "Current",
    "days_1_30": "1-30 days",
    "days_31_60": "31-60 days",
    "days_61_90": "61-90 days",
    "days_91_plus": "91+ days",
}


def test_aged_debt_by_invoice_adds_up_to_the_json_to_the_minor_unit(book):
    p, ids = book
    api = p.api
    path = "/v1/reports/aged-debt"
    for currency, owed in (("GBP", 2_423_45), ("JPY", 150_000), ("KWD", 1_234_567)):
        body = api.ok(api.get(path, currency=currency, as_of=AS_OF))
        detail = api.ok(api.get(path, currency=currency, as_of=AS_OF, detail="invoice"))
        same = {k: v for k, v in detail.items() if k not in ("invoices", "position")}
        assert same == {k: v for k, v in body.items() if k not in ("invoices", "position")}
        sheet = records(
            workbook(api.get(path, currency=currency, as_of=AS_OF, format="xlsx"))["By invoice"]
        )
        assert [r["Invoice"].value for r in sheet] == [i["number"] for i in detail["invoices"]]
        assert (
            sum(money_cell(r["Outstanding"], currency) for r in sheet)
            == amount(body["total"])
            == owed
        )
        for bucket, header in BUCKET_HEADERS.items():  # each bucket, invoice by invoice
            cells = [r for r in sheet if r["Bucket"].value == header]
            assert sum(money_cell(r["Outstanding"], currency) for r in cells) == amount(
                body[bucket]
            )
        for account in body["accounts"]:  # and each account
            mine = [r for r in sheet if r["Account ID"].value == account["account_id"]]
            assert sum(money_cell(r["Outstanding"], currency) for r in mine) == amount(
                account["total"]
            )

    gbp_sheet = workbook(api.get(path, currency="GBP", as_of=AS_OF, format="xlsx"))["By invoice"]
    rows = records(gbp_sheet)
    # Acme (the larger debt) first, each account's oldest due first.
    assert [(r["Name"].value, r["Invoice"].value) for r in rows] == [
        ("Acme Rooms", "A1"), ("Acme Rooms", "A2"), ("Acme Rooms", "A4"), (FORMULA, "E1")
    ]  # fmt: skip
    a1 = rows[0]
    assert a1["Issued on"].is_date and a1["Issued on"].value == datetime(2026, 3, 1)
    assert a1["Due on"].value == datetime(2026, 3, 31)
    assert (a1["Days overdue"].value, a1["Bucket"].value) == (91, "91+ days")
    assert money_cell(a1["Outstanding"], "GBP") == 600_00 and a1["Currency"].value == "GBP"
    assert (rows[2]["Days overdue"].value, rows[2]["Bucket"].value) == (0, "Current")
    assert title_block(gbp_sheet)["As of"] == datetime(2026, 6, 30)

    # The CSV is per account by default; detail=invoice makes it one row an invoice.
    csv_invoices = csv_rows(
        api.get(path, currency="KWD", as_of=AS_OF, format="csv", detail="invoice")
    )
    assert [(r["Invoice"], r["Due on"], r["Bucket"], r["Outstanding"]) for r in csv_invoices] == [
        ("K1", "2026-07-01", "Current", "1234.567")
    ]
    assert "Invoice" not in csv_rows(api.get(path, currency="KWD", as_of=AS_OF, format="csv"))[0]
    # limit lists the largest accounts; the invoice sheet lists their invoices only.
    top = records(
        workbook(api.get(path, currency="GBP", as_of=AS_OF, format="xlsx", limit=1))["By invoice"]
    )
    assert {r["Account ID"].value for r in top} == {ids["acme"]}
