"""Every report and list as CSV and XLSX, each checked against the JSON it comes from,
over real HTTP with the pipeline: the CSV parsed with the csv module, the XLSX opened with
openpyxl (numeric money cells in major units with the currency's decimals, date cells, a
bold frozen filtered header, the title block), totals equal to the JSON's to the minor
unit, a formula-looking name neutralised, and the same export twice the same.

The book (as of 2026-06-30): GBP Acme Rooms A1 1,000.00 due 03-31 (400.00 paid), A2
500.00 due 05-31, A4 1,200.00 due 07-05 paid by card today (pi_exports_1); an account named
like a formula owing 123.45; JPY Tokyo 150,000; KWD Kuwait 1,234.567; a bank statement
line nobody's."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

import openpyxl
import psycopg
import pytest
from psycopg import sql

from api.routes import audit as audit_routes
from api.tabular import XLSX_MEDIA
from infra.settings import Settings
from tests.conftest import TEST_API_KEYS, _unique, with_dbname
from tests.pipeline import pipeline
from tests.support import gbp
from tests.tabular_support import (
    amount,
    csv_rows,
    fake_stripe,
    minor,
    money_cell,
    records,
    title_block,
    workbook,
)

FORMULA = '=HYPERLINK("http://example.com/pay","Pay here")'
AS_OF = "2026-06-30"


def _book(api):
    acme = api.open_account("Acme Rooms")["id"]
    evil = api.open_account(FORMULA)["id"]
    a1 = api.raise_invoice(acme, "A1", 1_000_00, "2026-03-01", "2026-03-31")["id"]
    api.raise_invoice(acme, "A2", 500_00, "2026-05-01", "2026-05-31")
    a4 = api.raise_invoice(acme, "A4", 1_200_00, "2026-06-05", "2026-07-05")["id"]
    api.raise_invoice(evil, "E1", 123_45, "2026-05-01", "2026-05-15")
    pay = api.record_payment(acme, 400_00, received_on="2026-04-15")["id"]
    api.allocate(pay, {"allocations": [{"invoice_id": a1, "amount": gbp(400_00)}]})
    today = date.today().isoformat()
    card = api.record_payment(
        acme, 1_200_00, method="card", received_on=today, reference="pi_exports_1"
    )
    api.allocate(card["id"], {"allocations": [{"invoice_id": a4, "amount": gbp(1_200_00)}]})
    tokyo = api.open_account("Tokyo Ltd", currency="JPY")["id"]
    api.raise_invoice(tokyo, "T1", 150_000, "2026-05-01", "2026-05-15", currency="JPY")
    kuwait = api.open_account("Kuwait Co", currency="KWD")["id"]
    api.raise_invoice(kuwait, "K1", 1_234_567, "2026-06-01", "2026-07-01", currency="KWD")
    statement = "Date,Amount,Reference,Payer\n2026-06-20,77.70,MYSTERY 42,Nobody Ltd\n"
    body = {"content": statement, "currency": "GBP", "filename": "june.csv"}
    api.ok(api.post("/v1/bank-statements", body))
    return {"acme": acme, "evil": evil, "tokyo": tokyo, "kuwait": kuwait}


def _three(api, path, **params):
    """The JSON, the CSV and the XLSX of one URL."""
    body = api.ok(api.get(path, **params))
    return (
        body,
        csv_rows(api.get(path, format="csv", **params)),
        workbook(api.get(path, format="xlsx", **params)),
    )


@pytest.fixture(scope="module")
def module_settings(pg_server_url, kafka_bootstrap, tmp_path_factory):
    """Settings as ``settings`` gives a test, for this module's one pipeline."""
    name = _unique("arledger_t_")
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield Settings(
        database_url=with_dbname(pg_server_url, name),
        kafka_bootstrap_servers=kafka_bootstrap,
        topic=_unique("arledger.test."),
        consumer_group=_unique("arledger.test."),
        home=tmp_path_factory.mktemp("exports"),
        api_keys=TEST_API_KEYS,
        query_wait_ms=30_000,
    )
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def book(module_settings):
    """One pipeline for every test here (a fake Stripe for the reconciliation)."""
    with fake_stripe() as stripe:
        changed = module_settings.model_copy(
            update={"stripe_api_key": "sk_test_exports", "stripe_api_base": stripe.url}
        )
        with pipeline(changed) as p:
            ids = _book(p.api)
            p.wait_until_projected()
            yield p, ids


