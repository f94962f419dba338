"""The audit trail: every event with who, why, when it took effect, when it was recorded,
and what the account owed after it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import AuditPositionDep, PrincipalDep, ServicesDep
from api.report_schemas import AuditEntry, AuditTrail
from api.schemas import MoneyModel
from ledger.money import Money
from projections import audit

router = APIRouter(tags=["audit"])
PAGE_MAX = 1000


def _trail(
    svc: ServicesDep,
    position: int,
    account_id: UUID | None,
    actor: str | None,
    event_type: str | None,
    recorded_from: datetime | None,
    recorded_to: datetime | None,
    effective_from: datetime | None,
    effective_to: datetime | None,
    after: int,
    limit: int,
) -> AuditTrail:
    with svc.pool.connection() as conn:
        rows = audit.trail(
            conn,
            account_id=account_id,
            actor=actor,
            event_type=event_type,
            recorded_from=recorded_from,
            recorded_to=recorded_to,
            effective_from=effective_from,
            effective_to=effective_to,
            after=after,
            limit=limit,
        )
    entries = [
        AuditEntry(
            position=r["position"],
            account_id=r["account_id"],
            type=r["type"],
            subject=r["subject"],
            actor=r["actor"],
            reason=r["reason"],
            effective_at=r["effective_at"],
            recorded_at=r["recorded_at"],
            outstanding_after=MoneyModel.of(
                Money(r["outstanding_after_minor"], r["currency"].strip())
            ),
            correlation_id=r["correlation_id"],
            causation_id=r["causation_id"],
            data=r["data"],
        )
        for r in rows
    ]
    next_after = entries[-1].position if len(entries) == limit else None
    return AuditTrail(entries=entries, next_after=next_after, position=position)


Actor = Annotated[str | None, Query(description="only what this actor did")]
EventType = Annotated[
    str | None,
    Query(alias="type", description="an event type, or a prefix ending in * (arledger.payment.*)"),
]
Time = Annotated[datetime | None, Query(description="UTC, ISO 8601, inclusive")]
After = Annotated[int, Query(ge=0, description="a page cursor: `next_after`")]
Limit = Annotated[int, Query(ge=1, le=PAGE_MAX)]


@router.get("/v1/audit-trail", response_model=AuditTrail)
def ledger_trail(
    svc: ServicesDep,
    _: PrincipalDep,
    position: AuditPositionDep,
    account_id: UUID | None = None,
    actor: Actor = None,
    event_type: EventType = None,
    recorded_from: Time = None,
    recorded_to: Time = None,
    effective_from: Time = None,
    effective_to: Time = None,
    after: After = 0,
    limit: Limit = 200,
) -> AuditTrail:
    """Every event across the ledger, in store order, filterable and paged."""
    return _trail(
        svc,
        position,
        account_id,
        actor,
        event_type,
        recorded_from,
        recorded_to,
        effective_from,
        effective_to,
        after,
        limit,
    )


@router.get("/v1/accounts/{account_id}/audit-trail", response_model=AuditTrail)
def account_trail(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    position: AuditPositionDep,
    actor: Actor = None,
    event_type: EventType = None,
    recorded_from: Time = None,
    recorded_to: Time = None,
    effective_from: Time = None,
    effective_to: Time = None,
    after: After = 0,
    limit: Limit = 200,
) -> AuditTrail:
    """One account's events with the balance after each."""
    svc.ledger.get_account(account_id)  # 404 for an unknown account, not an empty page
    return _trail(
        svc,
        position,
        account_id,
        actor,
        event_type,
        recorded_from,
        recorded_to,
        effective_from,
        effective_to,
        after,
        limit,
    )
