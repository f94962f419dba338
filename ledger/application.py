"""The application service: the only door to the write model. It loads aggregates from
the event store, runs their rules, and saves what changed atomically."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Notification, Recording

from ledger import limits, rules
from ledger.account import Account
from ledger.allocation import plan_allocation
from ledger.commands import (
    AllocatePayment,
    DecideWriteOff,
    IssueCreditNote,
    OpenAccount,
    RaiseInvoice,
    RecordPayment,
    RecordPaymentOutcome,
    RequestWriteOff,
    VoidInvoice,
)
from ledger.errors import (
    ConcurrencyExhausted,
    CurrencyMismatch,
    DuplicateInvoiceNumber,
    InvalidRequest,
    UnknownAccount,
    UnknownInvoice,
    UnknownPayment,
    UnknownWriteOff,
)
from ledger.invoice import Invoice, invoice_id_for
from ledger.money import Money
from ledger.payment import Payment
from ledger.stamp import TRANSCODINGS, Stamp
from ledger.write_off import DEFAULT_LIMITS_MAJOR, WriteOff, WriteOffPolicy

log = logging.getLogger("arledger.ledger")

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


@dataclass(frozen=True)
class Saved:
    """What a command did: the aggregate it concerns and the store position of the last
    event it appended (or, when it appended nothing because it was a replay, the
    position the store had reached)."""

    aggregate: Any
    position: int
    replayed: bool = False


@dataclass(frozen=True)
class AllocationResult:
    payment: Payment
    allocations: list[tuple[UUID, Money]]
    position: int
    replayed: bool = False


def _new(kind: type[A], created: str, aggregate_id: UUID | None, **fields: Any) -> A:
    """Create an aggregate, with a client-chosen id when one is given: the API derives it
    from the Idempotency-Key, so a command retried after a lost reply conflicts with
    itself in the store instead of creating a twin."""
    event_class = getattr(kind, created)
    return kind._create(event_class, id=aggregate_id or uuid4(), **fields)


def _require_currency(account: Account, amount: Money, what: str) -> None:
    if amount.currency != account.currency:
        raise CurrencyMismatch(
            f"account {account.id} is in {account.currency}; the {what} is in {amount.currency}",
            expected=account.currency,
            got=amount.currency,
        )


class Ledger(Application[UUID]):
    """Accounts, invoices and payments, in the PostgreSQL event store."""

    name = "Ledger"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        snapshot_interval: int = 0,
        write_off_policy: WriteOffPolicy | None = None,
    ):
        self.write_off_policy = write_off_policy or WriteOffPolicy(dict(DEFAULT_LIMITS_MAJOR))
        if snapshot_interval:
            # Per instance, so that the interval is configuration rather than code.
            self.snapshotting_intervals = {  # type: ignore[misc]
                Account: snapshot_interval,
                Invoice: snapshot_interval,
                Payment: snapshot_interval,
            }
            env = {**(env or {}), "IS_SNAPSHOTTING_ENABLED": "y"}
        super().__init__(env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    # --- commands ---------------------------------------------------------------

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

    def raise_invoice(self, cmd: RaiseInvoice) -> Saved:
        rules.check_raise_invoice(cmd)

        def attempt() -> Saved:
            account = self.get_account(cmd.account_id)
            _require_currency(account, cmd.amount, "invoice")
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

    def issue_credit_note(self, cmd: IssueCreditNote) -> Saved:
        """Credit part or all of an invoice's outstanding amount, with a reason."""
        rules.require_positive(cmd.amount, "amount")
        rules.require_text(cmd.reason, "reason", limits.DESCRIPTION_LENGTH_MAX, optional=False)

        def attempt() -> Saved:
            invoice = self.get_invoice(cmd.invoice_id)
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
            limit = self.write_off_policy.limit(cmd.role, invoice.currency)
            if not limit < cmd.amount:
                self._apply_write_off(write_off, invoice, cmd.stamp, limit)
            return Saved(write_off, self._position(self.save(write_off, invoice)))

        return self._retrying(attempt)

    def decide_write_off(self, cmd: DecideWriteOff) -> Saved:
        def attempt() -> Saved:
            write_off = self.get_write_off(cmd.write_off_id)
            invoice = self.get_invoice(write_off.invoice_id)
            if cmd.approve:
                limit = self.write_off_policy.limit(cmd.role, invoice.currency)
                self._apply_write_off(write_off, invoice, cmd.stamp, limit)
            else:
                write_off.reject(cmd.stamp.actor, cmd.reason or "", cmd.stamp)
            return Saved(write_off, self._position(self.save(write_off, invoice)))

        return self._retrying(attempt)

    @staticmethod
    def _apply_write_off(write_off: WriteOff, invoice: Invoice, stamp: Stamp, limit: Money) -> None:
        write_off.approve(stamp.actor, limit, stamp)
        invoice.write_off(write_off.id, write_off.amount, write_off.reason, stamp.actor, stamp)

    def get_write_off(self, write_off_id: UUID) -> WriteOff:
        return self._get(WriteOff, write_off_id, UnknownWriteOff(f"no write-off {write_off_id}"))

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
            # invoice's issue.
            effective = payment.received_on
            for invoice_id, amount in plan:
                invoice = invoices[invoice_id]
                on = max(payment.received_on, invoice.issued_on)
                invoice.apply_payment(payment.id, amount, cmd.stamp.effective_on(on))
                effective = max(effective, on)
            payment.allocate(cmd.request_id, cmd.strategy, plan, cmd.stamp.effective_on(effective))
            touched = [invoices[invoice_id] for invoice_id, _ in plan]
            recordings = self.save(*touched, payment)  # stored in the order they happened
            return AllocationResult(payment, plan, self._position(recordings))

        return self._retrying(attempt)

    # --- queries on the write model --------------------------------------------

    def get_account(self, account_id: UUID) -> Account:
        return self._get(Account, account_id, UnknownAccount(f"no account {account_id}"))

    def get_invoice(self, invoice_id: UUID) -> Invoice:
        return self._get(Invoice, invoice_id, UnknownInvoice(f"no invoice {invoice_id}"))

    def get_payment(self, payment_id: UUID) -> Payment:
        return self._get(Payment, payment_id, UnknownPayment(f"no payment {payment_id}"))

    def read_log(self, after: int, limit: int) -> Sequence[Notification]:
        """Stored events after position ``after``, oldest first, for the relay and for
        projections catching up from the store."""
        return self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )

    def decode(self, notification: Notification) -> DomainEventProtocol[UUID]:
        return self.mapper.to_domain_event(notification)

    def notify_channel(self) -> str:
        """The PostgreSQL channel the store NOTIFYs on each insert: the relay's wake-up."""
        return str(getattr(self.recorder, "channel_name", self.recorder.__class__.__name__))

    def head_position(self) -> int:
        """The store's last notification id: the newest position there is."""
        return self.recorder.max_notification_id() or 0

    # --- plumbing ----------------------------------------------------------------

    def _get(self, kind: type[A], aggregate_id: UUID, missing: Exception) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise missing from None
        if not isinstance(aggregate, kind):
            raise missing
        return aggregate

    def _exists(self, kind: type[Invoice], account_id: UUID, number: str) -> bool:
        return kind.create_id(account_id, number) in self.repository

    def _create(self, aggregate: Aggregate, existing: Callable[[], Any]) -> Saved:
        try:
            return Saved(aggregate, self._position(self.save(aggregate)))
        except IntegrityError:
            # The client-chosen id exists: this command already ran (a retry after a
            # lost reply). Answer with what it made, appending nothing.
            return Saved(existing(), self.head_position(), replayed=True)

    def _retrying(self, attempt: Callable[[], R]) -> R:
        for n in range(limits.COMMAND_RETRIES_MAX):
            try:
                return attempt()
            except IntegrityError:
                log.info("optimistic concurrency conflict", extra={"attempt": n + 1})
                time.sleep(random.uniform(0, 0.005 * 2**n))
        raise ConcurrencyExhausted(
            f"gave up after {limits.COMMAND_RETRIES_MAX} concurrent-modification retries"
        )

    @staticmethod
    def _position(recordings: Sequence[Recording[UUID]]) -> int:
        return max(r.notification.id for r in recordings)
