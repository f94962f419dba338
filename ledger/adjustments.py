"""Commands that adjust what an invoice asks for: credit notes, voids and write-offs."""

from __future__ import annotations

from datetime import UTC, date

from ledger import limits, rules
from ledger.commands import (
    DecideWriteOff,
    IssueCreditNote,
    RequestWriteOff,
    VoidInvoice,
)
from ledger.daily_authority import AuthorityBook, DailyCharge, charging
from ledger.errors import DailyWriteOffLimitReached
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.stamp import Stamp
from ledger.unit_of_work import Decision, Saved, UnitOfWork, already_ran, changed, new
from ledger.write_off import Authority, WriteOff, WriteOffPolicy


class InvoiceAdjustments:
    """Credit notes, voids, and write-offs with their authority rules."""

    def __init__(self, uow: UnitOfWork, policy: WriteOffPolicy, book: AuthorityBook) -> None:
        self.uow = uow
        self.write_off_policy = policy
        self.book = book

    def issue_credit_note(self, cmd: IssueCreditNote) -> Saved:
        """Credit part or all of an invoice's outstanding amount, with a reason."""
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        stamp = cmd.stamp.effective_on(cmd.issued_on)
        return self.uow.change(
            self.uow.invoice,
            cmd.invoice_id,
            lambda i: i.issue_credit_note(
                cmd.credit_note_id, cmd.amount, cmd.reason, cmd.issued_on, stamp
            ),
            already=lambda i: cmd.credit_note_id in i.credit_note_ids,
        )

    def void_invoice(self, cmd: VoidInvoice) -> Saved:
        """Cancel an invoice raised in error."""
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        return self.uow.change(
            self.uow.invoice, cmd.invoice_id, lambda i: i.void(cmd.reason, cmd.stamp)
        )

    def request_write_off(self, cmd: RequestWriteOff) -> Saved:
        """Ask to write off bad debt; within the requester's own limit it is applied in
        the same transaction, otherwise it waits for a second person's approval."""
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

        def decide() -> Decision:
            if self.uow.exists(cmd.write_off_id):
                return already_ran(self.uow.write_off(cmd.write_off_id))
            invoice = self.uow.invoice(cmd.invoice_id)
            invoice.check_write_off(cmd.amount)
            write_off = new(
                WriteOff,
                "Requested",
                cmd.write_off_id,
                account_id=invoice.account_id,
                invoice_id=invoice.id,
                amount=cmd.amount,
                reason=cmd.reason,
                requested_by=cmd.stamp.actor,
                requester_role=cmd.role,
                stamp=cmd.stamp,
            )
            authority = self._authority(cmd.role, cmd.stamp, invoice)
            charge = None
            if authority.covers(cmd.amount):
                write_off.apply_at_once(authority, cmd.stamp)
                self._write_off_invoice(write_off, invoice, cmd.stamp)
                charge = self._charge(write_off, cmd.role, cmd.stamp)
            return changed(write_off, invoice, guard=charging(charge))

        try:
            return self.uow.run(decide)
        except DailyWriteOffLimitReached:
            # Another write-off of the requester's took the rest of today's limit while
            # this one was decided: read it again, and ask for approval instead.
            return self.uow.run(decide)

    def decide_write_off(self, cmd: DecideWriteOff) -> Saved:
        def decide() -> Decision:
            write_off = self.uow.write_off(cmd.write_off_id)
            invoice = self.uow.invoice(write_off.invoice_id)
            charge = None
            if cmd.approve:
                authority = self._authority(cmd.role, cmd.stamp, invoice)
                write_off.approve(cmd.stamp.actor, authority, cmd.stamp, cmd.reason)
                self._write_off_invoice(write_off, invoice, cmd.stamp)
                charge = self._charge(write_off, cmd.role, cmd.stamp)
            else:
                write_off.reject(cmd.stamp.actor, cmd.reason or "", cmd.stamp)
            return changed(write_off, invoice, guard=charging(charge))

        return self.uow.run(decide)

    def _authority(self, role: str, stamp: Stamp, invoice: Invoice) -> Authority:
        """What the actor's role limits leave: on this invoice after what the actor has
        already authorised on it (a limit is per invoice, not per request, so eight
        requests of the limit do not write off eight times the limit), and today after
        what the actor has authorised today on any invoice."""
        actor, currency = stamp.actor, invoice.currency
        on_invoice = self.write_off_policy.limit(role, currency)
        today = self.write_off_policy.daily_limit(role, currency)
        used_today = Money(self._authorised_on(actor, stamp, currency), currency)
        return Authority(
            on_invoice - invoice.written_off_on_authority_of(actor), today - used_today
        )

    def _authorised_on(self, actor: str, stamp: Stamp, currency: str) -> int:
        return self.book.authorised_on(actor, _day(stamp), currency)

    def _charge(self, write_off: WriteOff, role: str, stamp: Stamp) -> DailyCharge:
        limit = self.write_off_policy.daily_limit(role, write_off.amount.currency)
        return DailyCharge(write_off.id, stamp.actor, _day(stamp), write_off.amount, limit)

    @staticmethod
    def _write_off_invoice(write_off: WriteOff, invoice: Invoice, stamp: Stamp) -> None:
        invoice.write_off(write_off.id, write_off.amount, write_off.reason, stamp.actor, stamp)


def _day(stamp: Stamp) -> date:
    """The day (UTC) a daily limit counts a command in."""
    return stamp.effective_at.astimezone(UTC).date()