def test_aged_debt_in_gbp_jpy_and_kwd_agrees_with_the_json(book):
    p, ids = book
    api = p.api
    for currency, owed in (("GBP", 2_423_45), ("JPY", 150_000), ("KWD", 1_234_567)):
        body, rows, wb = _three(api, "/v1/reports/aged-debt", currency=currency, as_of=AS_OF)
        assert amount(body["total"]) == owed
        assert wb.sheetnames == ["Summary", "By account", "By invoice"]
        summary = records(wb["Summary"])
        assert len(summary) == 1
        for key, header in (("total", "Total"), ("days_91_plus", "91+ days")):
            assert money_cell(summary[0][header], currency) == amount(body[key])
        detail = records(wb["By account"])
        assert [r["Account ID"].value for r in detail] == [
            a["account_id"] for a in body["accounts"]
        ]
        for row, account in zip(detail, body["accounts"], strict=True):
            assert money_cell(row["Total"], currency) == amount(account["total"])
        assert sum(money_cell(r["Total"], currency) for r in detail) == owed
        # The CSV: the per-account sheet, major units and a currency column.
        assert [r["Account ID"] for r in rows] == [a["account_id"] for a in body["accounts"]]
        assert {r["Currency"] for r in rows} == {currency}
        assert sum(minor(r["Total"], currency) for r in rows) == owed
        block = title_block(wb["Summary"])
        assert block["title"] == "Aged debt" and block["Currency"] == currency
        assert block["As of"] == datetime(2026, 6, 30)  # a date cell
        assert wb["Summary"]["B3"].is_date
        assert isinstance(block["Produced at (UTC)"], datetime)

    # 123.45 is "123.45" in the CSV, 123.45 in the cell; the KWD total keeps its fils.
    gbp_rows = csv_rows(api.get("/v1/reports/aged-debt", currency="GBP", as_of=AS_OF, format="csv"))
    evil = next(r for r in gbp_rows if r["Account ID"] == ids["evil"])
    assert evil["Total"] == "123.45"
    assert evil["Name"] == "'" + FORMULA  # neutralised: shown, never run
    kwd = csv_rows(api.get("/v1/reports/aged-debt", currency="KWD", as_of=AS_OF, format="csv"))
    assert kwd[0]["Total"] == "1234.567"


def test_a_formula_looking_name_is_text_in_the_workbook(book):
    p, ids = book
    wb = workbook(p.api.get("/v1/reports/aged-debt", currency="GBP", as_of=AS_OF, format="xlsx"))
    cell = next(
        r["Name"] for r in records(wb["By account"]) if r["Account ID"].value == ids["evil"]
    )
    assert cell.value == FORMULA and cell.data_type == "s"  # a string, not a formula
    assert cell.quotePrefix  # and stays text if someone edits it
    raw = zipfile.ZipFile(
        io.BytesIO(
            p.api.get("/v1/reports/aged-debt", currency="GBP", as_of=AS_OF, format="xlsx").content
        )
    )
    assert not any("<f>" in raw.read(n).decode() for n in raw.namelist() if "worksheets" in n)


def test_debtor_days_and_cash_posting_agree_with_their_json(book):
    p, _ = book
    api = p.api
    june = {"currency": "GBP", "period_start": "2026-06-01", "period_end": AS_OF}
    body, rows, wb = _three(api, "/v1/reports/debtor-days", by_account="true", **june)
    assert wb.sheetnames == ["Summary", "By account"]
    top = records(wb["Summary"])[0]
    closing = body["figures"]["closing_receivables"]
    assert money_cell(top["Closing receivables"], "GBP") == amount(closing)
    assert top["DSO standard"].value == body["dso_standard"]
    assert len(rows) == len(body["accounts"])
    block = title_block(wb["Summary"])
    assert block["Period start"] == datetime(2026, 6, 1)
    assert block["Period end"] == datetime(2026, 6, 30)

    body, rows, wb = _three(
        api, "/v1/reports/cash-posting", currency="GBP", date=AS_OF, period="month"
    )
    assert wb.sheetnames == ["Summary", "Books", "Days"]
    assert len(rows) == len(body["days"]) == 30
    assert sum(minor(r["Received"], "GBP") for r in rows) == amount(body["received"])
    days = records(wb["Days"])
    assert days[0]["Date"].is_date and days[0]["Date"].value == datetime(2026, 6, 1)
    books = records(wb["Books"])[0]
    assert books["Balanced"].value is body["books"]["balanced"]
    assert money_cell(books["Closing receivables"], "GBP") == amount(
        body["books"]["closing_receivables"]
    )


