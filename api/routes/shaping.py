"""Turning aggregates and read-model rows into reply bodies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from api.problems import ApiProblem
from api.schemas import AccountPublic, InvoicePublic, MoneyModel, PaymentPublic
from contract.catalog import to_json
from ledger.account import Account
from ledger.invoice import Invoice, invoice_status
from ledger.money import Money
from ledger.payment import Payment
from projections import held


def today() -> date:
    return datetime.now(UTC).date()


def refuse_if_held(conn: Connection[Any], projection: str, account_id: UUID | str) -> None:
    """A read model that holds the account back (``projections.held``) would answer with
    figures from before an event it could not apply: say so instead."""
    hold = held.hold_of(conn, projection, str(account_id))
    if hold is None:
        return
    raise ApiProblem(
        503,
        "read-model-held",
        "The read model holds this account back",
        f"the {projection} read model could not apply event {hold.position} "
        f"({hold.event_type}) of account {hold.account_id} and holds its {hold.events} "
        f"event(s) from there; operations have been told (see /healthz): {hold.reason}",
        headers={"Retry-After": "60"},
        projection=projection,
        held_position=hold.position,
    )


def account_public(account: Account, position: int | None = None) -> AccountPublic:
    limit = MoneyModel.of(account.credit_limit) if account.credit_limit else None
    return AccountPublic(
        id=account.id,
        name=account.name,
        currency=account.currency,
        payment_terms_days=account.payment_terms_days,
        email=account.email,
        external_ref=account.external_ref,
        credit_limit=limit,
        status=account.status,
        opened_at=account.created_on,
        last_contact_at=account.last_contact_at,
        suspension_recommended=account.suspension_recommended,
        escalated_to=account.escalated_to,
        insolvency=account.insolvency,
        referred_to=account.referred_to,
        payment_method=account.payment_method,
        coordinator=account.coordinator,
        doubtful_debt=MoneyModel.of(account.doubtful_debt) if account.doubtful_debt else None,
        late_fee_policy=to_json(account.late_fee_policy),
        position=position,
    )


def invoice_public(invoice: Invoice, position: int | None = None) -> InvoicePublic:
    return InvoicePublic(
        id=invoice.id,
        account_id=invoice.account_id,
        number=invoice.number,
        amount=MoneyModel.of(invoice.amount),
        allocated=MoneyModel.of(invoice.allocated),
        credited=MoneyModel.of(invoice.credited),
        written_off=MoneyModel.of(invoice.written_off),
        disputed=MoneyModel.of(invoice.disputed),
        credit_limit_exceeded=invoice.credit_limit_exceeded,
        sends=len(invoice.sends),
        kind=invoice.kind,  # type: ignore[arg-type]
        charged_for=invoice.charged_for,
        outstanding=MoneyModel.of(invoice.outstanding),
        issued_on=invoice.issued_on,
        due_on=invoice.due_on,
        description=invoice.description,
        status=invoice.status,  # type: ignore[arg-type]
        overdue=invoice.is_overdue(today()),
        position=position,
    )


def invoice_row_public(row: dict[str, Any]) -> InvoicePublic:
    currency = row["currency"]
    applied = row["allocated_minor"] + row["credited_minor"] + row["written_off_minor"]
    outstanding = row["amount_minor"] - applied - row["voided_minor"]
    status = invoice_status(
        row["allocated_minor"],
        row["credited_minor"],
        row["written_off_minor"],
        outstanding,
        row["voided_minor"],
    )
    return InvoicePublic(
        id=row["invoice_id"],
        account_id=row["account_id"],
        number=row["number"],
        amount=MoneyModel.of(Money(row["amount_minor"], currency)),
        allocated=MoneyModel.of(Money(row["allocated_minor"], currency)),
        credited=MoneyModel.of(Money(row["credited_minor"], currency)),
        written_off=MoneyModel.of(Money(row["written_off_minor"], currency)),
        disputed=MoneyModel.of(Money(row["disputed_minor"], currency)),
        credit_limit_exceeded=row["credit_limit_exceeded"],
        sends=row["sends"],
        kind=row["kind"],
        charged_for=row["charged_for"],
        outstanding=MoneyModel.of(Money(outstanding, currency)),
        issued_on=row["issued_on"],
        due_on=row["due_on"],
        description=row["description"],
        status=status,  # type: ignore[arg-type]
        overdue=outstanding > 0 and row["due_on"] < today(),
        position=row["position"],
    )


def payment_public(payment: Payment, position: int | None = None) -> PaymentPublic:
    return PaymentPublic(
        id=payment.id,
        account_id=payment.account_id,
        amount=MoneyModel.of(payment.amount),
        allocated=MoneyModel.of(payment.allocated),
        unallocated=MoneyModel.of(payment.unallocated),
        refunded=MoneyModel.of(payment.refunded),
        taken_back=MoneyModel.of(payment.taken_back),
        open_chargebacks=sorted(payment.chargebacks),
        receipts=payment.receipts,
        purpose=payment.purpose,  # type: ignore[arg-type]
        forfeited=MoneyModel.of(payment.forfeited),
        method=payment.method,
        status=payment.status,  # type: ignore[arg-type]
        received_on=payment.received_on,
        reference=payment.reference,
        failure_code=payment.failure_code,
        failure_message=payment.failure_message,
        position=position,
    )
