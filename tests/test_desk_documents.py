"""What leaves the desk as a file: an account's statement and its dunning letters as
PDF, and its tables as CSV and XLSX, each the API's own document for the signed-in user."""

from __future__ import annotations

import csv
import html
import io
import re

import openpyxl

from infra.settings import Settings
from tests.desk import DeskHttp
from tests.documents_support import pdf_text, with_company
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, COORDINATOR_KEY


def test_a_statement_and_a_letter_download_from_the_account_page(settings: Settings) -> None:
    with pipeline(with_company(settings)) as p:
        acct = p.api.open_account("Wolds Print Ltd")["id"]
        p.api.raise_invoice(acct, "WP-1", 900_00, "2026-01-01", "2026-01-31")
        notice = p.api.ok(
            p.api.post(
                f"/v1/accounts/{acct}/notices",
                {"stage": "reminder", "channel": "post", "all_eligible": True},
            )
        )
        p.wait_until_projected()
        desk = DeskHttp(p.url, COORDINATOR_KEY)
        page = desk.get(f"/accounts/{acct}")
        letter = re.search(r'href="(/download/[^"]+/letter\?format=pdf)"', page.text)
        assert letter, "no letter link on the account page"
        pdf = desk.get(letter.group(1))
        assert pdf.headers["content-type"] == "application/pdf"
        assert "WP-1" in pdf_text(pdf.content) and "900.00" in pdf_text(pdf.content)
        assert notice["position"]

        statement = desk.get(
            f"/download/v1/accounts/{acct}/statement",
            **{"from": "2026-01-01", "to": "2026-12-31", "format": "pdf"},
        )
        assert statement.status_code == 200 and "WP-1" in pdf_text(statement.content)
        refused = desk.get(f"/download/v1/accounts/{acct}/statement", format="exe")
        assert refused.status_code == 404 and "Not a download" in refused.text
        auditor = DeskHttp(p.url, AUDITOR_KEY)
        assert auditor.get(letter.group(1)).content.startswith(b"%PDF-")
        desk.close()
        auditor.close()


def test_the_desk_s_tables_download_as_csv_and_xlsx(settings: Settings) -> None:
    with pipeline(settings) as p:
        acct = p.api.open_account("Harbour Meeting Rooms Ltd")["id"]
        p.api.raise_invoice(acct, "INV-1", 1_234_56, "2026-01-01", "2026-01-31")
        p.api.record_payment(acct, 500_00, reference="HARBOUR")
        p.wait_until_projected()
        desk = DeskHttp(p.url, COORDINATOR_KEY)
        page = desk.get("/payments")
        link = re.search(r'href="(/download/v1/payments\?[^"]*format=csv)"', page.text)
        assert link, "no CSV download on the payments page"
        rows = list(csv.DictReader(io.StringIO(desk.get(html.unescape(link.group(1))).text)))
        assert [(r["Account name"], r["Amount"]) for r in rows] == [
            ("Harbour Meeting Rooms Ltd", "500.00")
        ]

        report = desk.get("/reports/aged-debt", currency="GBP")
        link = re.search(r'href="(/download/v1/reports/aged-debt\?[^"]*format=xlsx)"', report.text)
        assert link, "no XLSX download on the aged debt report"
        book = openpyxl.load_workbook(io.BytesIO(desk.get(html.unescape(link.group(1))).content))
        cells = [c.value for row in book.worksheets[-1].iter_rows() for c in row]
        assert "Harbour Meeting Rooms Ltd" in cells and 1234.56 in cells
        desk.close()


def test_the_audit_screen_downloads_the_ledger_s_audit_trail(settings: Settings) -> None:
    with pipeline(settings) as p:
        acct = p.api.open_account("Trail Rooms Ltd")["id"]
        p.api.raise_invoice(acct, "TR-1", 250_00, "2026-01-01", "2026-01-31")
        p.api.record_payment(acct, 100_00, reference="TRAIL")
        p.wait_until_projected()
        trail = p.api.ok(p.api.get("/v1/audit-trail", limit=1000))["entries"]
        desk = DeskHttp(p.url, AUDITOR_KEY)
        page = desk.get("/audit")
        csv_link = re.search(r'href="(/download/v1/audit-trail\?[^"]*format=csv)"', page.text)
        xlsx_link = re.search(r'href="(/download/v1/audit-trail\?[^"]*format=xlsx)"', page.text)
        assert csv_link and xlsx_link, "no audit-trail download on the audit screen"
        got = desk.get(html.unescape(csv_link.group(1)))
        assert got.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(got.text)))
        assert [int(r["Position"]) for r in rows] == [e["position"] for e in trail]
        book = openpyxl.load_workbook(
            io.BytesIO(desk.get(html.unescape(xlsx_link.group(1))).content)
        )
        cells = [c.value for row in book["Audit trail"].iter_rows() for c in row]
        assert "arledger.invoice.raised" in cells and "TR-1" in str(cells)

        # Narrowed to a type: the links carry it, and the file holds only those events.
        narrowed = desk.get("/audit", type="arledger.payment.*")
        link = re.search(r'href="(/download/v1/audit-trail\?[^"]*format=csv)"', narrowed.text)
        assert link and "arledger.payment" in html.unescape(link.group(1))
        rows = list(csv.DictReader(io.StringIO(desk.get(html.unescape(link.group(1))).text)))
        payments = [e["position"] for e in trail if e["type"].startswith("arledger.payment.")]
        assert payments and [int(r["Position"]) for r in rows] == payments
        desk.close()