def test_the_ledger_wide_reports_agree_with_their_json(book):
    api = book[0].api

    body, rows, wb = _three(api, "/v1/reports/trial-balance", currency="GBP", as_of=AS_OF)
    control = records(wb["Control"])[0]
    assert money_cell(control["Balance"], "GBP") == amount(body["control"]["balance"])
    assert money_cell(control["Aged debt total"], "GBP") == amount(body["aged_debt_total"])
    assert control["Reconciled"].value is body["reconciled"]
    assert sum(minor(r["Balance"], "GBP") for r in rows) == amount(body["accounts_total"])

    body, rows, wb = _three(api, "/v1/reports/balances", currency="GBP", as_of=AS_OF)
    assert minor(rows[0]["Outstanding"], "GBP") == amount(body["outstanding"])
    assert money_cell(records(wb["Balances"])[0]["Invoiced"], "GBP") == amount(body["invoiced"])
    assert rows[0]["Accounts"] == str(body["accounts"])

    body, rows, wb = _three(api, "/v1/reports/payment-behaviour", currency="GBP")
    assert [r["Account ID"] for r in rows] == [a["account_id"] for a in body["accounts"]]
    assert len(records(wb["Accounts"])) == len(body["accounts"])


LISTS = [
    ("/v1/worklist", {"as_of": AS_OF}, "rows", "Account ID", "account_id"),
    ("/v1/payments", {}, "payments", "Payment ID", "payment_id"),
    ("/v1/audit-trail", {"limit": 1000}, "entries", "Position", "position"),
    ("/v1/bank-statements/lines", {}, "lines", "Line ID", "line_id"),
    ("/v1/accounts", {}, "accounts", "Account ID", "id"),
]


@pytest.mark.parametrize(("path", "params", "key", "header", "field"), LISTS)
def test_each_list_row_for_row(book, path, params, key, header, field):
    api = book[0].api
    body, rows, wb = _three(api, path, **params)
    assert body[key], "the book has something to list"
    assert [r[header] for r in rows] == [str(x[field]) for x in body[key]]
    sheet = records(wb[wb.sheetnames[-1]])
    assert [str(r[header].value) for r in sheet] == [str(x[field]) for x in body[key]]


def test_the_account_lists_events_and_audit_trail(book):
    p, ids = book
    api = p.api
    acme = ids["acme"]
    body, rows, wb = _three(api, f"/v1/accounts/{acme}/invoices")
    assert [r["Number"] for r in rows] == [i["number"] for i in body["invoices"]]
    cells = records(wb["Invoices"])
    assert cells[0]["Due on"].is_date
    assert sum(money_cell(c["Outstanding"], "GBP") for c in cells) == 1_100_00

    body, rows, wb = _three(api, f"/v1/accounts/{acme}/events")
    assert [int(r["Position"]) for r in rows] == [e["position"] for e in body["events"]]
    assert records(wb["Events"])[0]["Recorded at (UTC)"].is_date

    body, rows, wb = _three(api, f"/v1/accounts/{acme}/audit-trail", limit=1000)
    assert [int(r["Position"]) for r in rows] == [e["position"] for e in body["entries"]]
    entries = records(wb["Audit trail"])
    last = body["entries"][-1]["outstanding_after"]
    assert money_cell(entries[-1]["Outstanding after"], "GBP") == amount(last)
    assert entries[-1]["Recorded at (UTC)"].is_date

    body, rows, wb = _three(api, f"/v1/accounts/{acme}/arrangements")
    assert wb.sheetnames == ["Promises", "Instalments"] and rows == []

    payments = csv_rows(api.get("/v1/payments", format="csv"))
    assert {r["Received on"] for r in payments} >= {"2026-04-15"}
    feed = records(workbook(api.get("/v1/payments", format="xlsx"))["Payments"])
    assert all(r["Received on"].is_date for r in feed)


def test_every_page_of_the_audit_trail_in_one_file(book, monkeypatch):
    p, _ = book
    api = p.api
    monkeypatch.setattr(audit_routes, "PAGE_MAX", 7)  # so the book's trail is many pages
    everything = api.ok(api.get("/v1/audit-trail", limit=1000))["entries"]
    assert len(everything) > 14
    rows = csv_rows(api.get("/v1/audit-trail", format="csv", all="true"))
    assert [int(r["Position"]) for r in rows] == [e["position"] for e in everything]
    wb = workbook(api.get("/v1/audit-trail", format="xlsx", all="true", type="arledger.invoice.*"))
    invoices = [e for e in everything if e["type"].startswith("arledger.invoice.")]
    assert [r["Position"].value for r in records(wb["Audit trail"])] == [
        e["position"] for e in invoices
    ]
    refused = api.get("/v1/audit-trail", all="true")
    assert refused.status_code == 422 and refused.json()["type"] == "/v1/problems/invalid-request"


