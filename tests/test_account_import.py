"""An opening book: a company moving to arledger brings its accounts over from the old
system as a CSV or XLSX file, by ``arledger import accounts``, ``POST
/v1/accounts/imports`` or the desk's Import screen. Each row is opened, found already
there (the same file again opens nothing twice), or refused with its line and reason;
the book's invoices then name the accounts by their reference at once."""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from api.problems import PROBLEM_MEDIA_TYPE
from infra.settings import Settings
from ledger.bulk_accounts import account_id_for
from tests.desk import Browser
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, COORDINATOR_KEY, Api, run_cli

PROBLEMS = "/v1/problems/"
# Columns in another order and case than the README's, and one the import ignores.
BOOK = (
    "Name,External_Ref,Payment_Terms_Days,Currency,Email,Credit_Limit,Coordinator,Segment\n"
    'Quay Books,CRM-0042,30,GBP,accounts@quaybooks.example,"25,000.00",alice,retail\n'
    "Harbour Cafe,CRM-0107,14,gbp,,,,hospitality\n"
    "No Reference Ltd,,30,GBP,,,,\n"  # an opening book names every account
    "Rivage SARL,CRM-0200,30,EUX,,,,\n"  # not a currency
    "Dock Ltd,CRM-0300,thirty,GBP,,,,\n"  # not a number of days
    "Pier Ltd,CRM-0400,30,GBP,,12.345,,\n"  # a tenth of a penny
    "Quay Books Again,CRM-0042,30,GBP,,,,\n"  # the reference of line 2 again
    ",CRM-0500,30,GBP,,,,\n"  # no name: the ledger's own rule
    "Lighthouse Ltd,CRM-0600,400,GBP,,,,\n"  # terms beyond a year
)


