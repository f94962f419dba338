"""An opening book's payments: a company moving to arledger brings over the cash its
clients paid (on open invoices, or on account) as a CSV or XLSX file, by ``arledger
import payments``, ``POST /v1/payments/imports`` or the desk's Import screen, after the
book's accounts and invoices. Each row is recorded (and allocated to the invoice it
names), found already there (the same file again records nothing twice), or refused with
its line and reason, nothing of it recorded."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from infra.settings import Settings
from ledger.application import Ledger
from ledger.bulk_accounts import account_id_for
from ledger.bulk_payments import payment_id_for
from ledger.invoice import invoice_id_for
from ledger.money import Money
from tests.desk import Browser
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, COORDINATOR_KEY, Api, run_cli

ACCOUNTS = (
    "external_ref,name,currency,payment_terms_days\n"
    "CRM-0042,Quay Books,GBP,30\n"
    "CRM-0107,Harbour Cafe,GBP,14\n"
)
INVOICES = (
    "account_ref,number,amount,currency,issued_on,due_on\n"
    'CRM-0042,NOV-1,"1,200.00",GBP,2026-10-01,2026-10-31\n'
    "CRM-0107,NOV-2,45.50,GBP,2026-10-03,2026-10-17\n"
)
# Columns in another order and case than the README's, and one the import ignores.
PAYMENTS = (
    "Account_Ref,External_Ref,Amount,Currency,Received_On,Method,Reference,Invoice_Number,Note\n"
    "CRM-0042,RCPT-1,600.00,GBP,2026-11-15,bacs,QUAY NOV-1,NOV-1,half of it\n"
    "CRM-0107,RCPT-2,20.00,gbp,2026-11-20,CHEQUE,,,on account\n"
    "CRM-0042,,5.00,GBP,2026-11-15,bacs,,,\n"  # 4: no reference to name it by
    "CRM-9999,RCPT-4,5.00,GBP,2026-11-15,bacs,,,\n"  # 5: no such account
    "CRM-0042,RCPT-5,12.345,GBP,2026-11-15,bacs,,,\n"  # 6: a tenth of a penny
    "CRM-0042,RCPT-6,10.00,GBP,15/11/2026,bacs,,,\n"  # 7: not an ISO date
    "CRM-0042,RCPT-7,10.00,EUR,2026-11-15,bacs,,,\n"  # 8: not the account's currency
    "CRM-0042,RCPT-8,10.00,GBP,2026-11-15,bitcoin,,,\n"  # 9: not a method
    "CRM-0042,RCPT-9,50.00,GBP,2026-11-15,bacs,,NOV-404,\n"  # 10: no such invoice
    "CRM-0107,RCPT-10,100.00,GBP,2026-11-15,bacs,,NOV-2,\n"  # 11: more than it owes
    "CRM-0042,RCPT-1,600.00,GBP,2026-11-15,bacs,QUAY NOV-1,NOV-1,\n"  # 12: line 2 again
    "CRM-0042,RCPT-12,10.00,GBP,2026-11-15,bacs,A\x07B,,\n"  # 13: a control character
    "CRM-0042,RCPT-13,99999999999999.99,GBP,2026-11-15,bacs,,,\n"  # 14: beyond any amount
)


def _summary(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return summary


def _report(path: str | Path) -> dict[str, dict[str, str]]:
    with Path(path).open(encoding="utf-8") as f:
        return {row["line"]: row for row in csv.DictReader(f)}


def test_an_opening_books_payments_go_in_after_its_accounts_and_invoices_and_again_change_nothing(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No consumer runs here: the payments find the book's accounts by their references
    in the store, as its invoices do."""
    with pipeline(settings, workers=False) as p:
        ledger = p.services.ledger
        for what, content in (("accounts", ACCOUNTS), ("invoices", INVOICES)):
            path = tmp_path / f"{what}.csv"
            path.write_text(content, encoding="utf-8")
            assert run_cli(["import", what, str(path)], settings, monkeypatch) == 0
            capsys.readouterr()
        book = tmp_path / "payments.csv"
        book.write_text(PAYMENTS, encoding="utf-8")
        head = ledger.head_position()

        assert run_cli(["import", "payments", str(book)], settings, monkeypatch) == 1

        summary = _summary(capsys)
        assert (summary["rows"], summary["recorded"], summary["already"], summary["refused"]) == (
            13, 2, 0, 11,
        )  # fmt: skip
        assert summary["report"] == str(tmp_path / "payments.csv.report.csv")
        detail = _report_says_why(summary["report"])
        _payments_stored(ledger, detail)
        # Two payments; one allocation to one invoice: 1 + (1 + 1 + 1).
        assert ledger.head_position() - head == 4

        # Run again (the import was cut short, or someone ran it twice): nothing twice.
        after = ledger.head_position()
        assert run_cli(["import", "payments", str(book)], settings, monkeypatch) == 1
        again = _summary(capsys)
        assert (again["recorded"], again["already"], again["refused"]) == (0, 2, 11)
        assert ledger.head_position() == after


