"""Sums are wider than single amounts (issue 14, item 3): an account invoiced more of the
largest amount than a bigint holds is read, to the unit, by every report, and is not held;
read models made when totals were bigint are widened in place."""

from __future__ import annotations

import uuid

from contract.cloudevents import to_cloudevent
from ledger.limits import AMOUNT_MINOR_MAX
from projections import held
from projections.registry import AUDIT, BALANCES, RECEIVABLES
from projections.writer import apply_batch
from tests.pipeline import pipeline
from tests.support import gbp

BIGINT_MAX = 2**63 - 1
# One account invoiced this many of the largest amount: past what a bigint holds.
INVOICES = BIGINT_MAX // AMOUNT_MINOR_MAX + 76  # 9,299
OWED = INVOICES * AMOUNT_MINOR_MAX
AS_OF = {"as_of": "2025-03-01"}
GIANT = gbp(OWED)
TOTAL = "numeric(38,0)"  # what a running total is kept in


def _copy(raised: dict, position: int, n: int) -> dict:
    """Another invoice of the same account raised like ``raised``, at ``position``:
    what the projections would be sent had the ledger recorded it."""
    data = {**raised["data"], "number": f"G-{n}"}
    return {**raised, "id": str(uuid.uuid4()), "subject": str(uuid.uuid4()), "position": position,
            "data": data}  # fmt: skip


def _project_giant(p) -> tuple[str, int]:
    """An account with ``INVOICES`` invoices of the largest amount, in the read models:
    the first through the ledger, the rest as the projections would receive them (that
    many commands through the API would take minutes)."""
    ledger, pool = p.services.ledger, p.services.pool
    account = p.api.open_account("Giant Ltd")["id"]
    p.api.raise_invoice(account, "G-0", AMOUNT_MINOR_MAX, "2025-01-01", "2025-01-31")
    events = [to_cloudevent(ledger, n) for n in ledger.read_log(0, 100)]
    raised = next(ce for ce in events if ce["type"] == "arledger.invoice.raised")
    last = events[-1]["position"]
    events += [_copy(raised, last + n, n) for n in range(1, INVOICES)]
    for projection in (BALANCES, RECEIVABLES, AUDIT):
        projection.ensure_schema(pool)
        assert apply_batch(pool, projection, 0, events) == len(events)
    return account, events[-1]["position"]


def _ok(api, path, **params):
    response = api.get(path, **params)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def test_an_account_owing_more_than_a_bigint_is_read_exactly_by_every_report(settings):
    with pipeline(settings, workers=False) as p:
        account, last = _project_giant(p)
        with p.services.pool.connection() as conn:
            assert held.holds(conn) == []
        api = p.api

        balance = _ok(api, f"/v1/accounts/{account}/balance")
        assert balance["invoiced"] == balance["outstanding"] == balance["overdue"] == GIANT
        dated = _ok(api, f"/v1/accounts/{account}/balance", **AS_OF)
        assert dated["invoiced"] == dated["outstanding"] == GIANT
        portfolio = _ok(api, "/v1/reports/balances", currency="GBP")
        assert (portfolio["accounts"], portfolio["invoiced"]) == (1, GIANT)
        assert portfolio["outstanding"] == portfolio["overdue"] == GIANT
        found = _ok(api, "/v1/accounts", q="Giant")["accounts"]
        assert [a["outstanding"] for a in found] == [GIANT]

        aged = _ok(api, "/v1/reports/aged-debt", currency="GBP", **AS_OF)
        assert aged["days_1_30"] == aged["total"] == GIANT
        assert [a["total"] for a in aged["accounts"]] == [GIANT]
        trial = _ok(api, "/v1/reports/trial-balance", currency="GBP", **AS_OF)
        assert trial["control"]["balance"] == trial["control"]["invoiced"] == GIANT
        assert trial["reconciled"] is True
        worklist = _ok(api, "/v1/worklist", **AS_OF)
        assert [(r["account_id"], r["overdue"]) for r in worklist["rows"]] == [(account, GIANT)]

        trail = _ok(api, f"/v1/accounts/{account}/audit-trail", after=last - 1)["entries"]
        assert [(e["position"], e["outstanding_after"]) for e in trail] == [(last, GIANT)]
        why = _ok(api, f"/v1/events/{last}/why")
        assert why["event"]["outstanding_after"] == GIANT


def _column_types(conn, table: str, columns: tuple[str, ...]) -> dict[str, str]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attname = ANY(%s)",
        (table, list(columns)),
    ).fetchall()
    return dict(rows)


TOTALS = {
    "balance_accounts": (
        "invoiced_minor",
        "paid_minor",
        "allocated_minor",
        "credited_minor",
        "written_off_minor",
        "refunded_minor",
    ),
    "audit_accounts": ("outstanding_minor",),
    "audit_entries": ("outstanding_after_minor",),
}


def test_read_models_made_with_bigint_totals_are_widened_in_place(settings):
    """A database whose read models were made when totals were bigint: their schema,
    run again at start (or by ``arledger migrate``), widens them, keeping every row, and
    running it once more changes nothing."""
    with pipeline(settings, workers=False) as p:
        pool = p.services.pool
        account = p.api.open_account("Old Schema Ltd")["id"]
        p.api.raise_invoice(account, "OS-1", 12_34, "2025-01-01", "2025-01-31")
        events = [to_cloudevent(p.services.ledger, n) for n in p.services.ledger.read_log(0, 100)]
        with pool.connection() as conn:
            for table in TOTALS:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            # The tables as they were made before totals were wide.
            for projection in (BALANCES, AUDIT):
                conn.execute(projection.schema.replace(TOTAL, "bigint"))
            narrow = {t: _column_types(conn, t, c) for t, c in TOTALS.items()}
            assert set(narrow["balance_accounts"].values()) == {"bigint"}
        for projection in (BALANCES, AUDIT):
            assert apply_batch(pool, projection, 0, events) == len(events)
            projection.ensure_schema(pool)
            projection.ensure_schema(pool)  # once more: nothing to do
        with pool.connection() as conn:
            for table, columns in TOTALS.items():
                assert _column_types(conn, table, columns) == dict.fromkeys(columns, TOTAL)
        balance = _ok(p.api, f"/v1/accounts/{account}/balance")
        assert balance["invoiced"] == gbp(12_34)


def test_days_to_pay_weighs_the_largest_amount_over_decades(settings):
    """Debtor days weighs cash by the days it took to come: the largest amount paid
    36 years after its invoice is 1.3 * 10**19 unit-days, past a bigint."""
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Patient Ltd")["id"]
        invoice = api.raise_invoice(account, "P-1", AMOUNT_MINOR_MAX, "1990-01-01", "1990-01-31")
        payment = api.record_payment(account, AMOUNT_MINOR_MAX, received_on="2026-01-15")
        allocation = {"invoice_id": invoice["id"], "amount": gbp(AMOUNT_MINOR_MAX)}
        last = api.allocate(payment["id"], {"allocations": [allocation]})
        p.wait_until_projected(last["position"])
        days = 13_163  # 1990-01-01 to 2026-01-15
        january = {"period_start": "2026-01-01", "period_end": "2026-01-31", "currency": "GBP"}
        report = _ok(api, "/v1/reports/debtor-days", **january)
        assert report["average_days_to_pay"] == days
        trend = _ok(api, "/v1/reports/debtor-days/trend", period_end="2026-01-31", months=1,
                    currency="GBP")  # fmt: skip
        assert [m["average_days_to_pay"] for m in trend["months"]] == [days]
