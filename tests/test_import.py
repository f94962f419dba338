"""``arledger import invoices``: a coordinator brings a billing system's export into the
ledger from a CSV or an XLSX file; each row is raised, found already there, or refused
with its line and reason, in a report beside the file."""

from __future__ import annotations

import ast
import base64
import csv
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from channels.table_file import saved_rows
from tests.pipeline import pipeline
from tests.support import gbp, run_cli


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_csv_export_is_imported_row_by_row_and_again_changes_nothing(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline(settings) as p:
        harbour = p.api.open_account("Harbour Cafe")["id"]
        quay = p.api.ok(
            p.api.post(
                "/v1/accounts",
                {"name": "Quay Books", "currency": "GBP", "payment_terms_days": 30,
                 "external_ref": "CRM-0042"},
            )
        )  # fmt: skip
        p.wait_until_projected(quay["position"])
        export = tmp_path / "november.csv"
        export.write_text(
            "Number,Account_ID,Account_Ref,Amount,Currency,Issued_On,Due_On,Description\n"
            f'NOV-1,{harbour},,"1,200.00",GBP,2026-11-01,2026-12-01,Room hire\n'
            ",,CRM-0042,45.50,GBP,2026-11-02,2026-12-02,\n"  # no number
            "NOV-3,,CRM-0042,45.5,gbp,2026-11-02,2026-12-02,Catering\n"
            "NOV-4,,CRM-9999,10.00,GBP,2026-11-03,2026-12-03,\n"  # no such account
            f"NOV-5,{harbour},,12.345,GBP,2026-11-03,2026-12-03,\n"  # a tenth of a penny
            f"NOV-6,{harbour},,80.00,GBP,03/11/2026,2026-12-03,\n"  # not an ISO date
            f"NOV-7,{harbour},,99.00,EUR,2026-11-04,2026-12-04,\n",  # not the account's
            encoding="utf-8",
        )

        assert run_cli(["import", "invoices", str(export)], settings, monkeypatch) == 1

        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert (summary["raised"], summary["already"], summary["refused"]) == (2, 0, 5)
        rows = {r["line"]: r for r in _report(Path(summary["report"]))}
        assert {line: r["status"] for line, r in rows.items()} == {
            "2": "raised", "3": "refused", "4": "raised", "5": "refused",
            "6": "refused", "7": "refused", "8": "refused",
        }  # fmt: skip
        assert "CRM-9999" in rows["5"]["detail"]
        assert "more decimals" in rows["6"]["detail"]
        assert rows["8"]["problem"] == "currency-mismatch"

        head = p.services.ledger.head_position()
        p.wait_until_projected(head)
        balance = p.api.ok(p.api.get(f"/v1/accounts/{quay['id']}/balance"))
        assert balance["outstanding"] == gbp(45_50)

        # Run again (the import was cut short, or someone ran it twice): nothing twice.
        assert run_cli(["import", "invoices", str(export)], settings, monkeypatch) == 1
        again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert (again["raised"], again["already"], again["refused"]) == (0, 2, 5)
        assert p.services.ledger.head_position() == head


def test_an_xlsx_export_with_number_and_date_cells_is_read_exactly(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Rivage Ltd")["id"]
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["account_id", "number", "amount", "currency", "issued_on", "due_on"])
        sheet.append([account, "R-1", 1234.56, "GBP", dt.date(2026, 11, 1), dt.date(2026, 12, 1)])
        sheet.append([account, "R-2", 0.1, "GBP", dt.datetime(2026, 11, 2), dt.date(2026, 12, 2)])
        export = tmp_path / "opening.xlsx"
        book.save(export)

        assert run_cli(["import", "invoices", str(export)], settings, monkeypatch) == 0

        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["raised"] == 2
        ledger = p.services.ledger
        invoices = [ledger.get_invoice(i) for i in ledger.get_account(_id(account)).invoice_ids()]
        assert sorted((i.number, i.amount.amount_minor, i.issued_on) for i in invoices) == [
            ("R-1", 123456, dt.date(2026, 11, 1)),
            ("R-2", 10, dt.date(2026, 11, 2)),
        ]


def _id(text: str) -> Any:
    import uuid

    return uuid.UUID(text)


def test_the_same_file_through_the_api_reports_each_line(settings, tmp_path: Path) -> None:
    with pipeline(settings, workers=False) as p:
        account = p.api.open_account("Harbour Cafe")["id"]
        csv_text = (
            "account_id,number,amount,currency,issued_on,due_on\n"
            f"{account},API-1,10.00,GBP,2026-11-01,2026-12-01\n"
            f"{account},API-2,ten pounds,GBP,2026-11-01,2026-12-01\n"
        )
        reply = p.api.ok(
            p.api.post("/v1/invoices/imports", {"filename": "nov.csv", "content": csv_text})
        )
        assert [(i["line"], i["number"], i["status"]) for i in reply["items"]] == [
            (2, "API-1", "raised"),
            (3, "API-2", "refused"),
        ]
        assert reply["items"][1]["problem"]["type"] == "/v1/problems/invalid-request"
        assert "ten pounds" in reply["items"][1]["problem"]["detail"]

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["account_id", "number", "amount", "currency", "issued_on", "due_on"])
        sheet.append([account, "API-3", 25, "GBP", dt.date(2026, 11, 5), dt.date(2026, 12, 5)])
        path = tmp_path / "dec.xlsx"
        book.save(path)
        encoded = base64.b64encode(path.read_bytes()).decode()
        body = {"filename": "dec.xlsx", "content_base64": encoded}
        reply = p.api.ok(p.api.post("/v1/invoices/imports", body))
        assert (reply["raised"], reply["refused"]) == (1, 0)
        assert (
            p.services.ledger.get_invoice(_id(reply["items"][0]["invoice_id"])).amount.amount_minor
            == 25_00
        )

        # A file that is no workbook at all is refused whole, with nothing raised.
        head = p.services.ledger.head_position()
        junk = {"filename": "x.xlsx", "content_base64": base64.b64encode(b"not a zip").decode()}
        refused = p.api.post("/v1/invoices/imports", junk)
        assert refused.status_code == 422
        assert "not an XLSX workbook" in refused.json()["detail"]
        assert p.services.ledger.head_position() == head


