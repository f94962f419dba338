"""Reports for managers, payment operations and auditors: aged debt, debtor days, cash
posting, payment behaviour and portfolio balances."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import pydantic_core
from fastapi import APIRouter, Query, Response

from api import tabular_layouts as layouts
from api.deps import MinPositionDep, PrincipalDep, ReceivablesPositionDep, ServicesDep
from api.fields import Day
from api.problems import BadPeriod
from api.report_schemas import (
    BooksBalanced,
    CashDay,
    CashPostingReport,
    PaymentBehaviourPublic,
    PaymentBehaviourReport,
    PortfolioBalances,
)
from api.routes import debtor_days as debtor_days_routes
from api.routes.report_params import Currency, KnownAt, money_model, ratio
from api.routes.shaping import today
from api.schemas import MoneyModel
from api.schemas_aged import AgedDebtDetail
from api.tabular import JSON, RESPONSES, XLSX, FormatDep, reply, respond
from infra.commits import known_position_or_none as known
from ledger.money import check_currency
from projections import ageing, behaviour, cash_posting, queries, trial_balance
from projections.ageing import Aged

router = APIRouter(prefix="/v1/reports", tags=["reports"])
ACCOUNTS_LISTED_MAX = 1_000_000
ListedLimit = Annotated[
    int | None,
    Query(ge=1, le=ACCOUNTS_LISTED_MAX, description="list at most this many accounts"),
]
_m = money_model


def aged_buckets(aged: Aged, currency: str) -> dict[str, MoneyModel]:
    return {
        **{name: _m(amount, currency) for name, amount in aged.buckets.items()},
        "total": _m(aged.total, currency),
    }


Detail = Annotated[
    Literal["account", "invoice"],
    Query(
        description="invoice: also each owing invoice (`invoices`), and the CSV is one row "
        "an invoice; the XLSX always has a By invoice sheet"
    ),
]


def invoice_json(inv: ageing.AgedInvoice, currency: str) -> dict[str, Any]:
    """One invoice of the aged debt as the JSON reply has it (``AgedInvoiceRow``)."""
    return {
        "account_id": str(inv.account_id),
        "name": inv.name,
        "invoice_id": str(inv.invoice_id),
        "number": inv.number,
        "issued_on": inv.issued_on.isoformat(),
        "due_on": inv.due_on.isoformat(),
        "days_overdue": inv.days_overdue,
        "bucket": inv.bucket,
        "outstanding": {"amount": inv.outstanding, "currency": currency},
    }


def _aged_json(aged: Aged, currency: str) -> dict[str, Any]:
    """An ageing's buckets and total as the reply has them (``AgedBuckets``)."""
    money = {
        name: {"amount": amount, "currency": currency} for name, amount in aged.buckets.items()
    }
    return {**money, "total": {"amount": aged.total, "currency": currency}}


@router.get("/aged-debt", response_model=AgedDebtDetail, responses=RESPONSES)
def aged_debt(
    svc: ServicesDep,
    _: PrincipalDep,
    position: ReceivablesPositionDep,
    fmt: FormatDep,
    currency: Currency,
    as_of: Annotated[Day | None, Query(description="the day (default today, UTC)")] = None,
    as_known_at: KnownAt = None,
    account_id: UUID | None = None,
    limit: ListedLimit = None,
    detail: Detail = "account",
) -> Response:
    """What was owed at the end of ``as_of``, by days past due, per account and in total.
    A past date's report does not change as later events arrive; ``as_known_at`` also
    leaves out what was recorded after that moment (a backdated payment, say). ``limit``
    lists only the largest accounts; the totals count every one (``accounts_count``).
    With ``detail=invoice`` (and in the XLSX), every figure is added up from the
    invoices' rows, read in one query.

    The reply (``AgedDebtDetail``) is written from plain rows: a portfolio lists every
    owing account, and building a model of each of them cost more than the query."""
    cur = check_currency(currency)
    on = as_of or today()
    per_invoice = detail == "invoice" or fmt == XLSX
    invoices: list[ageing.AgedInvoice] = []
    with svc.pool.connection() as conn:
        if per_invoice:
            invoices = ageing.aged_invoices(conn, cur, on, known(conn, as_known_at), account_id)
            total, accounts = ageing.by_account(invoices)
        else:
            total, accounts = ageing.aged_debt(conn, cur, on, known(conn, as_known_at), account_id)
    listed = accounts[:limit]
    body: dict[str, Any] = {
        **_aged_json(total, cur),
        "currency": cur,
        "as_of": on,
        "as_known_at": as_known_at,
        "accounts": [
            {**_aged_json(a.aged, cur), "account_id": a.account_id, "name": a.name} for a in listed
        ],
        "accounts_count": len(accounts),
        "position": position,
        "invoices": None,
    }
    rows = (invoice_json(i, cur) for i in ageing.listed_invoices(invoices, listed))
    if fmt == JSON:
        if per_invoice:
            body["invoices"] = list(rows)
        return Response(pydantic_core.to_json(body), media_type="application/json")
    body = pydantic_core.to_jsonable_python(body)
    body["invoices"] = rows if per_invoice else None  # read once, as the file is written
    return respond(fmt, layouts.aged_debt(body))


