"""Reconciliation runs read back as they were recorded: ``GET /v1/reconciliations/{id}``
(JSON, CSV and XLSX, the findings as the run's reply had them) and the list of runs,
newest first and paged, read from the event store itself. A fake Stripe that lists one
payout and no payments, so the ledger's card payment is a finding."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from api.tabular import XLSX_MEDIA
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, Api, gbp
from tests.tabular_support import csv_rows, fake_stripe, money_cell, records, title_block, workbook

STATEMENT = "Date,Amount,Reference,Payer\n2026-06-20,77.70,MYSTERY 42,Nobody Ltd\n"


def test_a_past_run_reads_back_as_recorded_in_json_csv_and_xlsx(settings):
    today = date.today().isoformat()
    period = {"from": today, "to": today}
    with fake_stripe() as stripe:
        changed = settings.model_copy(
            update={"stripe_api_key": "sk_test_runs", "stripe_api_base": stripe.url}
        )
        with pipeline(changed) as p:
            api = p.api
            acct = api.open_account("Run Rooms Ltd")["id"]
            api.record_payment(acct, 45_60, method="card", received_on=today, reference="pi_run_1")
            p.wait_until_projected()
            first = api.ok(api.post("/v1/reconciliations/stripe", period))
            posted_csv = csv_rows(api.post("/v1/reconciliations/stripe?format=csv", period))
            second = api.ok(api.post("/v1/reconciliations/stripe", period))

            run = api.ok(api.get(f"/v1/reconciliations/{first['run_id']}"))
            assert (run["run_id"], run["channel"], run["from"], run["to"]) == (
                first["run_id"], "stripe", today, today
            )  # fmt: skip
            assert run["findings"] == [f for f in first["findings"] if f["kind"] != "matched"]
            assert run["findings"][0]["reference"] == "pi_run_1"
            assert run["findings"][0]["ledger_amount"] == gbp(45_60)
            assert (run["counts"], run["listed"]) == (first["counts"], first["listed"])
            assert (run["position"], run["actor"], run["payouts"]) == (
                first["position"],
                "alice",
                None,
            )
            assert datetime.fromisoformat(run["recorded_at"]).date() == date.today()
            auditor = Api(p.url, AUDITOR_KEY)  # a read: any role
            assert auditor.ok(auditor.get(f"/v1/reconciliations/{first['run_id']}")) == run

            # The CSV is the run's own CSV, row for row; the workbook as the POST's, less
            # the payouts (not recorded), with who ran it and when in the title block.
            rows = csv_rows(api.get(f"/v1/reconciliations/{first['run_id']}", format="csv"))
            assert rows == posted_csv
            assert [(r["Kind"], r["Reference"], r["Ledger amount"]) for r in rows] == [
                ("missing-in-stripe", "pi_run_1", "45.60")
            ]
            wb = workbook(
                api.http.get(
                    f"/v1/reconciliations/{first['run_id']}", headers={"Accept": XLSX_MEDIA}
                )
            )
            assert wb.sheetnames == ["Counts", "Findings"]
            (finding,) = records(wb["Findings"])
            assert money_cell(finding["Ledger amount"], "GBP") == 45_60
            counts = {r["Kind"].value: r["Count"].value for r in records(wb["Counts"])}
            assert counts["missing-in-stripe"] == 1 and counts["listed: payouts"] == 1
            block = title_block(wb["Counts"])
            assert (block["Run"], block["By"], block["Channel"]) == (
                first["run_id"],
                "alice",
                "stripe",
            )
            assert isinstance(block["Recorded at (UTC)"], datetime)

            unknown = api.get(f"/v1/reconciliations/{uuid.uuid4()}")
            assert unknown.status_code == 404
            assert unknown.json()["type"] == "/v1/problems/not-found"
            assert api.get("/v1/reconciliations/not-a-run").status_code == 422
            _the_runs_newest_first(api, first, second)


def _the_runs_newest_first(api, first, second):
    """Three Stripe runs (``first``, one as CSV, ``second``), then a bank statement's."""
    body = {"content": STATEMENT, "currency": "GBP", "filename": "june.csv"}
    statement = api.ok(api.post("/v1/bank-statements", body))
    listed = api.ok(api.get("/v1/reconciliations", channel="stripe"))
    assert len(listed["runs"]) == 3 and listed["next_before"] is None
    assert listed["runs"][0]["run_id"] == second["run_id"]
    assert listed["runs"][-1]["run_id"] == first["run_id"]
    positions = [r["position"] for r in listed["runs"]]
    assert positions == sorted(positions, reverse=True)
    assert listed["runs"][-1]["findings_recorded"] == 1
    assert listed["runs"][-1]["counts"] == first["counts"]

    # Paged: one at a time, on from next_before.
    page = api.ok(api.get("/v1/reconciliations", channel="stripe", limit=1))
    assert [r["run_id"] for r in page["runs"]] == [second["run_id"]]
    rest = api.ok(api.get("/v1/reconciliations", channel="stripe", before=page["next_before"]))
    assert [r["run_id"] for r in rest["runs"]] == [r["run_id"] for r in listed["runs"][1:]]

    # Every channel: the bank statement's import is the newest run.
    everything = api.ok(api.get("/v1/reconciliations"))
    assert everything["runs"][0]["run_id"] == statement["statement_id"]
    assert everything["runs"][0]["channel"] == "bank"
    bank = api.ok(api.get(f"/v1/reconciliations/{statement['statement_id']}"))
    assert bank["counts"] == statement["counts"] and bank["channel"] == "bank"
    lines = csv_rows(api.get(f"/v1/reconciliations/{statement['statement_id']}", format="csv"))
    assert lines[0]["Kind"] == "statement-file"
    assert [(r["Reference"], r["Amount"]) for r in lines[1:]] == [("MYSTERY 42", "77.70")]

    table = csv_rows(api.get("/v1/reconciliations", channel="stripe", format="csv"))
    assert [r["Run ID"] for r in table] == [r["run_id"] for r in listed["runs"]]
    assert {r["Channel"] for r in table} == {"stripe"}
    spec = api.ok(api.get("/openapi.json"))
    for path in ("/v1/reconciliations", "/v1/reconciliations/{run_id}"):
        operation = spec["paths"][path]["get"]
        assert {"text/csv", XLSX_MEDIA} <= set(operation["responses"]["200"]["content"]), path