def test_a_reference_two_accounts_share_is_refused_as_ambiguous_naming_them(settings) -> None:
    with pipeline(settings) as p:
        body = {"currency": "GBP", "payment_terms_days": 30, "external_ref": "CRM-0007"}
        pier = p.api.ok(p.api.post("/v1/accounts", {**body, "name": "Pier Cafe"}))
        quay = p.api.ok(p.api.post("/v1/accounts", {**body, "name": "Quay Cafe"}))
        p.wait_until_projected(quay["position"])
        csv_text = (
            "account_ref,number,amount,currency,issued_on,due_on\n"
            "CRM-0007,AMB-1,10.00,GBP,2026-11-01,2026-12-01\n"
            "CRM-0404,AMB-2,10.00,GBP,2026-11-01,2026-12-01\n"
            "CRM-0007,AMB-3,12.00,GBP,2026-11-01,2026-12-01\n"
        )
        head = p.services.ledger.head_position()
        reply = p.api.ok(
            p.api.post("/v1/invoices/imports", {"filename": "amb.csv", "content": csv_text})
        )
        assert [(i["line"], i["status"]) for i in reply["items"]] == [
            (2, "refused"),
            (3, "refused"),
            (4, "refused"),
        ]
        for line in (0, 2):
            detail = reply["items"][line]["problem"]["detail"]
            assert "'CRM-0007' is ambiguous" in detail, detail
            assert pier["id"] in detail and quay["id"] in detail
            assert "no account has" not in detail
        assert (
            "no account has the external_ref 'CRM-0404'" in reply["items"][1]["problem"]["detail"]
        )
        assert p.services.ledger.head_position() == head


def test_the_command_line_and_the_api_turn_rows_into_outcomes_by_one_shared_step() -> None:
    @dataclass(frozen=True)
    class Row:
        line: int
        command: str | None

    rows = [Row(2, "a"), Row(3, None), Row(4, "b"), Row(5, None)]
    saves: list[list[str]] = []

    def save(commands: list[str]) -> list[str]:
        saves.append(commands)
        return [f"saved {c}" for c in commands]

    assert saved_rows(rows, save) == [
        (rows[0], "saved a"), (rows[1], None), (rows[2], "saved b"), (rows[3], None),
    ]  # fmt: skip
    assert saves == [["a", "b"]]  # the readable rows, in one call, in the file's order
    root = Path(__file__).resolve().parent.parent
    for module in ("runtime/cli_import.py", "api/routes/file_import.py"):
        tree = ast.parse((root / module).read_text())
        called = {
            node.func.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert "saved_rows" in called, f"{module} pairs rows with outcomes by itself"
