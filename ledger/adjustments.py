"""Commands that adjust what an invoice asks for: credit notes, voids and write-offs."""

from __future__ import annotations

from ledger import limits, rules
from ledger.commands import (
    DecideWriteOff,
    IssueCreditNote,
    RequestWriteOff,
    VoidInvoice,
)
from ledger.invoice import Invoice
from ledger.money import Money
from ledger.stamp import Stamp
from ledger.store import LedgerStore, Saved, _new
from ledger.write_off import WriteOff


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
            left = self._authority_left(cmd.role, cmd.stamp.actor, invoice)
            if not left < cmd.amount:
                write_off.apply_at_once(left, cmd.stamp)
                self._write_off_invoice(write_off, invoice, cmd.stamp)
            return Saved(write_off, self._position(self.save(write_off, invoice)))

        return self._retrying(attempt)

    def decide_write_off(self, cmd: DecideWriteOff) -> Saved:
        def attempt() -> Saved:
            write_off = self.get_write_off(cmd.write_off_id)
            invoice = self.get_invoice(write_off.invoice_id)
            if cmd.approve:
                left = self._authority_left(cmd.role, cmd.stamp.actor, invoice)
                write_off.approve(cmd.stamp.actor, left, cmd.stamp)
                self._write_off_invoice(write_off, invoice, cmd.stamp)
            else:
                write_off.reject(cmd.stamp.actor, cmd.reason or "", cmd.stamp)
            return Saved(write_off, self._position(self.save(write_off, invoice)))

        return self._retrying(attempt)

    def _authority_left(self, role: str, actor: str, invoice: Invoice) -> Money:
        """What the actor's role limit leaves on this invoice after what the actor has
        already authorised on it: a limit is per invoice, not per request, so eight
        requests of the limit do not write off eight times the limit."""
        limit = self.write_off_policy.limit(role, invoice.currency)
        return limit - invoice.written_off_on_authority_of(actor)

    @staticmethod
    def _write_off_invoice(write_off: WriteOff, invoice: Invoice, stamp: Stamp) -> None:
        invoice.write_off(write_off.id, write_off.amount, write_off.reason, stamp.actor, stamp)
