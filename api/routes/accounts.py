"""Accounts: open one, read it, its balance and its event history."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api import tabular_lists
from api.command_schemas import (
    AccountCreate,
    AccountUpdate,
    ContactCreate,
    DoubtfulDebtFlag,
    EscalationCreate,
    InsolvencyCaseCreate,
    PaymentMethodSetUp,
    ReferralCreate,
    StandingChange,
)
from api.deps import CommandDep, MinPositionDep, PrincipalDep, ServicesDep
from api.fields import Day, Moment
from api.routes.shaping import account_public, refuse_if_held, today
from api.schemas import AccountPublic, BalancePublic, EventPage, MoneyModel
from api.tabular import RESPONSES, FormatDep, reply
from infra.commits import known_position_or_none as known
from ledger.commands import (
    ChangeStanding,
    Escalate,
    FlagDoubtfulDebt,
    LogContact,
    OpenAccount,
    OpenInsolvencyCase,
    ReferForCollection,
    SetUpPaymentMethod,
    UpdateAccount,
)
from ledger.errors import UnknownAccount
from ledger.limits import POSITION_MAX
from ledger.money import Money
from ledger.store import Saved
from projections import queries
from projections.balances import NAME as BALANCES

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

EVENTS_PAGE_MAX = 1_000


@router.post("", status_code=201, response_model=AccountPublic)
def open_account(body: AccountCreate, svc: ServicesDep, ctx: CommandDep) -> JSONResponse:
    """Open a debtor account in one currency, with the coordinator who looks after it
    when one is named (recorded as the import records it: its details updated in the
    same save)."""

    return ctx.save(
        body,
        lambda: svc.ledger.open_account(
            OpenAccount(
                name=body.name,
                currency=body.currency,
                payment_terms_days=body.payment_terms_days,
                email=body.email,
                external_ref=body.external_ref,
                credit_limit=body.credit_limit.to_money() if body.credit_limit else None,
                coordinator=body.coordinator,
                stamp=ctx.stamp(),
                account_id=ctx.id_for("account"),
            )
        ),
        account_public,
        status=201,
    )


@router.patch("/{account_id}", response_model=AccountPublic)
def update_account(
    account_id: UUID, body: AccountUpdate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Change contact details, payment terms or the credit limit (Idempotency-Key too)."""

    return ctx.save(
        body,
        lambda: svc.ledger.update_account(
            UpdateAccount(
                account_id=account_id,
                stamp=ctx.stamp(),
                name=body.name,
                email=body.email,
                external_ref=body.external_ref,
                payment_terms_days=body.payment_terms_days,
                credit_limit=body.credit_limit.to_money() if body.credit_limit else None,
                coordinator=body.coordinator,
                clear=tuple(body.clear),
                reason=body.reason,
            )
        ),
        account_public,
    )


