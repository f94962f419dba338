"""The audit trail: every event with who, why, when it took effect, when it was recorded,
and what the account owed after it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from api import tabular, tabular_lists
from api.deps import AuditPositionDep, PrincipalDep, ServicesDep
from api.fields import Moment
from api.report_schemas import AuditEntry, AuditTrail
from api.schemas import MoneyModel
from api.services import Services
from api.tabular import RESPONSES, FormatDep
from ledger.errors import InvalidRequest
from ledger.limits import POSITION_MAX
from ledger.money import Money
from projections import audit

router = APIRouter(tags=["audit"])
PAGE_MAX = 1000

Time = Annotated[Moment | None, Query(description="UTC, ISO 8601, inclusive")]


@dataclass
class TrailFilters:
    """The filters and the page of an audit-trail query."""

    actor: Annotated[str | None, Query(description="only what this actor did")] = None
    event_type: Annotated[
        str | None,
        Query(alias="type", description="a type, or a prefix ending in * (arledger.payment.*)"),
    ] = None
    recorded_from: Time = None
    recorded_to: Time = None
    effective_from: Time = None
    effective_to: Time = None
    after: Annotated[
        int, Query(ge=0, le=POSITION_MAX, description="a page cursor: `next_after`")
    ] = 0
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 200


Filters = Annotated[TrailFilters, Depends()]
Every = Annotated[
    bool,
    Query(
        alias="all",
        description="with format=csv or xlsx: every entry after `after`, read a page at a "
        "time and streamed, instead of one page of `limit`",
    ),
]


def audit_entry(r: dict[str, Any]) -> AuditEntry:
    """An audit read-model row as the API shows it."""
    return AuditEntry(
        position=r["position"],
        account_id=r["account_id"],
        type=r["type"],
        subject=r["subject"],
        actor=r["actor"],
        reason=r["reason"],
        effective_at=r["effective_at"],
        recorded_at=r["recorded_at"],
        outstanding_after=MoneyModel.of(Money(r["outstanding_after_minor"], r["currency"].strip())),
        correlation_id=r["correlation_id"],
        causation_id=r["causation_id"],
        data=r["data"],
    )


def _trail(svc: Services, position: int, account_id: UUID | None, f: TrailFilters) -> AuditTrail:
    with svc.pool.connection() as conn:
        rows = audit.trail(
            conn,
            account_id=account_id,
            actor=f.actor,
            event_type=f.event_type,
            recorded_from=f.recorded_from,
            recorded_to=f.recorded_to,
            effective_from=f.effective_from,
            effective_to=f.effective_to,
            after=f.after,
            limit=f.limit,
        )
    entries = [audit_entry(r) for r in rows]
    next_after = entries[-1].position if len(entries) == f.limit else None
    return AuditTrail(entries=entries, next_after=next_after, position=position)


def _every_entry(svc: Services, account_id: UUID | None, f: TrailFilters) -> Iterator[AuditEntry]:
    """Every entry the filters let through after ``f.after``, a full page at a time."""
    page = replace(f, limit=PAGE_MAX)
    while True:
        trail = _trail(svc, 0, account_id, page)
        yield from trail.entries
        if trail.next_after is None:
            return
        page = replace(page, after=trail.next_after)


def _answer(
    svc: Services, position: int, account_id: UUID | None, f: TrailFilters, fmt: str, every: bool
) -> AuditTrail | Response:
    """A page as JSON, CSV or XLSX; with ``all``, every page as one CSV or XLSX."""
    asked = {k: v for k, v in asdict(f).items() if k != "limit" or not every}
    params = [(k.replace("_", " ").capitalize(), v) for k, v in asked.items() if v]
    if not every:
        layout = tabular_lists.audit_page(params, account_id)
        return tabular.reply(fmt, _trail(svc, position, account_id, f), layout)
    if fmt == tabular.JSON:
        raise InvalidRequest("all=true is for format=csv or xlsx; JSON is paged by next_after")
    rows = (e.model_dump(mode="json") for e in _every_entry(svc, account_id, f))
    return tabular.respond(fmt, tabular_lists.audit_trail(rows, params, account_id))


@router.get("/v1/audit-trail", response_model=AuditTrail, responses=RESPONSES)
def ledger_trail(
    svc: ServicesDep,
    _: PrincipalDep,
    position: AuditPositionDep,
    filters: Filters,
    fmt: FormatDep,
    account_id: UUID | None = None,
    every: Every = False,
) -> AuditTrail | Response:
    """Every event across the ledger, in store order, filterable and paged."""
    return _answer(svc, position, account_id, filters, fmt, every)


@router.get("/v1/accounts/{account_id}/audit-trail", response_model=AuditTrail, responses=RESPONSES)
def account_trail(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    position: AuditPositionDep,
    filters: Filters,
    fmt: FormatDep,
    every: Every = False,
) -> AuditTrail | Response:
    """One account's events with what it owed after each."""
    svc.ledger.get_account(account_id)  # 404 for an unknown account, not an empty page
    return _answer(svc, position, account_id, filters, fmt, every)