debtor_days_routes.add_routes(router)


@router.get("/cash-posting", response_model=CashPostingReport, responses=RESPONSES)
def cash_posting_report(
    svc: ServicesDep,
    _: PrincipalDep,
    position: ReceivablesPositionDep,
    fmt: FormatDep,
    currency: Currency,
    on: Annotated[
        Day | None, Query(alias="date", description="a day in the period (default today)")
    ] = None,
    period: Annotated[str, Query(description="day, week (Monday to Sunday) or month")] = "day",
    as_known_at: KnownAt = None,
) -> CashPostingReport | Response:
    """Cash received by method, applied and unallocated, day by day, and the books
    balanced for the period."""
    cur = check_currency(currency)
    if period not in cash_posting.PERIODS:
        raise BadPeriod(f"period must be one of {', '.join(cash_posting.PERIODS)}; got {period!r}")
    start, end = cash_posting.period_bounds(period, on or today())
    with svc.pool.connection() as conn:
        days, roll = cash_posting.cash_posting(conn, cur, start, end, known(conn, as_known_at))
    by_method: dict[str, int] = {}
    for day in days:
        for method, amount in day.received_by_method.items():
            by_method[method] = by_method.get(method, 0) + amount
    report = CashPostingReport(
        currency=cur,
        period=period,
        period_start=start,
        period_end=end,
        as_known_at=as_known_at,
        received=_m(sum(d.received for d in days), cur),
        received_by_method={k: _m(v, cur) for k, v in sorted(by_method.items())},
        applied=_m(sum(d.applied for d in days), cur),
        unallocated=_m(sum(d.unallocated for d in days), cur),
        days=[
            CashDay(
                date=d.on,
                received=_m(d.received, cur),
                received_by_method={k: _m(v, cur) for k, v in sorted(d.received_by_method.items())},
                deposits_received=_m(d.deposits_received, cur),
                paid_out={k: _m(v, cur) for k, v in sorted(d.cash_out.items())},
                applied=_m(d.applied, cur),
                unallocated=_m(d.unallocated, cur),
            )
            for d in days
        ],
        books=BooksBalanced(
            opening_receivables=_m(roll.opening, cur),
            invoiced=_m(roll.invoiced, cur),
            cash_applied=_m(roll.cash_applied, cur),
            credits=_m(roll.credits, cur),
            write_offs=_m(roll.write_offs, cur),
            closing_receivables=_m(roll.closing, cur),
            difference=_m(roll.difference, cur),
            balanced=roll.difference == 0,
        ),
        position=position,
    )
    return reply(fmt, report, layouts.cash_posting)


def behaviour_public(b: behaviour.Behaviour) -> PaymentBehaviourPublic:
    return PaymentBehaviourPublic(
        account_id=b.account_id,
        name=b.name,
        settled_invoices=b.settled_invoices,
        late_invoices=b.late_invoices,
        average_days_late=ratio(b.average_days_late),
        previous_average_days_late=ratio(b.previous_average_days_late),
        trend=b.trend,
        routinely_late=b.routinely_late,
    )