@router.post("/{account_id}/contacts", status_code=201, response_model=AccountPublic)
def log_contact(
    account_id: UUID, body: ContactCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Log a call, email, letter or meeting with the client and its outcome."""

    def command() -> Saved:
        stamp = ctx.stamp()
        if body.contacted_at is not None:
            stamp = replace(stamp, effective_at=body.contacted_at)
        return svc.ledger.log_contact(
            LogContact(
                account_id=account_id,
                channel=body.channel,
                direction=body.direction,
                outcome=body.outcome,
                notes=body.notes,
                contact_name=body.contact_name,
                stamp=stamp,
            )
        )

    return ctx.save(body, command, account_public, status=201)


@router.post("/{account_id}/standing", response_model=AccountPublic)
def change_standing(
    account_id: UUID, body: StandingChange, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Hold, recommend suspension, suspend, reinstate or terminate, with a reason."""
    return ctx.save(
        body,
        lambda: svc.ledger.change_standing(
            ChangeStanding(
                account_id=account_id, action=body.action, reason=body.reason, stamp=ctx.stamp()
            )
        ),
        account_public,
    )


@router.post("/{account_id}/escalations", response_model=AccountPublic)
def escalate(
    account_id: UUID, body: EscalationCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Hand the account to a named manager."""
    return ctx.save(
        body,
        lambda: svc.ledger.escalate(
            Escalate(
                account_id=account_id, manager=body.manager, reason=body.reason, stamp=ctx.stamp()
            )
        ),
        account_public,
    )


@router.post("/{account_id}/insolvency-cases", response_model=AccountPublic)
def open_insolvency_case(
    account_id: UUID, body: InsolvencyCaseCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Administration or insolvency: dunning stops; the debt is claimed in the case."""
    return ctx.save(
        body,
        lambda: svc.ledger.open_insolvency_case(
            OpenInsolvencyCase(
                account_id=account_id, kind=body.kind, reference=body.reference, stamp=ctx.stamp()
            )
        ),
        account_public,
    )


@router.post("/{account_id}/referrals", status_code=201, response_model=AccountPublic)
def refer_for_collection(
    account_id: UUID, body: ReferralCreate, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Refer the debt to enforcement or an outside agency with its collection value; the
    event records what the account owed at the time."""
    return ctx.save(
        body,
        lambda: svc.ledger.refer_for_collection(
            ReferForCollection(
                account_id=account_id,
                kind=body.kind,
                agency=body.agency,
                collection_value=body.collection_value.to_money(),
                reason=body.reason,
                stamp=ctx.stamp(),
            )
        ),
        account_public,
        status=201,
    )


@router.post("/{account_id}/payment-methods", status_code=201, response_model=AccountPublic)
def set_up_payment_method(
    account_id: UUID, body: PaymentMethodSetUp, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Record how the client pays from now on (a card kept, a direct-debit mandate)."""
    return ctx.save(
        body,
        lambda: svc.ledger.set_up_payment_method(
            SetUpPaymentMethod(
                account_id=account_id,
                method=body.method,
                reference=body.reference,
                stamp=ctx.stamp(),
            )
        ),
        account_public,
        status=201,
    )


@router.post("/{account_id}/doubtful-debt", status_code=201, response_model=AccountPublic)
def flag_doubtful_debt(
    account_id: UUID, body: DoubtfulDebtFlag, svc: ServicesDep, ctx: CommandDep
) -> JSONResponse:
    """Raise a concern that part of the debt may never be paid (never more than is owed)."""
    return ctx.save(
        body,
        lambda: svc.ledger.flag_doubtful_debt(
            FlagDoubtfulDebt(
                account_id=account_id,
                amount=body.amount.to_money(),
                reason=body.reason,
                stamp=ctx.stamp(),
            )
        ),
        account_public,
        status=201,
    )


@router.get("/{account_id}", response_model=AccountPublic)
def get_account(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    as_known_at: Annotated[
        Moment | None,
        Query(description="the account as the store knew it at this moment (UTC)"),
    ] = None,
) -> AccountPublic:
    """The account's details, from the event store: current, or as known at a moment.
    Its balance, invoices and ageing at any moment: ``/v1/accounts/{id}/replay``."""
    if as_known_at is not None:
        return account_public(svc.ledger.get_account_as_known_at(account_id, as_known_at))
    return account_public(svc.ledger.get_account(account_id))


@router.get("/{account_id}/balance", response_model=BalancePublic)
def get_balance(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    position: MinPositionDep,
    as_of: Annotated[
        Day | None,
        Query(description="every figure as of the end of this date, by effective time"),
    ] = None,
) -> BalancePublic:
    """What the account has been invoiced and paid, and what it still owes: now, or at
    the end of ``as_of`` by effective time, dated as the reports date them."""
    on = as_of or today()
    with svc.pool.connection() as conn:
        refuse_if_held(conn, BALANCES, account_id)
        if as_of is None:  # today's, from the running totals
            row = queries.balance(conn, account_id, on)
        else:  # every figure as of the date, by effective time
            row = queries.balance_as_of(conn, account_id, as_of)
    if row is None:
        raise UnknownAccount(
            f"no account {account_id} in the balances read model "
            "(pass min_position to wait for a new account)"
        )
    cur = row["currency"].strip()

    def m(amount: int) -> MoneyModel:
        return MoneyModel.of(Money(amount, cur))

    outstanding = queries.outstanding_minor(row)
    return BalancePublic(
        account_id=account_id,
        currency=cur,
        as_of=on,
        invoiced=m(row["invoiced_minor"]),
        paid=m(row["paid_minor"]),
        allocated=m(row["allocated_minor"]),
        unallocated=m(row["paid_minor"] - row["allocated_minor"]),
        credited=m(row["credited_minor"]),
        written_off=m(row["written_off_minor"]),
        refunded=m(row["refunded_minor"]),
        deposits_held=m(int(row["deposits_held_minor"])),
        outstanding=m(outstanding),
        overdue=m(int(row["overdue_minor"])),
        position=position,
    )


@router.get("/{account_id}/events", response_model=EventPage, responses=RESPONSES)
def get_events(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    position: MinPositionDep,
    fmt: FormatDep,
    as_of: Annotated[
        Moment | None,
        Query(description="only events committed by this time (UTC, ISO 8601), in commit order"),
    ] = None,
    after: Annotated[
        int, Query(ge=0, le=POSITION_MAX, description="a page cursor: `next_after`")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=EVENTS_PAGE_MAX)] = 200,
) -> EventPage | Response:
    """The account's events in store order, as CloudEvents."""
    svc.ledger.get_account(account_id)  # 404 for an unknown account, not an empty page
    with svc.pool.connection() as conn:
        events = queries.account_events(conn, account_id, known(conn, as_of), after, limit)
    next_after = events[-1]["position"] if len(events) == limit else None
    page = EventPage(account_id=account_id, events=events, next_after=next_after, position=position)
    return reply(fmt, page, tabular_lists.account_events)