def _report_says_why(report: str) -> dict[str, str]:
    """Two lines recorded; each refused line with its problem and why; returns each
    line's detail."""
    rows = _report(report)
    assert {line: r["status"] for line, r in rows.items() if r["status"] != "refused"} == {
        "2": "recorded",
        "3": "recorded",
    }
    problems = {line: r["problem"] for line, r in rows.items() if r["status"] == "refused"}
    assert problems == {
        "4": "invalid-request",
        "5": "unreadable-row",
        "6": "unreadable-row",
        "7": "unreadable-row",
        "8": "currency-mismatch",
        "9": "invalid-request",
        "10": "unknown-invoice",
        "11": "over-allocation",
        "12": "duplicate-external-ref",
        "13": "unreadable-row",
        "14": "malformed-money",
    }
    detail = {line: r["detail"] for line, r in rows.items()}
    assert "external_ref must not be empty" in detail["4"]
    assert "no account has the external_ref 'CRM-9999'" in detail["5"]
    assert "more decimals" in detail["6"]
    assert "not a date" in detail["7"]
    assert "method must be one of" in detail["9"]
    assert "control character" in detail["13"]
    assert "exceeds the largest amount" in detail["14"]
    assert "has no invoice numbered 'NOV-404'" in detail["10"]
    assert (rows["2"]["account"], rows["2"]["external_ref"]) == ("CRM-0042", "RCPT-1")
    return detail


def _payments_stored(ledger: Ledger, detail: dict[str, str]) -> None:
    """The two payments and the one allocation, as the store holds them."""
    quay, harbour = account_id_for("CRM-0042"), account_id_for("CRM-0107")
    rcpt1 = payment_id_for(quay, "RCPT-1")
    assert detail["2"] == str(rcpt1)
    assert ledger.get_invoice(invoice_id_for(quay, "NOV-1")).outstanding == Money(600_00, "GBP")
    assert ledger.get_payment(rcpt1).unallocated == Money(0, "GBP")
    rcpt2 = ledger.get_payment(payment_id_for(harbour, "RCPT-2"))
    assert (rcpt2.method, rcpt2.unallocated, rcpt2.received_on, rcpt2.reference) == (
        "cheque", Money(20_00, "GBP"), dt.date(2026, 11, 20), None,
    )  # fmt: skip
    assert ledger.get_invoice(invoice_id_for(harbour, "NOV-2")).outstanding == Money(
        45_50, "GBP"
    )  # line 11 was refused whole: nothing of it allocated


