"""Debtor days: the report for a period, and its trend month by month (definitions in
docs and the README). Added to the reports' router by ``add_routes``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api import tabular_layouts as layouts
from api.deps import PrincipalDep, ReceivablesPositionDep, ServicesDep
from api.fields import Day
from api.problems import BadPeriod
from api.report_schemas import (
    DebtorDaysAccount,
    DebtorDaysFigures,
    DebtorDaysMonth,
    DebtorDaysReport,
    DebtorDaysTrend,
)
from api.routes.report_params import Currency, KnownAt, money_model, ratio
from api.tabular import RESPONSES, FormatDep, reply
from infra.commits import known_position_or_none as known
from ledger.money import check_currency
from projections import debtor_days


def _debtor_days_body(start: date, end: date, f: debtor_days.Figures, cur: str) -> dict[str, Any]:
    dd = debtor_days.debtor_days(start, end, f)
    return {
        "dso_standard": ratio(dd.dso_standard),
        "dso_countback": ratio(dd.dso_countback),
        "best_possible_dso": ratio(dd.best_possible_dso),
        "average_days_delinquent": ratio(dd.average_days_delinquent),
        "collection_effectiveness_index": ratio(dd.collection_effectiveness_index),
        "average_days_to_pay": ratio(dd.average_days_to_pay),
        "figures": DebtorDaysFigures(
            opening_receivables=money_model(f.opening, cur),
            closing_receivables=money_model(f.closing, cur),
            not_yet_due=money_model(f.not_yet_due, cur),
            credit_sales=money_model(f.sales, cur),
            cash_applied=money_model(f.cash_applied, cur),
        ),
    }


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
        position_then = known(conn, as_known_at)
        if by_account:
            per_account = debtor_days.figures(
                conn, cur, period_start, period_end, position_then, account_id
            )
        else:
            total = debtor_days.total_figures(
                conn, cur, period_start, period_end, position_then, account_id
            )
    accounts = None
    if by_account:
        total = debtor_days.Figures()
        for f in per_account.values():
            total.add(f)
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


TREND_MONTHS_MAX = 36


def debtor_days_trend(
    svc: ServicesDep,
    _: PrincipalDep,
    position: ReceivablesPositionDep,
    fmt: FormatDep,
    currency: Currency,
    period_end: Day,
    months: Annotated[
        int, Query(ge=1, le=TREND_MONTHS_MAX, description="how many calendar months")
    ] = 12,
    account_id: UUID | None = None,
    as_known_at: KnownAt = None,
) -> DebtorDaysTrend | Response:
    """Debtor days month by month: each of the ``months`` calendar months up to the one
    holding ``period_end`` (which ends at ``period_end``), with the same figures and
    ratios as `/debtor-days` for that month, worked out in one pass."""
    cur = check_currency(currency)
    spans = debtor_days.months_to(period_end, months)
    with svc.pool.connection() as conn:
        figures = debtor_days.trend(conn, cur, spans, known(conn, as_known_at), account_id)
    report = DebtorDaysTrend(
        currency=cur,
        period_end=period_end,
        account_id=account_id,
        as_known_at=as_known_at,
        position=position,
        months=[
            DebtorDaysMonth(
                month=start.isoformat()[:7],
                period_start=start,
                period_end=stop,
                **_debtor_days_body(start, stop, f, cur),
            )
            for (start, stop), f in zip(spans, figures, strict=True)
        ],
    )
    return reply(fmt, report, layouts.debtor_days_trend)


def add_routes(router: APIRouter) -> None:
    """Put these reports on ``router`` (the reports' own, under ``/v1/reports``), in
    place: as routes of its own, so each is documented with its roles like the rest."""
    router.add_api_route(
        "/debtor-days",
        debtor_days_report,
        methods=["GET"],
        response_model=DebtorDaysReport,
        responses=RESPONSES,
    )
    router.add_api_route(
        "/debtor-days/trend",
        debtor_days_trend,
        methods=["GET"],
        response_model=DebtorDaysTrend,
        responses=RESPONSES,
    )
