"""An account replayed from the event store to any moment, and why any event happened."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import AuditPositionDep, PrincipalDep, ServicesDep
from api.fields import Day, Moment, Position
from api.problems import UnknownPosition
from api.replay_schemas import (
    AccountReplay,
    Person,
    ReplayedBalance,
    ReplayedInvoice,
    ReplayIntegrity,
    Why,
)
from api.report_schemas import AgedBuckets
from api.routes.audit import audit_entry
from api.routes.reports import aged_buckets
from api.routes.shaping import today
from api.schemas import MoneyModel
from infra.commits import known_position_or_none as known
from ledger.money import Money
from projections import why as why_model
from projections.ageing import bucket_for
from projections.replay.fold import AccountAsOf, fold
from projections.replay.history import read_history

router = APIRouter(tags=["audit"])


@router.get("/v1/accounts/{account_id}/replay", response_model=AccountReplay)
def replay_account(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    as_of: Annotated[
        Day | None, Query(description="business date: what had taken effect by its end")
    ] = None,
    as_known_at: Annotated[
        Moment | None,
        Query(
            description="only the events committed by this moment (UTC), in commit order: "
            "the ledger as it was"
        ),
    ] = None,
) -> AccountReplay:
    """The account's balance, invoices and ageing rebuilt from its events in the store,
    not from a read model, each stream's hash chain checked on the way. With
    ``as_known_at``, it equals what the read models said at that moment."""
    svc.ledger.get_account(account_id)  # 404 for an unknown account
    with svc.pool.connection() as conn:
        history = read_history(svc.ledger, conn, account_id, known(conn, as_known_at))
    state = fold(account_id, history.events, as_of or today())
    return _replay_body(state, as_known_at, history.streams, history.broken_links)


def _replay_body(
    state: AccountAsOf, as_known_at: datetime | None, streams: int, broken: list[int]
) -> AccountReplay:
    cur = state.currency

    def m(amount: int) -> MoneyModel:
        return MoneyModel.of(Money(amount, cur))

    invoices = [
        ReplayedInvoice(
            invoice_id=i.invoice_id,
            number=i.number,
            kind=i.kind,
            amount=m(i.amount),
            issued_on=i.issued_on,
            due_on=i.due_on,
            allocated=m(i.allocated),
            credited=m(i.credited),
            written_off=m(i.written_off),
            voided=m(i.voided),
            disputed=m(i.disputed),
            outstanding=m(i.outstanding),
            days_past_due=(state.as_of - i.due_on).days,
            bucket=bucket_for((state.as_of - i.due_on).days),
            status=i.status,
        )
        for i in sorted(state.invoices.values(), key=lambda i: (i.issued_on, i.number))
    ]
    return AccountReplay(
        account_id=state.account_id,
        name=state.name,
        currency=cur,
        standing=state.standing,
        as_of=state.as_of,
        as_known_at=as_known_at,
        position=state.position,
        events=state.events,
        balance=ReplayedBalance(
            invoiced=m(state.invoiced),
            paid=m(state.paid),
            allocated=m(state.allocated),
            unallocated=m(state.paid - state.allocated),
            credited=m(state.credited),
            written_off=m(state.written_off),
            refunded=m(state.refunded),
            deposits_held=m(state.deposits_held),
            outstanding=m(state.outstanding),
            overdue=m(state.overdue),
        ),
        ageing=AgedBuckets(**aged_buckets(state.aged, cur)),
        invoices=invoices,
        integrity=ReplayIntegrity(streams=streams, chains_intact=not broken, broken_links=broken),
    )


@router.get("/v1/events/{position}/why", response_model=Why)
def why(position: Position, svc: ServicesDep, _: PrincipalDep, head: AuditPositionDep) -> Why:
    """Why the event at ``position`` happened: the events it rested on (the invoices,
    payments and write-offs it names, their history before it; for a notice or a change
    of standing, the account's collection history too), what the same command also
    did, and who did each. Positions are those of the audit trail."""
    with svc.pool.connection() as conn:
        found = why_model.why(conn, position)
    if found is None:
        raise UnknownPosition(f"no event at position {position} in the audit read model")
    return Why(
        event=audit_entry(found.event),
        people=[Person(**person) for person in found.people()],
        same_command=[audit_entry(r) for r in found.same_command],
        rested_on={s: [audit_entry(r) for r in rows] for s, rows in found.rested_on.items()},
        collection_history=[audit_entry(r) for r in found.collection_history],
        position=head,
    )