@router.get("/payment-behaviour", response_model=PaymentBehaviourReport, responses=RESPONSES)
def payment_behaviour(
    svc: ServicesDep,
    _: PrincipalDep,
    position: ReceivablesPositionDep,
    fmt: FormatDep,
    currency: Currency,
    routinely_late: Annotated[
        bool, Query(description="only the accounts flagged as routinely late")
    ] = False,
) -> PaymentBehaviourReport | Response:
    """How late each account pays its recent invoices, the trend, and who is routinely
    late (for escalation), latest first by average days late."""
    cur = check_currency(currency)
    with svc.pool.connection() as conn:
        found = behaviour.behaviours(conn, cur)
    if routinely_late:
        found = [b for b in found if b.routinely_late]
    found.sort(key=lambda b: (-(b.average_days_late or 0), b.name, str(b.account_id)))
    report = PaymentBehaviourReport(
        currency=cur, accounts=[behaviour_public(b) for b in found], position=position
    )
    return reply(fmt, report, layouts.payment_behaviour)


@router.get("/balances", response_model=PortfolioBalances, responses=RESPONSES)
def portfolio_balances(
    svc: ServicesDep,
    _: PrincipalDep,
    position: MinPositionDep,
    fmt: FormatDep,
    currency: Currency,
    as_of: Annotated[Day | None, Query(description="overdue is counted at this date")] = None,
) -> PortfolioBalances | Response:
    """Every account of the currency added up: the balance fields, for the portfolio."""
    cur = check_currency(currency)
    on = as_of or today()
    with svc.pool.connection() as conn:
        row = queries.portfolio(conn, cur, on)
    outstanding = queries.outstanding_minor(row)
    report = PortfolioBalances(
        currency=cur,
        accounts=int(row["accounts"]),
        invoiced=_m(int(row["invoiced_minor"]), cur),
        paid=_m(int(row["paid_minor"]), cur),
        allocated=_m(int(row["allocated_minor"]), cur),
        unallocated=_m(int(row["paid_minor"] - row["allocated_minor"]), cur),
        credited=_m(int(row["credited_minor"]), cur),
        written_off=_m(int(row["written_off_minor"]), cur),
        outstanding=_m(int(outstanding), cur),
        overdue=_m(int(row["overdue_minor"]), cur),
        as_of=on,
        position=position,
    )
    return reply(fmt, report, layouts.portfolio_balances)


def _listed(
    lines: list[trial_balance.Line], order: str, limit: int | None
) -> list[trial_balance.Line]:
    """The lines to list: by name as they come, or the largest balance first."""
    if order == "balance":
        lines = sorted(lines, key=lambda line: (-line.balance, line.name, str(line.account_id)))
    return lines[:limit]


@router.get("/trial-balance", response_model=dict[str, Any], responses=RESPONSES)
def trial_balance_report(
    svc: ServicesDep,
    _: PrincipalDep,
    position: ReceivablesPositionDep,
    fmt: FormatDep,
    currency: Currency,
    as_of: Annotated[Day | None, Query(description="the day (default today, UTC)")] = None,
    as_known_at: KnownAt = None,
    order: Annotated[
        Literal["name", "balance"],
        Query(description="accounts by name, or the largest balance first"),
    ] = "name",
    limit: ListedLimit = None,
) -> dict[str, Any] | Response:
    """The receivables sub-ledger trial balance at the end of ``as_of``: debits and
    credits per account and for the control account; ``reconciled`` when the control
    balance equals the sum of the account balances and the aged-debt total. The totals
    always count every account, whatever ``limit`` lists (``accounts_count`` says how
    many there are)."""
    cur = check_currency(currency)
    on = as_of or today()
    with svc.pool.connection() as conn:
        tb = trial_balance.trial_balance(conn, cur, on, known(conn, as_known_at))

    def money(line: trial_balance.Line) -> dict[str, Any]:
        return {
            k: (_m(v, cur).model_dump() if isinstance(v, int) else v)
            for k, v in line.to_json().items()
        }

    report = {
        "currency": cur,
        "as_of": on.isoformat(),
        "as_known_at": as_known_at.isoformat() if as_known_at else None,
        "accounts": [money(line) for line in _listed(tb.lines, order, limit)],
        "accounts_count": len(tb.lines),
        "control": money(tb.control),
        "accounts_total": _m(tb.accounts_total, cur).model_dump(),
        "aged_debt_total": _m(tb.aged_total, cur).model_dump(),
        "reconciled": tb.reconciled,
        "position": position,
    }
    return reply(fmt, report, layouts.trial_balance)
