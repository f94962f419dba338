"""Bodies of the batch commands: many invoices in one call, and what became of each."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.command_schemas import InvoiceCreate
from api.schemas import Command

INVOICES_PER_BATCH_MAX = 1_000


class InvoiceBatchCreate(Command):
    invoices: list[InvoiceCreate] = Field(
        min_length=1,
        max_length=INVOICES_PER_BATCH_MAX,
        description="each as `POST /v1/invoices` takes one; each is checked on its own",
    )


class InvoiceBatchItem(BaseModel):
    index: int = Field(description="the invoice's place in the request, from 0")
    status: Literal["raised", "already", "refused"] = Field(
        description="raised now; already in the ledger with the same amount and dates (a "
        "batch sent again raises nothing twice); or refused, with the problem"
    )
    account_id: UUID
    number: str
    invoice_id: UUID
    problem: dict[str, Any] | None = Field(
        default=None, description="why it was refused: a problem+json object"
    )


class InvoiceBatchResult(BaseModel):
    raised: int
    already: int
    refused: int
    position: int = Field(description="the store position the batch reached")
    items: list[InvoiceBatchItem]
