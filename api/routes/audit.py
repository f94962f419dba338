"""The audit trail: every event with who, why, when it took effect, when it was recorded,
and what the account owed after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from api.deps import AuditPositionDep, PrincipalDep, ServicesDep
from api.fields import Moment
from api.report_schemas import AuditEntry, AuditTrail
from api.schemas import MoneyModel
from api.services import Services
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


@router.get("/v1/audit-trail", response_model=AuditTrail)
def ledger_trail(
    svc: ServicesDep,
    _: PrincipalDep,
    position: AuditPositionDep,
    filters: Filters,
    account_id: UUID | None = None,
) -> AuditTrail:
    """Every event across the ledger, in store order, filterable and paged."""
    return _trail(svc, position, account_id, filters)


@router.get("/v1/accounts/{account_id}/audit-trail", response_model=AuditTrail)
def account_trail(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    position: AuditPositionDep,
    filters: Filters,
) -> AuditTrail:
    """One account's events with what it owed after each."""
    svc.ledger.get_account(account_id)  # 404 for an unknown account, not an empty page
    return _trail(svc, position, account_id, filters)