def test_an_xlsx_file_of_payments_with_number_and_date_cells_is_read_exactly(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Rivage Ltd")["id"]
        p.api.raise_invoice(account, "R-1", 2_000_00, "2026-10-01", "2026-10-31")
        book = Workbook()
        notes = book.active
        assert notes is not None
        notes.append(["exported from the old system"])
        sheet = book.create_sheet("Receipts")
        sheet.append(["external_ref", "account_id", "amount", "currency", "received_on",
                      "method", "invoice_number"])  # fmt: skip
        sheet.append(["P-1", account, 1234.56, "GBP", dt.date(2026, 11, 1), "bacs", "R-1"])
        sheet.append(["P-2", account, 0.1, "GBP", dt.datetime(2026, 11, 2), "card", None])
        sheet.append([3, account, 7, "GBP", dt.date(2026, 11, 3), "cash", None])  # a number
        export = tmp_path / "receipts.xlsx"
        book.save(export)
        out = tmp_path / "out.csv"

        argv = ["import", "payments", str(export), "--sheet", "Receipts", "--report", str(out)]
        assert run_cli([*argv, "--actor", "migration"], settings, monkeypatch) == 0

        summary = _summary(capsys)
        assert (summary["recorded"], summary["refused"], summary["report"]) == (3, 0, str(out))
        ledger = p.services.ledger
        account_id = uuid.UUID(account)
        paid = {
            ref: ledger.get_payment(payment_id_for(account_id, ref)) for ref in ("P-1", "P-2", "3")
        }
        assert {ref: (pay.amount.amount_minor, pay.received_on, pay.method, pay.allocated)
                for ref, pay in paid.items()} == {
            "P-1": (123456, dt.date(2026, 11, 1), "bacs", Money(123456, "GBP")),
            "P-2": (10, dt.date(2026, 11, 2), "card", Money(0, "GBP")),
            "3": (700, dt.date(2026, 11, 3), "cash", Money(0, "GBP")),
        }  # fmt: skip
        head = ledger.head_position()
        recorded: list[Any] = [ledger.uow.history(pay.id, head)[0] for pay in paid.values()]
        actors = {event.stamp.actor for event in recorded}
        assert actors == {"migration"}  # --actor is stamped on every event


def test_a_file_of_payments_that_cannot_be_read_is_exit_2_and_records_nothing(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Dock Ltd")["id"]
        head = p.services.ledger.head_position()
        unnamed = tmp_path / "no-refs.csv"  # payments need their reference column
        unnamed.write_text(
            f"account_id,amount,currency,received_on,method\n{account},10.00,GBP,2026-11-01,bacs\n"
        )
        assert run_cli(["import", "payments", str(unnamed)], settings, monkeypatch) == 2
        assert "has no column external_ref" in capsys.readouterr().err
        junk = tmp_path / "junk.xlsx"
        junk.write_bytes(b"not a workbook")
        assert run_cli(["import", "payments", str(junk)], settings, monkeypatch) == 2
        assert "not an XLSX workbook" in capsys.readouterr().err
        missing = tmp_path / "missing.csv"
        assert run_cli(["import", "payments", str(missing)], settings, monkeypatch) == 2
        assert p.services.ledger.head_position() == head


def test_the_same_file_through_the_api_reports_each_line(settings: Settings) -> None:
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Harbour Cafe")["id"]
        invoice = p.api.raise_invoice(account, "H-1", 30_00, "2026-10-01", "2026-10-31")
        csv_text = (
            "external_ref,account_id,amount,currency,received_on,method,invoice_number\n"
            f"API-1,{account},10.00,GBP,2026-11-01,bacs,H-1\n"
            f"API-2,{account},ten pounds,GBP,2026-11-01,bacs,\n"
            f"API-3,not-an-id,10.00,GBP,2026-11-01,bacs,\n"
        )
        body = {"filename": "nov.csv", "content": csv_text}
        reply = p.api.ok(p.api.post("/v1/payments/imports", body))
        assert (reply["rows"], reply["recorded"], reply["already"], reply["refused"]) == (
            3,
            1,
            0,
            2,
        )
        assert [(i["line"], i["external_ref"], i["status"]) for i in reply["items"]] == [
            (2, "API-1", "recorded"),
            (3, "API-2", "refused"),
            (4, "API-3", "refused"),
        ]
        first = reply["items"][0]
        assert (first["account_id"], first["account"]) == (account, account)
        assert first["payment_id"] == str(payment_id_for(uuid.UUID(account), "API-1"))
        assert reply["items"][1]["problem"]["type"] == "/v1/problems/invalid-request"
        assert "ten pounds" in reply["items"][1]["problem"]["detail"]
        assert "not a UUID" in reply["items"][2]["problem"]["detail"]
        assert p.services.ledger.get_invoice(uuid.UUID(invoice["id"])).outstanding == Money(
            20_00, "GBP"
        )
        head = p.services.ledger.head_position()
        again = p.api.ok(p.api.post("/v1/payments/imports", body))
        assert (again["recorded"], again["already"], again["refused"]) == (0, 1, 2)
        assert again["position"] == head == p.services.ledger.head_position()

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["external_ref", "account_id", "amount", "currency", "received_on", "method"])
        sheet.append(["API-4", account, 25, "GBP", dt.date(2026, 11, 5), "card"])
        out = io.BytesIO()
        book.save(out)
        encoded = base64.b64encode(out.getvalue()).decode()
        xlsx = {"filename": "dec.xlsx", "content_base64": encoded}
        reply = p.api.ok(p.api.post("/v1/payments/imports", xlsx))
        assert (reply["recorded"], reply["refused"]) == (1, 0)
        payment = p.services.ledger.get_payment(uuid.UUID(reply["items"][0]["payment_id"]))
        assert payment.amount == Money(25_00, "GBP")

        # A file that is no workbook, or lacks a column, is refused whole.
        head = p.services.ledger.head_position()
        junk = {"filename": "junk.xlsx", "content_base64": base64.b64encode(b"junk").decode()}
        refused = p.api.post("/v1/payments/imports", junk)
        assert refused.status_code == 422
        assert "not an XLSX workbook" in refused.json()["detail"]
        no_method = {"filename": "m.csv", "content": "external_ref,account_id,amount,currency,"
                     f"received_on\nM-1,{account},1.00,GBP,2026-11-01\n"}  # fmt: skip
        refused = p.api.post("/v1/payments/imports", no_method)
        assert refused.status_code == 422 and "no column method" in refused.json()["detail"]
        auditor = Api(p.url, AUDITOR_KEY)
        assert auditor.post("/v1/payments/imports", body).status_code == 403
        auditor.close()
        assert p.services.ledger.head_position() == head


def test_a_coordinator_imports_an_opening_books_payments_at_the_desk(
    settings: Settings, chromium_driver: Any, tmp_path: Path
) -> None:
    with pipeline(settings) as p:
        for what, content in (("accounts", ACCOUNTS), ("invoices", INVOICES)):
            reply = p.api.ok(
                p.api.post(f"/v1/{what}/imports", {"filename": f"{what}.csv", "content": content})
            )
            assert reply["refused"] == 0
        # A control character in a file sent over HTTP refuses the file whole (the door
        # lets none into a JSON body): the desk's book leaves out the row that has one.
        rows = [row for row in PAYMENTS.splitlines(keepends=True) if "\x07" not in row]
        book = tmp_path / "opening-payments.csv"
        book.write_text("".join(rows), encoding="utf-8")
        desk = Browser(chromium_driver, p.url)
        desk.sign_in(COORDINATOR_KEY)

        _upload(desk, book)  # what it holds, told from its header

        desk.wait_text("2 recorded")
        assert "What the file's payments became" in desk.text
        assert "0 already in the ledger" in desk.text and "10 refused" in desk.text
        refused = {
            str(r.get_attribute("data-line")): r.text for r in desk.all("tr[data-status=refused]")
        }
        assert sorted(refused, key=int) == [str(n) for n in range(4, 14)]
        assert "Over-allocation" in refused["11"]
        recorded = desk.all("tr[data-status=recorded]")
        assert [r.get_attribute("data-line") for r in recorded] == ["2", "3"]
        assert "RCPT-1" in recorded[0].text and "Quay Books" in recorded[0].text

        # Named as payments on the form this time: the same file records nothing twice.
        _upload(desk, book, holds="payments")
        desk.wait_text("2 already in the ledger")
        assert "0 recorded" in desk.text


def _upload(desk: Browser, path: Path, holds: str | None = None) -> None:
    desk.open("/imports")
    desk.wait_text("What the file holds")
    if holds is not None:
        desk.find(f"input[name=holds][value={holds}]").click()
    desk.find("#file").send_keys(str(path))
    desk.follow(desk.find("#upload button[type=submit]"))
