"""Reply bodies of the aged-debt report with its per-invoice detail."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.report_schemas import AgedDebtReport
from api.schemas import MoneyModel

Bucket = Literal["current", "days_1_30", "days_31_60", "days_61_90", "days_91_plus"]


class AgedInvoiceRow(BaseModel):
    """One invoice that owed something at the end of the as-of date."""

    account_id: UUID
    name: str = Field(description="the account's name")
    invoice_id: UUID
    number: str
    issued_on: date
    due_on: date
    days_overdue: int = Field(description="days past due at the as-of date; 0 if not yet due")
    bucket: Bucket
    outstanding: MoneyModel


class AgedDebtDetail(AgedDebtReport):
    invoices: list[AgedInvoiceRow] | None = Field(
        default=None,
        description="with detail=invoice: each owing invoice of the accounts listed, in "
        "their order, oldest due first; they add up to the accounts' figures exactly",
    )
