"""Rendering the desk's pages: the Jinja2 templates, and how money, days and moments
are shown (money in its currency's own decimals, with its code; ISO dates; UTC times)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from api.desk.sessions import DeskUser
from ledger.money import CURRENCY_EXPONENTS

TEMPLATES = Path(__file__).parent / "templates"
ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Each role's first screen after signing in.
HOME_BY_ROLE = {
    "coordinator": "/payments",
    "manager": "/approvals",
    "auditor": "/audit",
    "service": "/payments",
    "admin": "/payments",
}


def major(minor: int, currency: str) -> str:
    """``123456`` GBP as ``1,234.56``; JPY has no decimals, KWD three."""
    digits = CURRENCY_EXPONENTS.get(currency, 2)
    whole, part = divmod(abs(minor), 10**digits)
    text = f"{whole:,}" + (f".{part:0{digits}d}" if digits else "")
    return ("-" if minor < 0 else "") + text


def money(value: Any) -> str:
    """A Money object of the API (``{"amount": 123456, "currency": "GBP"}``) as text."""
    if not isinstance(value, dict) or "amount" not in value:
        return ""
    return f"{major(int(value['amount']), str(value['currency']))} {value['currency']}"


def plain_major(value: Any) -> str:
    """A Money object as a form field's value: major units, no thousands separator."""
    if not isinstance(value, dict) or "amount" not in value:
        return ""
    return major(int(value["amount"]), str(value["currency"])).replace(",", "")


def day(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()[:10]
    return str(value or "")[:10]


def moment(value: Any) -> str:
    """``2026-12-02T15:54:31.123+00:00`` as ``2026-12-02 15:54 UTC``."""
    text = str(value or "")
    return f"{text[:10]} {text[11:16]} UTC" if len(text) >= 16 else text


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def combine_limit(params: dict[str, Any], limit: int) -> dict[str, Any]:
    """A page's filters with a download's own row limit."""
    return {**{k: v for k, v in params.items() if v}, "limit": limit}


ENV.filters.update(
    money=money,
    major=plain_major,
    day=day,
    moment=moment,
    as_date=as_date,
    combine_limit=combine_limit,
)


def roles_by_route(app: Any) -> dict[tuple[str, str], frozenset[str]]:
    """Which roles the API lets call each (method, path template), read from its OpenAPI
    document's ``x-roles``: the table the API itself enforces, so the desk offers exactly
    what the server will accept."""
    table: dict[tuple[str, str], frozenset[str]] = {}
    for path, operations in app.openapi().get("paths", {}).items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "x-roles" in operation:
                table[(method.upper(), path)] = frozenset(operation["x-roles"])
    return table


def page(
    request: Request,
    user: DeskUser | None,
    template: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A whole page: ``template`` with the signed-in user, what their role may do and a
    fresh idempotency token for each form it renders."""
    table = request.app.state.desk_roles
    if table is None:
        table = request.app.state.desk_roles = roles_by_route(request.app)

    def can(method: str, path: str) -> bool:
        return user is not None and user.who.role in table.get((method, path), frozenset())

    html = ENV.get_template(template).render(
        request=request,
        user=user,
        can=can,
        token=lambda: uuid4().hex,
        path=request.url.path,
        home=HOME_BY_ROLE.get(user.who.role, "/payments") if user else "/signin",
        **context,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
