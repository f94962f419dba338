"""Statements of account and dunning letters: a statement is a pure function of the
events (the same bytes again for a past moment, whatever happened since); a notice's
letter is rendered by the notifier, its SHA-256 recorded, and rendered again, byte for
byte, on request."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import time

import openpyxl

from tests.documents_support import (
    pdf_text,
    wait_for_event,
    with_company,
)
from tests.pipeline import pipeline
from tests.support import gbp


def _book(api):
    """An account with a January invoice, a February invoice, a payment on the first and
    a credit note on the second."""
    acct = api.open_account("Statement Client Ltd")["id"]
    jan = api.raise_invoice(acct, "ST-1", 1200_00, "2026-01-05", "2026-02-04")
    feb = api.raise_invoice(acct, "ST-2", 500_00, "2026-02-10", "2026-03-12")
    pay = api.record_payment(acct, 700_00, received_on="2026-02-15", reference="BACS-77")
    api.allocate(pay["id"], {"allocations": [{"invoice_id": jan["id"], "amount": gbp(700_00)}]})
    credit = api.ok(
        api.post(
            f"/v1/invoices/{feb['id']}/credit-notes",
            {"amount": gbp(50_00), "reason": "room unavailable", "issued_on": "2026-02-20"},
        )
    )
    return acct, credit["position"]


def _statement(api, acct, position, **params):
    query = {"from": "2026-02-01", "to": "2026-03-31", "min_position": position, **params}
    return api.get(f"/v1/accounts/{acct}/statement", **query)


def test_a_statement_runs_a_balance_and_reproduces_for_a_past_moment(settings):
    with pipeline(with_company(settings)) as p:
        api = p.api
        acct, position = _book(api)
        s = api.ok(_statement(api, acct, position))
        assert (s["opening_balance"], s["closing_balance"]) == (gbp(1200_00), gbp(950_00))
        assert [(line["kind"], line["reference"], line["balance"]) for line in s["lines"]] == [
            ("invoice", "ST-2", gbp(1700_00)),
            ("payment", "BACS-77", gbp(1000_00)),
            ("allocation", "ST-1", gbp(1000_00)),
            ("credit_note", "ST-2", gbp(950_00)),
        ]
        assert [(i["number"], i["outstanding"], i["bucket"]) for i in s["open_invoices"]] == [
            ("ST-1", gbp(500_00), "31-60"),
            ("ST-2", gbp(450_00), "1-30"),
        ]
        assert s["ageing"]["31-60"] == gbp(500_00) and s["unallocated"] == gbp(0)

        time.sleep(0.05)
        known = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        time.sleep(0.05)
        pdf = _statement(api, acct, position, format="pdf", as_known_at=known)
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["x-content-sha256"] == hashlib.sha256(pdf.content).hexdigest()
        text = pdf_text(pdf.content)
        for shown in ("Northwind Rooms Ltd", "ST-1", "ST-2", "1,200.00", "950.00", "20-00-00"):
            assert shown in text, (shown, text)

        # A payment recorded later, dated inside the period: today's statement shows it,
        # the one as known before it does not, and renders the same bytes as before.
        late = api.record_payment(acct, 100_00, received_on="2026-03-01", reference="LATE-1")
        now = api.ok(_statement(api, acct, late["position"]))
        assert now["closing_balance"] == gbp(850_00)
        again = _statement(api, acct, late["position"], format="pdf", as_known_at=known)
        assert again.content == pdf.content
        same = api.ok(_statement(api, acct, late["position"], at_position=s["position"]))
        assert same == s

        html = _statement(api, acct, position, format="html")
        assert "text/html" in html.headers["content-type"]
        assert "Closing balance" in html.text and "950.00" in html.text

        # In CSV and XLSX too: the lines with their running balance, in major units.
        then = {"at_position": s["position"]}
        table = _statement(api, acct, position, format="csv", **then).text
        rows = list(csv.DictReader(io.StringIO(table)))
        assert [(r["Reference"], r["Balance"]) for r in rows] == [
            ("ST-2", "1700.00"), ("BACS-77", "1000.00"), ("ST-1", "1000.00"), ("ST-2", "950.00"),
        ]  # fmt: skip
        sheet = _statement(api, acct, position, format="xlsx", **then).content
        book = openpyxl.load_workbook(io.BytesIO(sheet))
        summary = [[c.value for c in row] for row in book["Summary"].iter_rows()]
        assert ["Closing balance", "GBP", 950] in summary


def test_a_statement_refuses_a_backwards_period_or_an_unknown_format(settings):
    with pipeline(settings) as p:
        api = p.api
        acct = api.open_account("Quiet Ltd")
        backwards = api.get(
            f"/v1/accounts/{acct['id']}/statement", **{"from": "2026-03-01", "to": "2026-02-01"}
        )
        assert backwards.status_code == 422
        assert backwards.json()["type"] == "/v1/problems/bad-period"
        odd = api.get(
            f"/v1/accounts/{acct['id']}/statement", **{"from": "2026-01-01"}, format="doc"
        )
        assert odd.json()["type"] == "/v1/problems/invalid-request"


def test_a_notice_letter_is_recorded_by_hash_and_rendered_again_byte_for_byte(settings):
    with pipeline(with_company(settings)) as p:
        api = p.api
        acct = api.open_account("Letter Client Ltd")["id"]
        api.raise_invoice(acct, "LT-1", 300_00, "2026-01-01", "2026-01-31")
        api.raise_invoice(acct, "LT-2", 1234_56, "2026-01-10", "2026-02-09")
        notice = api.ok(
            api.post(
                f"/v1/accounts/{acct}/notices",
                {"stage": "reminder", "channel": "post", "notice_on": "2026-03-02",
                 "all_eligible": True},
            )
        )  # fmt: skip
        assert notice["stage"] == "reminder"
        (rendered,) = wait_for_event(p, acct, "arledger.notification.document_rendered")
        recorded = rendered["data"]["sha256"]
        assert rendered["data"]["reference"] == notice["id"]

        path = f"/v1/accounts/{acct}/notices/{notice['id']}/letter"
        first, second = api.get(path), api.get(f"/v1/notices/{notice['id']}/letter")
        assert first.content == second.content
        assert hashlib.sha256(first.content).hexdigest() == recorded
        assert first.headers["x-recorded-sha256"] == recorded
        text = pdf_text(first.content)
        for shown in ("Payment reminder", "LT-1", "LT-2", "300.00", "1,234.56", "1,534.56", "30"):
            assert shown in text, (shown, text)
        assert "2026-03-09" in text  # what happens next, and by when
        letter = api.ok(api.get(path, format="json"))
        assert [(r["number"], r["days_overdue"]) for r in letter["invoices"]] == [
            ("LT-1", 30),
            ("LT-2", 21),
        ]
        assert letter["recorded_sha256"] == recorded

        missing = api.get(f"/v1/accounts/{acct}/notices/no-such-notice/letter")
        assert missing.status_code == 404
        assert missing.json()["type"] == "/v1/problems/unknown-notice"
