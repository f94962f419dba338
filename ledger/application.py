"""The application service: the only door to the write model. It loads aggregates from
the event store, runs their rules, and saves what changed atomically."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from ledger import limits, rules
from ledger.account import Account
from ledger.adjustments import InvoiceAdjustments
from ledger.allocation import plan_allocation
from ledger.arrangements import Arrangements
from ledger.chasing import Chasing
from ledger.commands import (
    AllocatePayment,
    ChangeStanding,
    Escalate,
    FlagDoubtfulDebt,
    LogContact,
    OpenAccount,
    OpenInsolvencyCase,
    RaiseInvoice,
    RecordPayment,
    RecordPaymentLink,
    RecordPaymentOutcome,
    ReferForCollection,
    SetUpPaymentMethod,
    UpdateAccount,
)
from ledger.errors import (
    ConcurrencyExhausted,
    DuplicateInvoiceNumber,
    InvalidRequest,
)
from ledger.invoice import Invoice, invoice_id_for
from ledger.late_charges import LateCharges
from ledger.money import Money
from ledger.notification import Notifying
from ledger.payment import Payment
from ledger.reconciliation import Reconciliation
from ledger.reversals import PaymentReversals
from ledger.stamp import Stamp
from ledger.statement_sends import StatementSends
from ledger.store import AllocationResult, Saved, _new, _require_currency


class Ledger(
    InvoiceAdjustments,
    PaymentReversals,
    Chasing,
    Arrangements,
    LateCharges,
    Notifying,
    StatementSends,
):
    """Accounts, invoices and payments, in the PostgreSQL event store."""

    def open_account(self, cmd: OpenAccount) -> Saved:
        rules.check_open_account(cmd)
        account = _new(
            Account,
            "Opened",
            cmd.account_id,
            name=cmd.name,
            currency=cmd.currency,
            payment_terms_days=cmd.payment_terms_days,
            email=cmd.email,
            external_ref=cmd.external_ref,
            credit_limit=cmd.credit_limit,
            stamp=cmd.stamp,
        )
        return self._create(account, lambda: self.get_account(account.id))

    def update_account(self, cmd: UpdateAccount) -> Saved:
        """Change contact details, payment terms or the credit limit."""

        def change(account: Account) -> None:
            changes = rules.account_changes(cmd, account.currency)
            account.update_details(changes, cmd.reason, cmd.stamp)

        return self._on_account(cmd.account_id, change)

    def log_contact(self, cmd: LogContact) -> Saved:
        """Record a call, email, letter or meeting with the client and its outcome."""
        rules.require_text(cmd.outcome, "outcome", limits.NAME_LENGTH_MAX, optional=False)
        rules.require_text(cmd.notes, "notes", limits.DESCRIPTION_LENGTH_MAX, optional=True)
        return self._on_account(
            cmd.account_id,
            lambda a: a.log_contact(
                cmd.channel, cmd.direction, cmd.outcome, cmd.notes, cmd.contact_name, cmd.stamp
            ),
        )

    def change_standing(self, cmd: ChangeStanding) -> Saved:
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        return self._on_account(
            cmd.account_id, lambda a: a.change_standing(cmd.action, cmd.reason, cmd.stamp)
        )

    def escalate(self, cmd: Escalate) -> Saved:
        rules.require_text(cmd.manager, "manager", limits.NAME_LENGTH_MAX, optional=False)
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        return self._on_account(
            cmd.account_id, lambda a: a.escalate(cmd.manager, cmd.reason, cmd.stamp)
        )

    def open_insolvency_case(self, cmd: OpenInsolvencyCase) -> Saved:
        rules.require_text(cmd.reference, "reference", limits.REFERENCE_LENGTH_MAX, optional=True)
        return self._on_account(
            cmd.account_id, lambda a: a.open_insolvency_case(cmd.kind, cmd.reference, cmd.stamp)
        )

    def refer_for_collection(self, cmd: ReferForCollection) -> Saved:
        """Refer the debt out; the event records what the account owed at the time."""
        rules.require_text(cmd.agency, "agency", limits.NAME_LENGTH_MAX, optional=False)
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        rules.require_positive(cmd.collection_value, "collection_value")

        def change(account: Account) -> None:
            account.refer_for_collection(
                cmd.kind,
                cmd.agency,
                cmd.collection_value,
                self.outstanding_of(account),
                cmd.reason,
                cmd.stamp,
            )

        return self._on_account(cmd.account_id, change)

    def set_up_payment_method(self, cmd: SetUpPaymentMethod) -> Saved:
        rules.require_text(cmd.reference, "reference", limits.REFERENCE_LENGTH_MAX, optional=True)
        return self._on_account(
            cmd.account_id,
            lambda a: a.set_up_payment_method(cmd.method, cmd.reference, cmd.stamp),
        )

    def flag_doubtful_debt(self, cmd: FlagDoubtfulDebt) -> Saved:
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)
        return self._on_account(
            cmd.account_id,
            lambda a: a.flag_doubtful_debt(
                cmd.amount, self.outstanding_of(a), cmd.reason, cmd.stamp
            ),
        )

    def outstanding_of(self, account: Account) -> Money:
        """What the account owes now, from its invoices in the store."""
        owed = Money.zero(account.currency)
        for invoice in map(self.get_invoice, account.invoice_ids()):
            owed = owed + invoice.outstanding
        return owed

    def _on_account(self, account_id: UUID, change: Callable[[Account], None]) -> Saved:
        """Load the account, apply ``change`` (which checks its own rules), save; again
        from the top if another writer got there first."""

        def attempt() -> Saved:
            account = self.get_account(account_id)
            change(account)
            return Saved(account, self._position(self.save(account)))

        return self._retrying(attempt)

    def raise_invoice(self, cmd: RaiseInvoice) -> Saved:
        rules.check_raise_invoice(cmd)

        def attempt() -> Saved:
            account = self.get_account(cmd.account_id)
            _require_currency(account, cmd.amount, "invoice")
            # What the account would owe with this invoice, before it claims the number.
            exposure = self.outstanding_of(account) + cmd.amount if account.credit_limit else None
            stamp = cmd.stamp.effective_on(cmd.issued_on)
            # The account's claim on the number first, so that recorded times follow the
            # order in which the events are stored.
            account.register_invoice(invoice_id_for(account.id, cmd.number), cmd.number, stamp)
            invoice = Invoice(
                account_id=account.id,
                number=cmd.number,
                amount=cmd.amount,
                issued_on=cmd.issued_on,
                due_on=cmd.due_on,
                description=cmd.description,
                stamp=stamp,
                credit_limit_exceeded=bool(
                    account.credit_limit and exposure and account.credit_limit < exposure
                ),
                exposure=exposure,
            )
            return Saved(invoice, self._position(self.save(account, invoice)))

        try:
            return self._retrying(attempt)
        except ConcurrencyExhausted:
            if self._exists(Invoice, cmd.account_id, cmd.number):
                raise DuplicateInvoiceNumber(
                    f"invoice number {cmd.number!r} is already used on account {cmd.account_id}"
                ) from None
            raise

    def record_payment(self, cmd: RecordPayment) -> Saved:
        rules.check_record_payment(cmd)
        account = self.get_account(cmd.account_id)
        _require_currency(account, cmd.amount, "payment")
        payment = _new(
            Payment,
            "Recorded",
            cmd.payment_id,
            account_id=account.id,
            amount=cmd.amount,
            method=cmd.method,
            received_on=cmd.received_on,
            reference=cmd.reference,
            status=cmd.status,
            failure_code=cmd.failure_code,
            failure_message=cmd.failure_message,
            stamp=cmd.stamp.effective_on(cmd.received_on),
            purpose=cmd.purpose,
        )
        return self._create(payment, lambda: self.get_payment(payment.id))

    def record_payment_outcome(self, cmd: RecordPaymentOutcome) -> Saved:
        """Settle a pending payment's fate: succeeded, or failed with a reason."""
        if cmd.status not in ("succeeded", "failed"):
            raise InvalidRequest("status must be succeeded or failed")

        def attempt() -> Saved:
            payment = self.get_payment(cmd.payment_id)
            if cmd.status == "succeeded":
                payment.succeed(cmd.stamp)
            else:
                payment.fail(cmd.failure_code or "unspecified", cmd.failure_message, cmd.stamp)
            return Saved(payment, self._position(self.save(payment)))

        return self._retrying(attempt)

    def record_reconciliation(
        self,
        run_id: UUID,
        channel: str,
        period: tuple[date, date],
        counts: dict[str, Any],
        findings: list[dict[str, Any]],
        stamp: Stamp,
    ) -> Saved:
        """A reconciliation run and its findings, as an event of its own."""
        run = _new(
            Reconciliation,
            "Completed",
            run_id,
            channel=channel,
            period_start=period[0],
            period_end=period[1],
            counts=counts,
            findings=findings,
            stamp=stamp,
        )
        return self._create(run, lambda: self.repository.get(run_id))

    def record_payment_link(self, cmd: RecordPaymentLink) -> Saved:
        """A payment link issued for an invoice (its id and address at the card channel)."""

        def attempt() -> Saved:
            invoice = self.get_invoice(cmd.invoice_id)
            if invoice.payment_link_id == cmd.link_id:
                return Saved(invoice, self.head_position(), replayed=True)
            invoice.issue_payment_link(
                cmd.link_id, cmd.url, cmd.amount, cmd.customer_id, cmd.expires_at, cmd.stamp
            )
            return Saved(invoice, self._position(self.save(invoice)))

        return self._retrying(attempt)

    def allocate_payment(self, cmd: AllocatePayment) -> AllocationResult:
        """Apply a payment to invoices. The payment and every invoice it touches are saved
        in one transaction; if another writer changed any of them first, reload and try
        again, so an invoice is never over-allocated and a payment never over-spent."""

        def attempt() -> AllocationResult:
            payment = self.get_payment(cmd.payment_id)
            if cmd.request_id in payment.allocation_requests:
                return AllocationResult(
                    payment,
                    payment.allocation_requests[cmd.request_id],
                    self.head_position(),
                    replayed=True,
                )
            account = self.get_account(payment.account_id)
            plan, invoices = plan_allocation(cmd, payment, account, self.get_invoice)
            # An allocation takes effect on the later of the payment's receipt and the
            # invoice's issue; a deposit's on the day it is applied (it was security, not
            # cash against invoices, until then), so no closed day changes.
            effective = payment.received_on
            if payment.purpose == "deposit":
                effective = max(effective, cmd.stamp.effective_at.date())
            for invoice_id, amount in plan:
                invoice = invoices[invoice_id]
                on = max(effective, invoice.issued_on)
                invoice.apply_payment(payment.id, amount, cmd.stamp.effective_on(on))
                effective = max(effective, on)
            payment.allocate(cmd.request_id, cmd.strategy, plan, cmd.stamp.effective_on(effective))
            touched = [invoices[invoice_id] for invoice_id, _ in plan]
            recordings = self.save(*touched, payment)  # stored in the order they happened
            return AllocationResult(payment, plan, self._position(recordings))

        return self._retrying(attempt)

    # --- queries on the write model --------------------------------------------
