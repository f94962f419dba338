"""Reports for managers, payment operations and auditors: aged debt, debtor days, cash
posting, payment behaviour and portfolio balances."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api import tabular_layouts as layouts
from api.deps import MinPositionDep, PrincipalDep, ReceivablesPositionDep, ServicesDep
from api.fields import Day, Moment
from api.report_schemas import (
    AgedAccount,
    AgedDebtReport,
    BooksBalanced,
    CashDay,
    CashPostingReport,
    DebtorDaysAccount,
    DebtorDaysFigures,
    DebtorDaysReport,
    PaymentBehaviourPublic,
    PaymentBehaviourReport,
    PortfolioBalances,
)
from api.routes.shaping import today
from api.schemas import MoneyModel
from api.tabular import RESPONSES, FormatDep, reply
from ledger.errors import InvalidRequest
from ledger.money import Money, check_currency
from projections import ageing, behaviour, cash_posting, debtor_days, queries, trial_balance
from projections.ageing import Aged
from projections.commits import known_position_or_none as known

router = APIRouter(prefix="/v1/reports", tags=["reports"])

Currency = Annotated[str, Query(description="ISO 4217 code: one currency per report")]
KnownAt = Annotated[
    Moment | None,
    Query(
        description="the report as the ledger stood at this moment (UTC): the events "
        "committed by then, in commit order"
    ),
]


class BadPeriod(InvalidRequest):
    code = "bad-period"
    title = "The period asked for is not valid"


def _m(amount: int, currency: str) -> MoneyModel:
    return MoneyModel.of(Money(amount, currency))


def aged_buckets(aged: Aged, currency: str) -> dict[str, MoneyModel]:
    return {
        **{name: _m(amount, currency) for name, amount in aged.buckets.items()},
        "total": _m(aged.total, currency),
    }


@router.get("/aged-debt", response_model=AgedDebtReport, responses=RESPONSES)
def aged_debt(
    svc: ServicesDep,
    _: PrincipalDep,
    position: ReceivablesPositionDep,
    fmt: FormatDep,
    currency: Currency,
    as_of: Annotated[Day | None, Query(description="the day (default today, UTC)")] = None,
    as_known_at: KnownAt = None,
    account_id: UUID | None = None,
) -> AgedDebtReport | Response:
    """What was owed at the end of ``as_of``, by days past due, per account and in total.
    A past date's report does not change as later events arrive; ``as_known_at`` also
    leaves out what was recorded after that moment (a backdated payment, say)."""
    cur = check_currency(currency)
    on = as_of or today()
    with svc.pool.connection() as conn:
        total, accounts = ageing.aged_debt(conn, cur, on, known(conn, as_known_at), account_id)
    rows = [
        AgedAccount(account_id=a.account_id, name=a.name, **aged_buckets(a.aged, cur))
        for a in accounts
    ]
    report = AgedDebtReport(
        currency=cur,
        as_of=on,
        as_known_at=as_known_at,
        accounts=rows,
        position=position,
        **aged_buckets(total, cur),
    )
    return reply(fmt, report, layouts.aged_debt)


def _ratio(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _debtor_days_body(start: date, end: date, f: debtor_days.Figures, cur: str) -> dict[str, Any]:
    dd = debtor_days.debtor_days(start, end, f)
    return {
        "dso_standard": _ratio(dd.dso_standard),
        "dso_countback": _ratio(dd.dso_countback),
        "best_possible_dso": _ratio(dd.best_possible_dso),
        "average_days_delinquent": _ratio(dd.average_days_delinquent),
        "collection_effectiveness_index": _ratio(dd.collection_effectiveness_index),
        "average_days_to_pay": _ratio(dd.average_days_to_pay),
        "figures": DebtorDaysFigures(
            opening_receivables=_m(f.opening, cur),
            closing_receivables=_m(f.closing, cur),
            not_yet_due=_m(f.not_yet_due, cur),
            credit_sales=_m(f.sales, cur),
            cash_applied=_m(f.cash_applied, cur),
        ),
    }


@router.get("/debtor-days", response_model=DebtorDaysReport, responses=RESPONSES)
def debtor_days_report(
    svc: ServicesDep,
    _: PrincipalDep,
    position: ReceivablesPositionDep,
    fmt: FormatDep,
    currency: Currency,
    period_start: Day,
    period_end: Day,
    account_id: UUID | None = None,
    as_known_at: KnownAt = None,
    by_account: Annotated[bool, Query(description="also each account's own figures")] = False,
) -> DebtorDaysReport | Response:
    """Standard and countback DSO, best possible DSO, average days delinquent, the
    collection effectiveness index and average days to pay, for the portfolio or one
    account (definitions in the README)."""
    cur = check_currency(currency)
    if period_end < period_start:
        raise BadPeriod(f"period_end {period_end} is before period_start {period_start}")
    with svc.pool.connection() as conn:
        per_account = debtor_days.figures(
            conn, cur, period_start, period_end, known(conn, as_known_at), account_id
        )
    total = debtor_days.Figures()
    for f in per_account.values():
        total.add(f)
    accounts = None
    if by_account:
        accounts = [
            DebtorDaysAccount(account_id=a, **_debtor_days_body(period_start, period_end, f, cur))
            for a, f in sorted(per_account.items(), key=lambda kv: str(kv[0]))
        ]
    report = DebtorDaysReport(
        currency=cur,
        period_start=period_start,
        period_end=period_end,
        account_id=account_id,
        as_known_at=as_known_at,
        accounts=accounts,
        position=position,
        **_debtor_days_body(period_start, period_end, total, cur),
    )
    return reply(fmt, report, layouts.debtor_days)


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
        average_days_late=_ratio(b.average_days_late),
        previous_average_days_late=_ratio(b.previous_average_days_late),
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


@router.get("/trial-balance", response_model=dict[str, Any], responses=RESPONSES)
def trial_balance_report(
    svc: ServicesDep,
    _: PrincipalDep,
    position: ReceivablesPositionDep,
    fmt: FormatDep,
    currency: Currency,
    as_of: Annotated[Day | None, Query(description="the day (default today, UTC)")] = None,
    as_known_at: KnownAt = None,
) -> dict[str, Any] | Response:
    """The receivables sub-ledger trial balance at the end of ``as_of``: debits and
    credits per account and for the control account; ``reconciled`` when the control
    balance equals the sum of the account balances and the aged-debt total."""
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
        "accounts": [money(line) for line in tb.lines],
        "control": money(tb.control),
        "accounts_total": _m(tb.accounts_total, cur).model_dump(),
        "aged_debt_total": _m(tb.aged_total, cur).model_dump(),
        "reconciled": tb.reconciled,
        "position": position,
    }
    return reply(fmt, report, layouts.trial_balance)
