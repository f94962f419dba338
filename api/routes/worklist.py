"""What needs doing: the collections worklist and the payments feed."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api import tabular_lists
from api.deps import MinPositionDep, PrincipalDep, ServicesDep
from api.fields import Day
from api.report_schemas import FeedPayment, PaymentsFeed, Worklist, WorklistReason, WorklistRow
from api.routes.shaping import today
from api.schemas import MoneyModel, PaymentMethod
from api.tabular import RESPONSES, FormatDep, reply
from ledger.limits import POSITION_MAX
from ledger.money import Money, check_currency
from projections import worklist as work

router = APIRouter(tags=["collections"])
FEED_PAGE_MAX = 500


@router.get("/v1/worklist", response_model=Worklist, responses=RESPONSES)
def get_worklist(
    svc: ServicesDep,
    _: PrincipalDep,
    position: MinPositionDep,
    fmt: FormatDep,
    as_of: Annotated[Day | None, Query(description="the day (default today, UTC)")] = None,
    currency: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Worklist | Response:
    """The accounts to chase, most pressing first, each with why it is there. Accounts
    on hold, in insolvency, or owing only what is in dispute are left out."""
    on = as_of or today()
    cur = check_currency(currency) if currency is not None else None
    with svc.pool.connection() as conn:
        rows = work.worklist(conn, on, cur, limit)
    found = Worklist(
        as_of=on,
        rows=[
            WorklistRow(
                account_id=r.account_id,
                name=r.name,
                status=r.status,
                priority=r.priority,
                overdue=MoneyModel.of(Money(r.overdue, r.currency)),
                days_overdue=r.days_overdue,
                broken_promises=r.broken_promises,
                failed_payments_not_retried=r.failed_unretried,
                disputed=MoneyModel.of(Money(r.disputed, r.currency)),
                last_contact_at=r.last_contact_at,
                reasons=[WorklistReason(code=x.code, detail=x.detail) for x in r.reasons],
            )
            for r in rows
        ],
        position=position,
    )
    return reply(fmt, found, lambda body: tabular_lists.worklist(body, cur))


@router.get("/v1/payments", response_model=PaymentsFeed, tags=["payments"], responses=RESPONSES)
def payments_feed(
    svc: ServicesDep,
    _: PrincipalDep,
    position: MinPositionDep,
    fmt: FormatDep,
    status: Annotated[str | None, Query(description="pending, succeeded, failed, returned")] = None,
    account_id: UUID | None = None,
    method: Annotated[PaymentMethod | None, Query(description="card, bacs, ...")] = None,
    received_from: Annotated[Day | None, Query(description="received on or after")] = None,
    received_to: Annotated[Day | None, Query(description="received on or before")] = None,
    needs_action: Annotated[
        bool, Query(description="only payments to retry or to allocate")
    ] = False,
    before: Annotated[
        int | None, Query(ge=1, le=POSITION_MAX, description="a page cursor: `next_before`")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=FEED_PAGE_MAX)] = 100,
) -> PaymentsFeed | Response:
    """Incoming payments, newest first, successful and failed, each with what it still
    needs: `retry` for a failed payment not re-attempted, `allocate` for cash not yet
    applied to invoices."""
    with svc.pool.connection() as conn:
        rows = work.payments_feed(
            conn,
            status=status,
            account_id=account_id,
            needs_action=needs_action,
            before=before,
            limit=limit,
            method=method,
            received_from=received_from,
            received_to=received_to,
        )
    payments = []
    for r in rows:
        cur = r["currency"].strip()
        payments.append(
            FeedPayment(
                payment_id=r["payment_id"],
                account_id=r["account_id"],
                account_name=r["name"],
                amount=MoneyModel.of(Money(r["amount_minor"], cur)),
                method=r["method"],
                status=r["status"],
                purpose=r["purpose"],
                received_on=r["received_on"],
                reference=r["reference"],
                failure_code=r["failure_code"],
                failure_message=r["failure_message"],
                unallocated=MoneyModel.of(Money(int(r["unallocated_minor"]), cur)),
                action=r["action"],
                recorded_position=r["recorded_position"],
            )
        )
    next_before = payments[-1].recorded_position if len(payments) == limit else None
    feed = PaymentsFeed(payments=payments, next_before=next_before, position=position)
    asked: dict[str, Any] = {
        "status": status,
        "account_id": account_id,
        "method": method,
        "before": before,
    }
    asked |= {"received_from": received_from, "received_to": received_to}
    return reply(fmt, feed, lambda body: tabular_lists.payments_feed(body, asked))
