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
from ledger.store import LedgerStore, Saved


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


class Chasing(LedgerStore):
    """Disputes (which stop the chase for what they cover) and notices (which rest on
    the overdue, undisputed invoices and record why)."""

    def send_invoice(self, cmd: SendDocument) -> Saved:
        rules.require_text(cmd.recipient, "recipient", limits.NAME_LENGTH_MAX, optional=True)

        def attempt() -> Saved:
            invoice = self.get_invoice(cmd.subject_id)
            invoice.send(cmd.channel, cmd.recipient, cmd.stamp)
            return Saved(invoice, self._position(self.save(invoice)))

        return self._retrying(attempt)

    def send_receipt(self, cmd: SendDocument) -> Saved:
        rules.require_text(cmd.recipient, "recipient", limits.NAME_LENGTH_MAX, optional=True)
        if cmd.channel not in ("email", "post", "portal"):
            raise InvalidRequest("channel must be one of email, post, portal")

        def attempt() -> Saved:
            payment = self.get_payment(cmd.subject_id)
            payment.issue_receipt(cmd.channel, cmd.recipient, cmd.stamp)
            return Saved(payment, self._position(self.save(payment)))

        return self._retrying(attempt)

    def dispute_invoice(self, cmd: DisputeInvoice) -> Saved:
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

        def attempt() -> Saved:
            invoice = self.get_invoice(cmd.invoice_id)
            if cmd.dispute_id in invoice.disputes or cmd.dispute_id in invoice.resolved_dispute_ids:
                return Saved(invoice, self.head_position(), replayed=True)
            invoice.dispute(cmd.dispute_id, cmd.amount, cmd.reason, cmd.stamp)
            return Saved(invoice, self._position(self.save(invoice)))

        return self._retrying(attempt)

    def resolve_dispute(self, cmd: ResolveDispute) -> Saved:
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        if cmd.credit is not None:
            rules.require_positive(cmd.credit, "credit")

        def attempt() -> Saved:
            invoice = self.get_invoice(cmd.invoice_id)
            stamp = cmd.stamp.effective_on(cmd.resolved_on)
            invoice.resolve_dispute(
                cmd.dispute_id, cmd.upheld, cmd.credit, cmd.reason, cmd.resolved_on, stamp
            )
            return Saved(invoice, self._position(self.save(invoice)))

        return self._retrying(attempt)

    def issue_notice(self, cmd: IssueNotice) -> Saved:
        if len(cmd.invoice_ids) > limits.ALLOCATIONS_PER_COMMAND_MAX:
            raise InvalidRequest(
                f"{len(cmd.invoice_ids)} invoices; at most {limits.ALLOCATIONS_PER_COMMAND_MAX}"
            )

        def attempt() -> Saved:
            account = self.get_account(cmd.account_id)
            if cmd.notice_id in account.notice_ids:
                # Issued already (a retry after a lost reply): append nothing. The rows are
                # in the account's history; the reply here carries none.
                notice = Notice(
                    cmd.notice_id,
                    account.id,
                    cmd.stage,
                    cmd.channel,
                    cmd.notice_on,
                    [],
                    Money.zero(account.currency),
                )
                return Saved(notice, self.head_position(), replayed=True)
            every = [self.get_invoice(i) for i in account.invoice_ids()]
            dunning.check_account(account.status, account.insolvency, every)
            chosen = [self.get_invoice(i) for i in cmd.invoice_ids]
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
            notice = Notice(
                cmd.notice_id, account.id, cmd.stage, cmd.channel, cmd.notice_on, rows, total
            )
            return Saved(notice, self._position(self.save(account)))

        return self._retrying(attempt)
