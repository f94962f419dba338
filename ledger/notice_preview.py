"""What a dunning notice would rest on, before it is sent: for each stage, the invoices
it would chase today (with the same evidence rows the notice itself records), or why it
cannot be sent. A read of the write model; nothing is appended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from ledger import dunning
from ledger.application import Ledger
from ledger.errors import RuleViolation
from ledger.money import Money


@dataclass(frozen=True)
class StagePreview:
    stage: str
    rows: list[dict[str, Any]]
    total: Money
    refused: str | None  # why no notice of this stage can be sent, if it cannot


def preview(ledger: Ledger, account_id: UUID, on: date) -> list[StagePreview]:
    """Each stage in order, with what a notice of that stage on ``on`` would rest on."""
    account = ledger.get_account(account_id)
    every = ledger.uow.invoices(account.invoice_ids())
    nothing = Money.zero(account.currency)
    try:
        dunning.check_account(account.status, account.insolvency, every)
    except RuleViolation as e:
        return [StagePreview(s, [], nothing, e.detail) for s in dunning.STAGES]
    found = []
    for stage in dunning.STAGES:
        try:
            rows = dunning.eligible(
                every, account.id, stage, account.notice_stages, on, chosen=False
            )
        except RuleViolation as e:
            found.append(StagePreview(stage, [], nothing, e.detail))
            continue
        found.append(StagePreview(stage, rows, dunning.total_chased(rows, account.currency), None))
    return found
