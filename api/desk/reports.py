"""Reports: aged debt, debtor days with its trend, cash posting, payment behaviour and
the trial balance, each at its own URL so it can be bookmarked, each read from the
``/v1/reports`` API for the signed-in user. Charts are SVG drawn here."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.desk import charts
from api.desk.common import InnerDep, UserDep, unavailable
from api.desk.inner import Answer, Inner
from api.desk.render import major, page
from api.desk.sessions import DeskUser

router = APIRouter(include_in_schema=False)
CURRENCY_DEFAULT = "GBP"
CURRENCIES = ("GBP", "EUR", "USD", "CHF", "JPY", "KWD")
TABS = (
    ("/reports/aged-debt", "Aged debt"),
    ("/reports/debtor-days", "Debtor days"),
    ("/reports/cash-posting", "Cash posting"),
    ("/reports/payment-behaviour", "Payment behaviour"),
    ("/reports/trial-balance", "Trial balance"),
)
BUCKETS = (
    ("current", "Not yet due"),
    ("days_1_30", "1-30 days"),
    ("days_31_60", "31-60 days"),
    ("days_61_90", "61-90 days"),
    ("days_91_plus", "91+ days"),
)
PERIODS = ("day", "week", "month")
# A report's per-account table shows its first rows; the download holds every one.
ROWS_SHOWN = 200
TREND_MONTHS = 12


def figure(value: Any) -> str:
    """A Money object in a table whose header names the currency: ``1,234.56``."""
    if not isinstance(value, dict) or "amount" not in value:
        return ""
    return major(int(value["amount"]), str(value["currency"]))


def ratio(value: Any, unit: str = "") -> str:
    """A ratio of the API (days, a percentage) to two decimals; a dash when there is none."""
    return "—" if value is None else f"{float(value):,.2f}{unit}"


def _params(request: Request, *names: str) -> dict[str, str]:
    """The report's parameters as typed (kept in the form), the currency upper-cased."""
    query = request.query_params
    found = {n: (query.get(n) or "").strip() for n in names}
    found["currency"] = (query.get("currency") or CURRENCY_DEFAULT).strip().upper()
    return found


async def _show(
    request: Request,
    user: DeskUser,
    template: str,
    answer: Answer,
    params: dict[str, str],
    **extra: Any,
) -> Response:
    """The report's page; a refused parameter is shown next to the form that sent it."""
    context: dict[str, Any] = dict(
        params=params,
        tabs=TABS,
        currencies=CURRENCIES,
        figure=figure,
        ratio=ratio,
        rows_shown=ROWS_SHOWN,
    )
    if answer.status in (400, 422):
        return page(request, user, template, 422, report=None, problem=answer.problem, **context)
    if not answer.ok:
        return unavailable(request, user, answer)
    return page(request, user, template, report=answer.json(), problem=None, **context, **extra)


@router.get("/reports")
@router.get("/reports/aged-debt")
async def aged_debt(request: Request, user: UserDep, api: InnerDep) -> Response:
    params = _params(request, "as_of", "as_known_at")
    answer = await api.get(
        "/v1/reports/aged-debt",
        **params,
        min_position=request.query_params.get("min_position"),
        limit=str(ROWS_SHOWN),
    )
    chart = _aged_chart(answer.json()) if answer.ok else None
    return await _show(
        request, user, "reports_aged.html", answer, params, buckets=BUCKETS, chart=chart
    )


def _aged_chart(report: dict[str, Any]) -> Any:
    items = [
        charts.Bar(label, report[key]["amount"], figure(report[key])) for key, label in BUCKETS
    ]
    title = f"Aged debt in {report['currency']} at {report['as_of']}, by days past due"
    return charts.bars(title, items)


@router.get("/reports/debtor-days")
async def debtor_days(request: Request, user: UserDep, api: InnerDep) -> Response:
    """The period's figures at once; the 12-month trend (12 reports) is its own URL,
    which the page includes by script and links to without it."""
    params = _debtor_days_params(request)
    answer = await api.get("/v1/reports/debtor-days", **params)
    trend_url = "/reports/debtor-days/trend?" + urlencode({k: v for k, v in params.items() if v})
    return await _show(
        request, user, "reports_debtor_days.html", answer, params, trend_url=trend_url
    )


@router.get("/reports/debtor-days/trend")
async def debtor_days_trend(request: Request, user: UserDep, api: InnerDep) -> Response:
    """Debtor days month by month, the last 12 months to the period's end."""
    params = _debtor_days_params(request)
    end = date.fromisoformat(params["period_end"]) if _is_day(params["period_end"]) else None
    if end is None:
        problem = {"title": "Not a date", "detail": "period_end must be a date: 2026-06-30"}
        return page(request, user, "problem.html", 422, problem=problem)
    answer = await _trend(api, params)
    if answer.status in (400, 422):
        return page(request, user, "problem.html", 422, problem=answer.problem)
    if not answer.ok:
        return unavailable(request, user, answer)
    trend = answer.json()["months"]
    return page(
        request, user, "reports_debtor_days_trend.html", params=params, trend=trend,
        chart=_trend_chart(trend, params["period_end"]), ratio=ratio,
        trend_params={k: params[k] for k in ("currency", "period_end", "as_known_at")}
        | {"months": TREND_MONTHS},
    )  # fmt: skip


def _debtor_days_params(request: Request) -> dict[str, str]:
    params = _params(request, "period_start", "period_end", "as_known_at")
    today = datetime.now(UTC).date()
    params["period_start"] = params["period_start"] or today.replace(day=1).isoformat()
    params["period_end"] = params["period_end"] or today.isoformat()
    return params


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _trend_chart(trend: list[dict[str, Any]], end: str) -> Any:
    return charts.lines(
        f"Debtor days by month, the {TREND_MONTHS} months to {end}",
        [t["month"] for t in trend],
        [
            charts.Series("Standard DSO", [t["dso_standard"] for t in trend]),
            charts.Series("Countback DSO", [t["dso_countback"] for t in trend]),
            charts.Series("Best possible DSO", [t["best_possible_dso"] for t in trend]),
        ],
        " d",
    )


async def _trend(api: Inner, params: dict[str, str]) -> Answer:
    """The trend in one call: the API works the months out in one pass."""
    return await api.get(
        "/v1/reports/debtor-days/trend",
        currency=params["currency"],
        period_end=params["period_end"],
        months=str(TREND_MONTHS),
        as_known_at=params["as_known_at"],
    )


@router.get("/reports/cash-posting")
async def cash_posting(request: Request, user: UserDep, api: InnerDep) -> Response:
    params = _params(request, "date", "period", "as_known_at")
    params["period"] = params["period"] or "day"
    answer = await api.get("/v1/reports/cash-posting", **params)
    return await _show(request, user, "reports_cash.html", answer, params, periods=PERIODS)


@router.get("/reports/payment-behaviour")
async def payment_behaviour(request: Request, user: UserDep, api: InnerDep) -> Response:
    params = _params(request, "routinely_late")
    late = "true" if params["routinely_late"] else None
    answer = await api.get(
        "/v1/reports/payment-behaviour", currency=params["currency"], routinely_late=late
    )
    return await _show(request, user, "reports_behaviour.html", answer, params)


@router.get("/reports/trial-balance")
async def trial_balance(request: Request, user: UserDep, api: InnerDep) -> Response:
    params = _params(request, "as_of", "as_known_at")
    answer = await api.get(
        "/v1/reports/trial-balance", **params, order="balance", limit=str(ROWS_SHOWN)
    )
    return await _show(request, user, "reports_trial.html", answer, params)
