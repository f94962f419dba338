"""Commands of the chase: disputes on invoices and dunning notices on accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from ledger import dunning, limits, rules
from ledger.commands import DisputeInvoice, IssueNotice, ResolveDispute, SendDocument
from ledger.errors import InvalidRequest
from ledger.money import Money
from ledger.unit_of_work import Decision, Saved, UnitOfWork, already_ran, changed


@dataclass(frozen=True)
class Notice:
    """A notice as issued: what the reply to the command shows."""

    notice_id: str
    account_id: UUID
    stage: str
    channel: str
    notice_on: date
    invoices: list[dict[str, Any]]
    total_chased: Money


class Chasing:
    """Disputes (which stop the chase for what they cover) and notices (which rest on
    the overdue, undisputed invoices and record why)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def send_invoice(self, cmd: SendDocument) -> Saved:
        rules.require_text(cmd.recipient, "recipient", limits.NAME_LENGTH_MAX, optional=True)
        return self.uow.change(
            self.uow.invoice,
            cmd.subject_id,
            lambda i: i.send(cmd.channel, cmd.recipient, cmd.stamp),
        )

    def send_receipt(self, cmd: SendDocument) -> Saved:
        rules.require_text(cmd.recipient, "recipient", limits.NAME_LENGTH_MAX, optional=True)
        if cmd.channel not in ("email", "post", "portal"):
            raise InvalidRequest("channel must be one of email, post, portal")
        return self.uow.change(
            self.uow.payment,
            cmd.subject_id,
            lambda p: p.issue_receipt(cmd.channel, cmd.recipient, cmd.stamp),
        )

    def dispute_invoice(self, cmd: DisputeInvoice) -> Saved:
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        return self.uow.change(
            self.uow.invoice,
            cmd.invoice_id,
            lambda i: i.dispute(cmd.dispute_id, cmd.amount, cmd.reason, cmd.stamp),
            already=lambda i: (
                cmd.dispute_id in i.disputes or cmd.dispute_id in i.resolved_dispute_ids
            ),
        )

    def resolve_dispute(self, cmd: ResolveDispute) -> Saved:
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        if cmd.credit is not None:
            rules.require_positive(cmd.credit, "credit")
        stamp = cmd.stamp.effective_on(cmd.resolved_on)
        return self.uow.change(
            self.uow.invoice,
            cmd.invoice_id,
            lambda i: i.resolve_dispute(
                cmd.dispute_id, cmd.upheld, cmd.credit, cmd.reason, cmd.resolved_on, stamp
            ),
        )

    def issue_notice(self, cmd: IssueNotice) -> Saved:
        if len(cmd.invoice_ids) > limits.ALLOCATIONS_PER_COMMAND_MAX:
            raise InvalidRequest(
                f"{len(cmd.invoice_ids)} invoices; at most {limits.ALLOCATIONS_PER_COMMAND_MAX}"
            )

        def decide() -> Decision:
            account = self.uow.account(cmd.account_id)
            if cmd.notice_id in account.notice_ids:
                # Issued already: the rows are in the account's history; the reply to
                # the replay carries none.
                nothing = Money.zero(account.currency)
                return already_ran(_notice(cmd, account.id, [], nothing))
            every = self.uow.invoices(account.invoice_ids())
            dunning.check_account(account.status, account.insolvency, every)
            chosen = [self.uow.invoice(i) for i in cmd.invoice_ids]
            rows = dunning.eligible(
                chosen or every,
                account.id,
                cmd.stage,
                account.notice_stages,
                cmd.notice_on,
                chosen=bool(chosen),
            )
            total = dunning.total_chased(rows, account.currency)
            stamp = cmd.stamp.effective_on(cmd.notice_on)
            account.issue_notice(
                cmd.notice_id, cmd.stage, cmd.channel, cmd.notice_on, rows, total, stamp
            )
            return changed(account, reply=_notice(cmd, account.id, rows, total))

        return self.uow.run(decide)


def _notice(cmd: IssueNotice, account_id: UUID, rows: list[dict[str, Any]], total: Money) -> Notice:
    return Notice(cmd.notice_id, account_id, cmd.stage, cmd.channel, cmd.notice_on, rows, total)
