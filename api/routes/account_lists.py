"""Finding accounts, and an account's invoices: the lists the desk (and any client)
works from."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from api import tabular_lists
from api.deps import MinPositionDep, PrincipalDep, ServicesDep
from api.routes.arrangements import plan_public, promise_public
from api.routes.shaping import invoice_row_public, refuse_if_held
from api.schemas import InvoicePublic, MoneyModel, PaymentPlanPublic, PromisePublic
from api.tabular import RESPONSES, FormatDep, reply
from ledger.money import Money
from projections import account_lists
from projections.balances import NAME as BALANCES

router = APIRouter(tags=["accounts"])
LIST_MAX = 500


class AccountRow(BaseModel):
    id: UUID
    name: str
    currency: str
    status: str
    external_ref: str | None
    email: str | None
    outstanding: MoneyModel


class AccountList(BaseModel):
    accounts: list[AccountRow]
    position: int


class InvoiceList(BaseModel):
    invoices: list[InvoicePublic]
    position: int


@router.get("/v1/accounts", response_model=AccountList, responses=RESPONSES)
def find_accounts(
    svc: ServicesDep,
    _: PrincipalDep,
    position: MinPositionDep,
    fmt: FormatDep,
    q: Annotated[str | None, Query(max_length=200, description="part of a name or ref")] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = 50,
) -> AccountList | Response:
    """Accounts whose name or external reference contains `q` (all without it), by name."""
    with svc.pool.connection() as conn:
        rows = account_lists.accounts(conn, q or None, limit)
    found = AccountList(
        accounts=[
            AccountRow(
                id=r["account_id"],
                name=r["name"],
                currency=r["currency"].strip(),
                status=r["status"],
                external_ref=r["external_ref"],
                email=r["email"],
                outstanding=MoneyModel.of(
                    Money(int(r["outstanding_minor"]), r["currency"].strip())
                ),
            )
            for r in rows
        ],
        position=position,
    )
    return reply(fmt, found, tabular_lists.accounts)


@router.get("/v1/accounts/{account_id}/invoices", response_model=InvoiceList, responses=RESPONSES)
def account_invoices(
    account_id: UUID,
    svc: ServicesDep,
    _: PrincipalDep,
    position: MinPositionDep,
    fmt: FormatDep,
    open_only: Annotated[bool, Query(alias="open", description="only what still owes")] = False,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = 200,
) -> InvoiceList | Response:
    """The account's invoices, oldest due first, each with its status and outstanding."""
    svc.ledger.get_account(account_id)  # 404 for an unknown account, not an empty list
    with svc.pool.connection() as conn:
        refuse_if_held(conn, BALANCES, account_id)
        rows = account_lists.invoices(conn, account_id, open_only, limit)
    found = InvoiceList(invoices=[invoice_row_public(r) for r in rows], position=position)
    return reply(fmt, found, tabular_lists.invoices(account_id))


class ArrangementList(BaseModel):
    promises: list[PromisePublic]
    payment_plans: list[PaymentPlanPublic]
    position: int


@router.get(
    "/v1/accounts/{account_id}/arrangements", response_model=ArrangementList, responses=RESPONSES
)
def account_arrangements(
    account_id: UUID, svc: ServicesDep, _: PrincipalDep, position: MinPositionDep, fmt: FormatDep
) -> ArrangementList | Response:
    """The account's promises to pay and payment plans, each as the store has it now."""
    svc.ledger.get_account(account_id)
    with svc.pool.connection() as conn:
        found = account_lists.arrangements(conn, account_id)
    promises = [promise_public(svc.ledger.get_promise(i)) for i, k in found if k == "promise"]
    plans = [plan_public(svc.ledger.get_plan(i)) for i, k in found if k != "promise"]
    listed = ArrangementList(promises=promises, payment_plans=plans, position=position)
    return reply(fmt, listed, tabular_lists.arrangements(account_id))