def _summary(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return summary


def _report(path: str) -> dict[str, dict[str, str]]:
    with Path(path).open(encoding="utf-8") as f:
        return {row["line"]: row for row in csv.DictReader(f)}


def test_an_opening_book_of_accounts_is_opened_row_by_row_and_again_opens_nothing(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pipeline(settings, workers=False) as p:
        book = tmp_path / "accounts.csv"
        book.write_text(BOOK, encoding="utf-8")

        assert run_cli(["import", "accounts", str(book)], settings, monkeypatch) == 1

        summary = _summary(capsys)
        assert (summary["rows"], summary["opened"], summary["already"]) == (9, 2, 0)
        assert summary["refused"] == 7
        rows = _report(summary["report"])
        assert {line: r["status"] for line, r in rows.items()} == {
            "2": "opened", "3": "opened", "4": "refused", "5": "refused", "6": "refused",
            "7": "refused", "8": "refused", "9": "refused", "10": "refused",
        }  # fmt: skip
        assert "external_ref must not be empty" in rows["4"]["detail"]
        assert rows["5"]["problem"] == "unreadable-row" and "EUX" in rows["5"]["detail"]
        assert "'thirty' is not a whole number of days" in rows["6"]["detail"]
        assert "credit_limit" in rows["7"]["detail"] and "more decimals" in rows["7"]["detail"]
        assert rows["8"]["problem"] == "duplicate-external-ref"
        assert "more than once" in rows["8"]["detail"]
        assert (rows["9"]["problem"], rows["10"]["problem"]) == ("invalid-request",) * 2
        assert "name must not be empty" in rows["9"]["detail"]
        assert "payment_terms_days must be between 0 and 365" in rows["10"]["detail"]

        ledger = p.services.ledger
        quay = ledger.get_account(account_id_for("CRM-0042"))
        assert rows["2"]["detail"] == str(quay.id)
        assert (quay.name, quay.currency, quay.payment_terms_days) == ("Quay Books", "GBP", 30)
        assert (quay.email, quay.coordinator) == ("accounts@quaybooks.example", "alice")
        assert quay.credit_limit is not None and quay.credit_limit.amount_minor == 25_000_00
        harbour = ledger.get_account(account_id_for("CRM-0107"))
        assert (harbour.currency, harbour.email, harbour.credit_limit) == ("GBP", None, None)

        # The same book again (someone ran it twice, or it was cut short): nothing twice.
        head = ledger.head_position()
        assert run_cli(["import", "accounts", str(book)], settings, monkeypatch) == 1
        again = _summary(capsys)
        assert (again["opened"], again["already"], again["refused"]) == (0, 2, 7)
        assert ledger.head_position() == head

        # The old system's export of a day later says other terms: refused, not changed.
        changed = tmp_path / "accounts-later.csv"
        changed.write_text(
            "external_ref,name,currency,payment_terms_days\nCRM-0107,Harbour Cafe,GBP,30\n"
        )
        out = tmp_path / "later-report.csv"
        argv = ["import", "accounts", str(changed), "--report", str(out), "--actor", "migration"]
        assert run_cli(argv, settings, monkeypatch) == 1
        refused = _report(_summary(capsys)["report"])["2"]
        assert refused["problem"] == "duplicate-external-ref"
        assert "payment_terms_days 14 in the ledger, 30 here" in refused["detail"]
        assert ledger.head_position() == head
        assert ledger.get_account(harbour.id).payment_terms_days == 14


def test_a_file_that_cannot_be_read_is_exit_2_and_opens_nothing(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pipeline(settings, workers=False) as p:
        head = p.services.ledger.head_position()
        no_terms = tmp_path / "accounts.csv"
        no_terms.write_text("external_ref,name,currency\nCRM-1,Quay Books,GBP\n")
        assert run_cli(["import", "accounts", str(no_terms)], settings, monkeypatch) == 2
        assert "accounts.csv has no column payment_terms_days" in capsys.readouterr().err
        missing = tmp_path / "nowhere.csv"
        assert run_cli(["import", "accounts", str(missing)], settings, monkeypatch) == 2
        assert "nowhere.csv" in capsys.readouterr().err
        assert p.services.ledger.head_position() == head
        all_good = tmp_path / "good.csv"
        all_good.write_text("external_ref,name,currency,payment_terms_days\nCRM-1,Quay,GBP,30\n")
        assert run_cli(["import", "accounts", str(all_good)], settings, monkeypatch) == 0
        assert _summary(capsys)["opened"] == 1


def test_a_book_cut_short_resumes_without_opening_anything_twice(settings: Settings) -> None:
    with pipeline(settings, workers=False) as p:
        header = "external_ref,name,currency,payment_terms_days\n"
        rows = [f"OLD-{n:04d},Client {n},GBP,30\n" for n in range(600)]
        # The first 300 went in (two chunks) before the importing process died.
        first = {"filename": "book.csv", "content": header + "".join(rows[:300])}
        assert p.api.ok(p.api.post("/v1/accounts/imports", first))["opened"] == 300

        whole = {"filename": "book.csv", "content": header + "".join(rows)}
        reply = p.api.ok(p.api.post("/v1/accounts/imports", whole))

        assert (reply["opened"], reply["already"], reply["refused"]) == (300, 300, 0)
        ids = {item["account_id"] for item in reply["items"]}
        assert ids == {str(account_id_for(f"OLD-{n:04d}")) for n in range(600)}
        last = p.services.ledger.get_account(account_id_for("OLD-0599"))
        assert (last.name, last.version) == ("Client 599", 1)


def test_an_opening_book_goes_in_as_accounts_then_invoices_before_the_read_models_catch_up(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No consumer runs here: the balances read model never learns the new references,
    yet the invoices find their accounts by them."""
    with pipeline(settings, workers=False) as p:
        accounts = (
            "external_ref,name,currency,payment_terms_days\n"
            "OLD-1,Quay Books,GBP,30\nOLD-2,Harbour Cafe,GBP,14\n"
        )
        reply = p.api.ok(
            p.api.post("/v1/accounts/imports", {"filename": "book.csv", "content": accounts})
        )
        assert (reply["opened"], reply["refused"]) == (2, 0)
        invoices = tmp_path / "open-invoices.csv"
        invoices.write_text(
            "account_ref,number,amount,currency,issued_on,due_on\n"
            "OLD-1,Q-1,120.00,GBP,2026-10-01,2026-10-31\n"
            "OLD-2,H-1,45.50,GBP,2026-10-03,2026-10-17\n"
            "OLD-1,Q-2,80.00,GBP,2026-11-01,2026-12-01\n"
            "OLD-9,X-1,10.00,GBP,2026-11-01,2026-12-01\n"  # no such account
        )

        assert run_cli(["import", "invoices", str(invoices)], settings, monkeypatch) == 1

        summary = _summary(capsys)
        assert (summary["raised"], summary["refused"]) == (3, 1)
        assert (
            "no account has the external_ref 'OLD-9'" in _report(summary["report"])["5"]["detail"]
        )
        ledger = p.services.ledger
        quay = ledger.get_account(account_id_for("OLD-1"))
        harbour = ledger.get_account(account_id_for("OLD-2"))
        numbers = {ledger.get_invoice(i).number for i in quay.invoice_ids()}
        assert numbers == {"Q-1", "Q-2"}
        (h1,) = [ledger.get_invoice(i) for i in harbour.invoice_ids()]
        assert (h1.number, h1.amount.amount_minor) == ("H-1", 45_50)

        # Over HTTP too, as a billing system would send the next month's run.
        run = (
            "account_ref,number,amount,currency,issued_on,due_on\n"
            "OLD-2,H-2,9.99,GBP,2026-12-01,2026-12-15\n"
        )
        reply = p.api.ok(
            p.api.post("/v1/invoices/imports", {"filename": "dec.csv", "content": run})
        )
        assert reply["items"][0]["account_id"] == str(harbour.id)
        assert reply["raised"] == 1


def _xlsx(rows: list[list[Any]], sheet: str = "Accounts") -> str:
    book = Workbook()
    first = book.active
    assert first is not None
    first.title = "Notes"
    first.append(["exported from the old system"])
    accounts = book.create_sheet(sheet)
    for row in rows:
        accounts.append(row)
    out = io.BytesIO()
    book.save(out)
    return base64.b64encode(out.getvalue()).decode()


def test_an_xlsx_book_over_http_with_number_cells_and_its_refusals(settings: Settings) -> None:
    with pipeline(settings) as p:
        api = p.api
        by_hand = api.ok(
            api.post(
                "/v1/accounts",
                {"name": "Quay Books", "currency": "GBP", "payment_terms_days": 30,
                 "external_ref": "CRM-0042"},
            )
        )  # fmt: skip
        p.wait_until_projected(by_hand["position"])
        content = _xlsx(
            [
                ["external_ref", "name", "currency", "payment_terms_days", "credit_limit"],
                ["CRM-1", "Rivage SARL", "EUR", 30, 1234.5],
                ["CRM-2", "Kobe Trading", "JPY", 14.0, 500000],
                ["CRM-0042", "Quay Books", "GBP", 30, None],  # opened by hand already
                [None, "Anonymous Ltd", "GBP", 30, None],
            ]
        )
        body = {"filename": "book.xlsx", "content_base64": content, "sheet": "Accounts"}

        reply = api.ok(api.post("/v1/accounts/imports", body, key="book-1"))

        assert (reply["opened"], reply["already"], reply["refused"]) == (2, 0, 2)
        items = {item["line"]: item for item in reply["items"]}
        assert [items[n]["status"] for n in (2, 3, 4, 5)] == [
            "opened", "opened", "refused", "refused",
        ]  # fmt: skip
        rivage = p.services.ledger.get_account(uuid.UUID(items[2]["account_id"]))
        assert rivage.credit_limit is not None and rivage.credit_limit.amount_minor == 1234_50
        kobe = p.services.ledger.get_account(account_id_for("CRM-2"))
        assert kobe.payment_terms_days == 14
        assert kobe.credit_limit is not None and kobe.credit_limit.amount_minor == 500_000
        taken = items[4]["problem"]
        assert taken["type"] == PROBLEMS + "duplicate-external-ref"
        assert taken["account_id"] == by_hand["id"]
        assert items[5]["problem"]["type"] == PROBLEMS + "invalid-request"

        # The same key and body: the first reply, nothing appended.
        head = p.services.ledger.head_position()
        assert api.ok(api.post("/v1/accounts/imports", body, key="book-1")) == reply
        # The same file under a new key: everything already there or refused again.
        again = api.ok(api.post("/v1/accounts/imports", body))
        assert (again["opened"], again["already"], again["refused"]) == (0, 2, 2)
        assert p.services.ledger.head_position() == head

        # A row whose account is in the ledger with other details names the fields.
        changed = (
            "external_ref,name,currency,payment_terms_days,credit_limit\n"
            'CRM-2,Kobe Trading KK,JPY,30,"500,000"\n'
        )
        answer = api.ok(api.post("/v1/accounts/imports", {"filename": "b.csv", "content": changed}))
        problem = answer["items"][0]["problem"]
        assert problem["type"] == PROBLEMS + "duplicate-external-ref"
        assert problem["fields"] == ["name", "payment_terms_days"]
        assert "name 'Kobe Trading' in the ledger, 'Kobe Trading KK' here" in problem["detail"]

        at = reply["position"]
        balance = api.ok(api.get(f"/v1/accounts/{kobe.id}/balance", min_position=at))
        assert balance["outstanding"] == {"amount": 0, "currency": "JPY"}
        assert api.ok(api.get(f"/v1/accounts/{rivage.id}"))["name"] == "Rivage SARL"
        _refusals_of_the_whole_file(p, api)


def _refusals_of_the_whole_file(p: Any, api: Api) -> None:
    head = p.services.ledger.head_position()
    junk = {"filename": "x.xlsx", "content_base64": base64.b64encode(b"not a zip").decode()}
    refused = api.post("/v1/accounts/imports", junk)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert refused.json()["type"] == PROBLEMS + "invalid-request"
    assert "not an XLSX workbook" in refused.json()["detail"]
    no_sheet = {"filename": "y.xlsx", "content_base64": _xlsx([["external_ref"]]), "sheet": "Z"}
    assert "has no sheet 'Z'" in api.post("/v1/accounts/imports", no_sheet).json()["detail"]
    columns = {"filename": "z.csv", "content": "external_ref,name\nCRM-9,Pier Ltd\n"}
    missing = api.post("/v1/accounts/imports", columns)
    assert missing.status_code == 422
    assert "z.csv has no column currency, payment_terms_days" in missing.json()["detail"]
    wide = "external_ref,name,currency,payment_terms_days\nCRM-9," + "x" * 200_000 + ",GBP,30\n"
    too_wide = api.post("/v1/accounts/imports", {"filename": "w.csv", "content": wide})
    assert too_wide.status_code == 422, too_wide.text  # a field beyond the csv module's
    assert "w.csv cannot be read as CSV at line 2" in too_wide.json()["detail"]
    both = {"filename": "z.csv", "content": "a", "content_base64": "YQ=="}
    assert api.post("/v1/accounts/imports", both).status_code == 422
    auditor = Api(p.url, AUDITOR_KEY)
    assert auditor.post("/v1/accounts/imports", columns).status_code == 403
    auditor.close()
    assert p.services.ledger.head_position() == head


def test_a_coordinator_imports_an_opening_book_at_the_desk(
    settings: Settings, chromium_driver: Any, tmp_path: Path
) -> None:
    with pipeline(settings) as p:
        book = tmp_path / "opening-book.csv"
        book.write_text(BOOK, encoding="utf-8")
        desk = Browser(chromium_driver, p.url)
        desk.sign_in(COORDINATOR_KEY)
        desk.open("/imports")
        desk.wait_text("What the file holds")
        _shot(desk, "imports-form")

        _upload(desk, book)  # what it holds, told from its header

        desk.wait_text("2 opened")
        assert "What the file's accounts became" in desk.text
        assert "0 already in the ledger" in desk.text and "7 refused" in desk.text
        refused = {
            str(r.get_attribute("data-line")): r.text for r in desk.all("tr[data-status=refused]")
        }
        assert sorted(refused, key=int) == ["4", "5", "6", "7", "8", "9", "10"]
        assert "Duplicate external reference" in refused["8"] and "CRM-0042" in refused["8"]
        assert "EUX" in refused["5"]
        opened = desk.all("tr[data-status=opened]")
        assert [r.get_attribute("data-line") for r in opened] == ["2", "3"]
        assert "CRM-0042" in opened[0].text and "Quay Books" in opened[0].text
        _shot(desk, "imports-accounts-result")

        # Named as accounts on the form this time: the same file opens nothing twice.
        _upload(desk, book, holds="accounts")
        desk.wait_text("2 already in the ledger")
        assert "0 opened" in desk.text
        desk.follow(desk.find("tr[data-line='2'] a"))
        desk.wait_text("CRM-0042")

        # A header that names neither: the form says so, and keeps the file's kind open.
        odd = tmp_path / "odd.csv"
        odd.write_text("ref,client\nA,B\n")
        _upload(desk, odd)
        desk.wait_text("say which the file holds")
        assert not desk.all("tr[data-status]")


def _upload(desk: Browser, path: Path, holds: str | None = None) -> None:
    desk.open("/imports")
    desk.wait_text("What the file holds")
    if holds is not None:
        desk.find(f"input[name=holds][value={holds}]").click()
    desk.find("#file").send_keys(str(path))
    desk.follow(desk.find("#upload button[type=submit]"))


def _shot(desk: Browser, name: str) -> None:
    """The whole page: the window is grown again when its viewport came out shorter."""
    path = desk.shot(name)
    short = desk.driver.execute_script("return document.body.scrollHeight - window.innerHeight")
    if int(short) > 0:
        size = desk.driver.get_window_size()
        desk.driver.set_window_size(size["width"], size["height"] + int(short))
        desk.driver.save_screenshot(str(path))