def test_stripe_reconciliation_as_csv_and_xlsx(book):
    api = book[0].api
    today = date.today().isoformat()
    run = {"from": today, "to": today}
    found = csv_rows(api.post("/v1/reconciliations/stripe?format=csv", run))
    assert [(r["Kind"], r["Reference"], r["Ledger amount"]) for r in found] == [
        ("missing-in-stripe", "pi_exports_1", "1200.00")
    ]
    response = api.post("/v1/reconciliations/stripe", run, Accept=XLSX_MEDIA)
    assert response.status_code == 201
    wb = workbook(response)
    assert wb.sheetnames == ["Counts", "Payouts", "Findings"]
    payout = records(wb["Payouts"])[0]
    assert money_cell(payout["Amount"], "GBP") == 123_45 and payout["Arrival date"].is_date


def test_asking_by_accept_and_what_is_refused(book):
    api = book[0].api
    url = "/v1/reports/balances?currency=GBP"
    as_csv = api.http.get(url, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    as_xlsx = api.http.get(url, headers={"Accept": f"text/html;q=0.5, {XLSX_MEDIA}"})
    assert as_xlsx.headers["content-type"] == XLSX_MEDIA
    for accept in ("*/*", "application/json", "text/html, */*;q=0.1", ""):
        answer = api.http.get(url, headers={"Accept": accept})
        assert answer.headers["content-type"].startswith("application/json"), accept
    refused = api.http.get(url, headers={"Accept": "text/html, application/pdf"})
    assert refused.status_code == 406
    assert refused.json()["type"] == "/v1/problems/not-acceptable"
    wrong = api.get("/v1/reports/balances", currency="GBP", format="pdf")
    assert wrong.status_code == 422 and wrong.json()["type"] == "/v1/problems/validation-error"
    # ?format wins over Accept; a problem stays a problem.
    assert api.http.get(url + "&format=json", headers={"Accept": "text/csv"}).json()["currency"]
    missing = api.get("/v1/reports/balances", currency="XXX", format="xlsx")
    assert missing.status_code == 422 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )


def _entries(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_the_same_export_twice_differs_only_in_when_it_was_produced(book):
    api = book[0].api
    params = {"currency": "GBP", "as_of": AS_OF}
    first, second = (
        api.get("/v1/reports/aged-debt", format="xlsx", **params).content for _ in range(2)
    )
    a, b = _entries(first), _entries(second)
    assert a.keys() == b.keys()
    wb1, wb2 = (openpyxl.load_workbook(io.BytesIO(x)) for x in (first, second))
    row = next(c.row for c in wb1["Summary"]["A"] if c.value == "Produced at (UTC)")
    produced = re.compile(rb'<c r="B%d" s="\d+"><v>[0-9.]+</v></c>' % row)
    stamp = re.compile(rb"<dcterms:(created|modified)[^<]*</dcterms:\1>")
    for name in a:
        one, two = (stamp.sub(b"", produced.sub(b"", x[name])) for x in (a, b))
        assert one == two, name
    for s1, s2 in zip(wb1, wb2, strict=True):
        assert [[c.value for c in r] for r in s1.iter_rows(min_row=row + 1)] == [
            [c.value for c in r] for r in s2.iter_rows(min_row=row + 1)
        ]
    csv1, csv2 = (
        api.get("/v1/reports/aged-debt", format="csv", **params).content for _ in range(2)
    )
    assert csv1 == csv2


COVERED = {
    "/v1/reports/aged-debt": "get",
    "/v1/reports/debtor-days": "get",
    "/v1/reports/cash-posting": "get",
    "/v1/reports/payment-behaviour": "get",
    "/v1/reports/trial-balance": "get",
    "/v1/reports/balances": "get",
    "/v1/worklist": "get",
    "/v1/payments": "get",
    "/v1/audit-trail": "get",
    "/v1/accounts/{account_id}/audit-trail": "get",
    "/v1/accounts/{account_id}/events": "get",
    "/v1/bank-statements/lines": "get",
    "/v1/reconciliations/stripe": "post",
    "/v1/accounts": "get",
    "/v1/accounts/{account_id}/invoices": "get",
    "/v1/accounts/{account_id}/arrangements": "get",
}


def test_the_openapi_documents_the_format_of_each_route(book):
    spec = book[0].api.ok(book[0].api.get("/openapi.json"))
    for path, method in COVERED.items():
        operation = spec["paths"][path][method]
        names = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert "csv" in names["format"]["description"], path
        status = "201" if method == "post" else "200"
        assert {"text/csv", XLSX_MEDIA} <= set(operation["responses"][status]["content"]), path
    trail = spec["paths"]["/v1/audit-trail"]["get"]["parameters"]
    assert any(p["name"] == "all" for p in trail)
