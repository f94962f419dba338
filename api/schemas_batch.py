"""Bodies of the batch commands: many invoices or payments in one call, a file of
invoices, of payments or of an opening book's accounts, and what became of each."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from api.command_schemas import InvoiceCreate, PaymentCreate
from api.schemas import AllocationRow, Command
from ledger.errors import InvalidRequest

INVOICES_PER_BATCH_MAX = 1_000
PAYMENTS_PER_BATCH_MAX = 1_000


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


class PaymentBatchEntry(PaymentCreate):
    """A payment as `POST /v1/payments` takes one, named by its sender's reference, and
    what it pays, as `POST /v1/payments/{id}/allocations` takes it (or neither)."""

    external_ref: str = Field(
        min_length=1,
        max_length=200,
        description="the payment's id where it comes from (a receipt number, a billing "
        "system's payment id), unique on the account: the payment's id follows from the "
        "account and it, so the same payment sent again is `already`",
    )
    allocations: list[AllocationRow] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="the invoices it pays and how much of each, allocated with it",
    )
    strategy: Literal["oldest_first"] | None = Field(
        default=None, description="allocate it oldest first, with it (not with allocations)"
    )


class PaymentBatchCreate(Command):
    payments: list[PaymentBatchEntry] = Field(
        min_length=1,
        max_length=PAYMENTS_PER_BATCH_MAX,
        description="each as `POST /v1/payments` takes one, with its `external_ref`; each "
        "is checked on its own",
    )


class PaymentBatchItem(BaseModel):
    index: int = Field(description="the payment's place in the request, from 0")
    status: Literal["recorded", "already", "refused"] = Field(
        description="recorded now (and allocated, when it says what it pays); already in "
        "the ledger with the same figures (a batch sent again records nothing twice); or "
        "refused, with the problem, and nothing of it recorded"
    )
    account_id: UUID
    external_ref: str
    payment_id: UUID = Field(description="follows from the account and the external_ref")
    problem: dict[str, Any] | None = Field(
        default=None, description="why it was refused: a problem+json object"
    )


class PaymentBatchResult(BaseModel):
    recorded: int
    already: int
    refused: int
    position: int = Field(description="the store position the batch reached")
    items: list[PaymentBatchItem]


class FileImport(Command):
    """A file (CSV or XLSX) sent in the body: its name says which."""

    filename: str = Field(
        min_length=5,
        max_length=300,
        pattern=r"(?i)\.(csv|xlsx)$",
        description="its name: .csv (UTF-8 text in `content`) or .xlsx (in `content_base64`)",
    )
    content: str | None = Field(default=None, max_length=20_000_000, description="a CSV file")
    content_base64: str | None = Field(
        default=None, max_length=27_000_000, description="an XLSX file, base64"
    )
    sheet: str | None = Field(default=None, max_length=100, description="default: the first")

    @model_validator(mode="after")
    def _one_content(self) -> FileImport:
        xlsx = self.filename.lower().endswith(".xlsx")
        if xlsx and (self.content_base64 is None or self.content is not None):
            raise ValueError("an .xlsx file comes in content_base64 (and no content)")
        if not xlsx and (self.content is None or self.content_base64 is not None):
            raise ValueError("a .csv file comes in content (and no content_base64)")
        return self

    def file_bytes(self) -> bytes:
        """The file as it was: the CSV's text encoded again, or the XLSX decoded."""
        if self.content is not None:
            return self.content.encode("utf-8")
        try:
            return base64.b64decode(self.content_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("content_base64 is not base64") from None


class InvoiceImport(FileImport):
    """A file of invoices, as `arledger import invoices` reads one (see the README)."""


class InvoiceImportRow(BaseModel):
    line: int = Field(description="the row's line in the file (the header is line 1)")
    account: str = Field(description="the account as the row names it: id or external_ref")
    account_id: UUID | None = Field(default=None, description="the account it was found to be")
    number: str
    status: Literal["raised", "already", "refused"]
    invoice_id: UUID | None = None
    problem: dict[str, Any] | None = Field(
        default=None, description="why it was refused: a problem+json object"
    )


class InvoiceImportResult(BaseModel):
    filename: str
    sha256: str = Field(description="of the file's bytes")
    rows: int
    raised: int
    already: int
    refused: int
    position: int = Field(description="the store position the import reached")
    items: list[InvoiceImportRow]


class AccountImport(FileImport):
    """A file of accounts, as `arledger import accounts` reads one (see the README)."""


class AccountImportRow(BaseModel):
    line: int = Field(description="the row's line in the file (the header is line 1)")
    external_ref: str = Field(description="the reference the row names the account by")
    name: str
    status: Literal["opened", "already", "refused"] = Field(
        description="opened now; already in the ledger with the same details (the same "
        "file again opens nothing twice); or refused, with the problem"
    )
    account_id: UUID | None = Field(
        default=None, description="the account's id, which follows from its external_ref"
    )
    problem: dict[str, Any] | None = Field(
        default=None, description="why it was refused: a problem+json object"
    )


class AccountImportResult(BaseModel):
    filename: str
    sha256: str = Field(description="of the file's bytes")
    rows: int
    opened: int
    already: int
    refused: int
    position: int = Field(description="the store position the import reached")
    items: list[AccountImportRow]


class PaymentImport(FileImport):
    """A file of payments, as `arledger import payments` reads one (see the README)."""


class PaymentImportRow(BaseModel):
    line: int = Field(description="the row's line in the file (the header is line 1)")
    account: str = Field(description="the account as the row names it: id or external_ref")
    account_id: UUID | None = Field(default=None, description="the account it was found to be")
    external_ref: str = Field(description="the reference the row names the payment by")
    status: Literal["recorded", "already", "refused"]
    payment_id: UUID | None = None
    problem: dict[str, Any] | None = Field(
        default=None, description="why it was refused: a problem+json object"
    )


class PaymentImportResult(BaseModel):
    filename: str
    sha256: str = Field(description="of the file's bytes")
    rows: int
    recorded: int
    already: int
    refused: int
    position: int = Field(description="the store position the import reached")
    items: list[PaymentImportRow]
