"""The application service: the only door to the write model.

``Ledger`` composes one service per aggregate or capability (``ledger/accounts.py``,
``invoicing.py``, ``payments.py``, ``reversals.py``, ``adjustments.py``, ``chasing.py``,
``arrangements.py``, ``late_charges.py``, ``notification.py``, ``statement_sends.py``),
each running its commands in the one unit of work (``ledger/unit_of_work.py``), and
offers their commands under one name, which is what the entry points call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.accounts import Accounts, outstanding_of
from ledger.adjustments import InvoiceAdjustments
from ledger.arrangements import Arrangements
from ledger.bulk import BulkInvoicing
from ledger.bulk_accounts import BulkAccounts
from ledger.bulk_payments import BulkPayments
from ledger.chasing import Chasing
from ledger.commands import (
    AgreePaymentPlan,
    AllocatePayment,
    CancelArrangement,
    ChangeStanding,
    ChargeLateFee,
    CloseChargeback,
    DecideWriteOff,
    DisputeInvoice,
    Escalate,
    FlagDoubtfulDebt,
    ForfeitDeposit,
    IssueCreditNote,
    IssueNotice,
    LogContact,
    MakePromise,
    OpenAccount,
    OpenChargeback,
    OpenInsolvencyCase,
    RaiseInvoice,
    RecordPayment,
    RecordPaymentLink,
    RecordPaymentOutcome,
    ReferForCollection,
    RefundPayment,
    RequestWriteOff,
    ResolveDispute,
    ReturnPayment,
    SendDocument,
    SetLateFeePolicy,
    SetUpPaymentMethod,
    UnallocatePayment,
    UpdateAccount,
    VoidInvoice,
)
from ledger.invoicing import Invoicing
from ledger.late_charges import LateCharges
from ledger.money import Money
from ledger.notification import Notification, Notifying
from ledger.payment_plan import PaymentPlan
from ledger.payments import AllocationResult, Payments
from ledger.promise import Promise
from ledger.reversals import PaymentReversals
from ledger.stamp import Stamp
from ledger.statement_sends import SendStatement, StatementSends
from ledger.store import LedgerStore, Saved
from ledger.write_off import WriteOffPolicy


class Ledger(LedgerStore):
    """Accounts, invoices and payments, in the event store: the services composed, and
    their commands delegated to them one for one."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        snapshot_interval: int = 0,
        write_off_policy: WriteOffPolicy | None = None,
    ):
        super().__init__(env, snapshot_interval, write_off_policy)
        uow = self.uow
        self.accounts = Accounts(uow)
        self.invoicing = Invoicing(uow)
        self.payments = Payments(uow)
        self.reversals = PaymentReversals(uow)
        self.adjustments = InvoiceAdjustments(uow, self.write_off_policy, self.store_port)
        self.chasing = Chasing(uow)
        self.arrangements = Arrangements(uow)
        self.late_charges = LateCharges(uow)
        self.notifications = Notifying(uow)
        self.statements = StatementSends(uow)
        self.bulk = BulkInvoicing(uow)  # called as ``ledger.bulk.raise_invoices``
        self.bulk_accounts = BulkAccounts(uow)  # ``ledger.bulk_accounts.open_accounts``
        self.bulk_payments = BulkPayments(self.payments)  # ``.record_payments``

    # --- accounts ---------------------------------------------------------------------

    def open_account(self, cmd: OpenAccount) -> Saved:
        return self.accounts.open_account(cmd)

    def update_account(self, cmd: UpdateAccount) -> Saved:
        return self.accounts.update_account(cmd)

    def log_contact(self, cmd: LogContact) -> Saved:
        return self.accounts.log_contact(cmd)

    def change_standing(self, cmd: ChangeStanding) -> Saved:
        return self.accounts.change_standing(cmd)

    def escalate(self, cmd: Escalate) -> Saved:
        return self.accounts.escalate(cmd)

    def open_insolvency_case(self, cmd: OpenInsolvencyCase) -> Saved:
        return self.accounts.open_insolvency_case(cmd)

    def refer_for_collection(self, cmd: ReferForCollection) -> Saved:
        return self.accounts.refer_for_collection(cmd)

    def set_up_payment_method(self, cmd: SetUpPaymentMethod) -> Saved:
        return self.accounts.set_up_payment_method(cmd)

    def flag_doubtful_debt(self, cmd: FlagDoubtfulDebt) -> Saved:
        return self.accounts.flag_doubtful_debt(cmd)

    def send_statement(self, cmd: SendStatement) -> Saved:
        return self.statements.send_statement(cmd)

    def set_late_fee_policy(self, cmd: SetLateFeePolicy) -> Saved:
        return self.late_charges.set_late_fee_policy(cmd)

    def outstanding_of(self, account: Account) -> Money:
        """What the account owes now, from its invoices in the store."""
        return outstanding_of(self.uow, account)

    # --- invoices ---------------------------------------------------------------------

    def raise_invoice(self, cmd: RaiseInvoice) -> Saved:
        return self.invoicing.raise_invoice(cmd)

    def record_payment_link(self, cmd: RecordPaymentLink) -> Saved:
        return self.invoicing.record_payment_link(cmd)

    def note_overdue(self, invoice_id: UUID, on: date, stamp: Stamp) -> Saved:
        return self.invoicing.note_overdue(invoice_id, on, stamp)

    def charge_late_fee(self, cmd: ChargeLateFee) -> Saved:
        return self.late_charges.charge_late_fee(cmd)

    def issue_credit_note(self, cmd: IssueCreditNote) -> Saved:
        return self.adjustments.issue_credit_note(cmd)

    def void_invoice(self, cmd: VoidInvoice) -> Saved:
        return self.adjustments.void_invoice(cmd)

    def request_write_off(self, cmd: RequestWriteOff) -> Saved:
        return self.adjustments.request_write_off(cmd)

    def decide_write_off(self, cmd: DecideWriteOff) -> Saved:
        return self.adjustments.decide_write_off(cmd)

    # --- payments ---------------------------------------------------------------------

    def record_payment(self, cmd: RecordPayment) -> Saved:
        return self.payments.record_payment(cmd)

    def record_payment_outcome(self, cmd: RecordPaymentOutcome) -> Saved:
        return self.payments.record_payment_outcome(cmd)

    def allocate_payment(self, cmd: AllocatePayment) -> AllocationResult:
        return self.payments.allocate_payment(cmd)

    def record_reconciliation(
        self,
        run_id: UUID,
        channel: str,
        period: tuple[date, date],
        counts: dict[str, Any],
        findings: list[dict[str, Any]],
        stamp: Stamp,
    ) -> Saved:
        return self.payments.record_reconciliation(run_id, channel, period, counts, findings, stamp)

    def unallocate_payment(self, cmd: UnallocatePayment) -> Saved:
        return self.reversals.unallocate_payment(cmd)

    def refund_payment(self, cmd: RefundPayment) -> Saved:
        return self.reversals.refund_payment(cmd)

    def return_payment(self, cmd: ReturnPayment) -> Saved:
        return self.reversals.return_payment(cmd)

    def open_chargeback(self, cmd: OpenChargeback) -> Saved:
        return self.reversals.open_chargeback(cmd)

    def close_chargeback(self, cmd: CloseChargeback) -> Saved:
        return self.reversals.close_chargeback(cmd)

    def forfeit_deposit(self, cmd: ForfeitDeposit) -> Saved:
        return self.reversals.forfeit_deposit(cmd)

    # --- the chase --------------------------------------------------------------------

    def send_invoice(self, cmd: SendDocument) -> Saved:
        return self.chasing.send_invoice(cmd)

    def send_receipt(self, cmd: SendDocument) -> Saved:
        return self.chasing.send_receipt(cmd)

    def dispute_invoice(self, cmd: DisputeInvoice) -> Saved:
        return self.chasing.dispute_invoice(cmd)

    def resolve_dispute(self, cmd: ResolveDispute) -> Saved:
        return self.chasing.resolve_dispute(cmd)

    def issue_notice(self, cmd: IssueNotice) -> Saved:
        return self.chasing.issue_notice(cmd)

    # --- promises and payment plans ---------------------------------------------------

    def make_promise(self, cmd: MakePromise) -> Saved:
        return self.arrangements.make_promise(cmd)

    def agree_payment_plan(self, cmd: AgreePaymentPlan) -> Saved:
        return self.arrangements.agree_payment_plan(cmd)

    def cancel_arrangement(self, cmd: CancelArrangement) -> Saved:
        return self.arrangements.cancel_arrangement(cmd)

    def decide_promise(
        self,
        promise_id: UUID,
        kept: bool,
        paid: Money,
        on: date,
        stamp: Stamp,
        kept_by: list[dict[str, Any]] | None = None,
    ) -> Saved:
        return self.arrangements.decide_promise(promise_id, kept, paid, on, stamp, kept_by)

    def decide_instalment(
        self,
        plan_id: UUID,
        kept: bool,
        paid: Money,
        on: date,
        stamp: Stamp,
        kept_by: list[dict[str, Any]] | None = None,
    ) -> Saved:
        return self.arrangements.decide_instalment(plan_id, kept, paid, on, stamp, kept_by)

    def get_promise(self, promise_id: UUID) -> Promise:
        return self.arrangements.get_promise(promise_id)

    def get_plan(self, plan_id: UUID) -> PaymentPlan:
        return self.arrangements.get_plan(plan_id)

    def get_arrangement(self, arrangement_id: UUID) -> Promise | PaymentPlan:
        return self.arrangements.get_arrangement(arrangement_id)

    # --- notifications ----------------------------------------------------------------

    def queue_notification(
        self,
        notification_id: UUID,
        account_id: UUID,
        occasion: str,
        about: UUID,
        message: tuple[list[dict[str, Any]], str, str],
        stamp: Stamp,
    ) -> Saved:
        return self.notifications.queue_notification(
            notification_id, account_id, occasion, about, message, stamp
        )

    def get_notification(self, notification_id: UUID) -> Notification:
        return self.notifications.get_notification(notification_id)

    def record_delivery(
        self,
        notification_id: UUID,
        role: str,
        sender: str,
        outcome: str,
        stamp: Stamp,
        sent: tuple[str | None, str | None] = (None, None),
    ) -> Saved:
        return self.notifications.record_delivery(
            notification_id, role, sender, outcome, stamp, sent
        )

    def change_notification(
        self, notification_id: UUID, change: Callable[[Notification], None]
    ) -> Saved:
        return self.notifications.change_notification(notification_id, change)
