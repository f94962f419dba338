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
from ledger.store import LedgerStore, Saved, _new
from ledger.write_off import Authority, WriteOff


class InvoiceAdjustments(LedgerStore):
    """Credit notes, voids, and write-offs with their authority rules."""

    def issue_credit_note(self, cmd: IssueCreditNote) -> Saved:
        """Credit part or all of an invoice's outstanding amount, with a reason."""
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

        def attempt() -> Saved:
            invoice = self.get_invoice(cmd.invoice_id)
            if cmd.credit_note_id in invoice.credit_note_ids:
                # This command already ran (a retry after a lost reply): append nothing.
                return Saved(invoice, self.head_position(), replayed=True)
            stamp = cmd.stamp.effective_on(cmd.issued_on)
            invoice.issue_credit_note(
                cmd.credit_note_id, cmd.amount, cmd.reason, cmd.issued_on, stamp
            )
            return Saved(invoice, self._position(self.save(invoice)))

        return self._retrying(attempt)

    def void_invoice(self, cmd: VoidInvoice) -> Saved:
        """Cancel an invoice raised in error."""
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

        def attempt() -> Saved:
            invoice = self.get_invoice(cmd.invoice_id)
            invoice.void(cmd.reason, cmd.stamp)
            return Saved(invoice, self._position(self.save(invoice)))

        return self._retrying(attempt)

    def request_write_off(self, cmd: RequestWriteOff) -> Saved:
        """Ask to write off bad debt; within the requester's own limit it is applied in
        the same transaction, otherwise it waits for a second person's approval."""
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

        def attempt() -> Saved:
            if cmd.write_off_id in self.repository:
                # This command already ran (a retry after a lost reply): append nothing.
                existing = self.get_write_off(cmd.write_off_id)
                return Saved(existing, self.head_position(), replayed=True)
            invoice = self.get_invoice(cmd.invoice_id)
            invoice.check_write_off(cmd.amount)
            write_off = _new(
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
            with charging(charge):
                return Saved(write_off, self._position(self.save(write_off, invoice)))

        try:
            return self._retrying(attempt)
        except DailyWriteOffLimitReached:
            # Another write-off of the requester's took the rest of today's limit while
            # this one was decided: read it again, and ask for approval instead.
            return self._retrying(attempt)

    def decide_write_off(self, cmd: DecideWriteOff) -> Saved:
        def attempt() -> Saved:
            write_off = self.get_write_off(cmd.write_off_id)
            invoice = self.get_invoice(write_off.invoice_id)
            charge = None
            if cmd.approve:
                authority = self._authority(cmd.role, cmd.stamp, invoice)
                write_off.approve(cmd.stamp.actor, authority, cmd.stamp, cmd.reason)
                self._write_off_invoice(write_off, invoice, cmd.stamp)
                charge = self._charge(write_off, cmd.role, cmd.stamp)
            else:
                write_off.reject(cmd.stamp.actor, cmd.reason or "", cmd.stamp)
            with charging(charge):
                return Saved(write_off, self._position(self.save(write_off, invoice)))

        return self._retrying(attempt)

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
        book = self.recorder
        if not isinstance(book, AuthorityBook):
            return 0  # a store without the book (not PostgreSQL): per invoice only
        return book.authorised_on(actor, _day(stamp), currency)

    def _charge(self, write_off: WriteOff, role: str, stamp: Stamp) -> DailyCharge:
        limit = self.write_off_policy.daily_limit(role, write_off.amount.currency)
        return DailyCharge(write_off.id, stamp.actor, _day(stamp), write_off.amount, limit)

    @staticmethod
    def _write_off_invoice(write_off: WriteOff, invoice: Invoice, stamp: Stamp) -> None:
        invoice.write_off(write_off.id, write_off.amount, write_off.reason, stamp.actor, stamp)


def _day(stamp: Stamp) -> date:
    """The day (UTC) a daily limit counts a command in."""
    return stamp.effective_at.astimezone(UTC).date()
