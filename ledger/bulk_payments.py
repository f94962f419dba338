"""Recording many payments at once: a billing system's receipts, the payments of an
opening book. Each payment keeps the rules of ``record_payment`` (and, when it names
what it pays, of ``allocate_payment``) and its own refusal; together they are recorded
and allocated through ``Payments.record_receipts``, up to ``CHUNK`` in one transaction,
as ``ledger/bulk.py`` raises invoices.

Each payment names itself by the reference its sender knows it by, its
``external_ref`` (a receipt number, a billing system's payment id), and its id follows
from its account and that reference (``payment_id_for``): a batch sent again, or
resumed after a crash, records only what is not in the store yet. A payment already
there with the same amount, method, date, reference and purpose is ``already`` (what it
paid was allocated with it, in the same save, and is not allocated again); with other
figures it is refused, naming each that differs. A payment another writer records
between the chunk's check and its save (the save then takes it as recorded before) is
answered for as the batch sent again would answer: ``already`` or refused, never
``recorded``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import cast
from uuid import UUID, uuid5

from ledger import bulk, limits, rules
from ledger.account import Account
from ledger.accounts import require_currency
from ledger.checked import Checked
from ledger.commands import AllocatePayment, RecordPayment
from ledger.errors import (
    DuplicateExternalRef,
    InvalidRequest,
    LedgerError,
    UnknownAccount,
    UnknownInvoice,
    UnknownPayment,
)
from ledger.invoice import invoice_id_for
from ledger.money import Money
from ledger.payment import Payment
from ledger.payments import Payments, Receipt, ReceiptsRecorded

STATUSES = ("recorded", "already", "refused")
# What a payment recorded before must have kept for the same one sent again to be
# ``already``. Its status is not among them: it moves on (pending, then succeeded).
COMPARED = ("amount", "method", "received_on", "reference", "purpose")
STRATEGIES = ("oldest_first",)
_PAYMENT_NAMESPACE = UUID("5d0f4f7e-3b1c-4f0a-9a57-8c1e2b6d94a3")


def payment_id_for(account_id: UUID, external_ref: str) -> UUID:
    """The id of the payment a batch records on ``account_id`` under ``external_ref``:
    the same reference on the same account is the same payment, however often sent."""
    return uuid5(_PAYMENT_NAMESPACE, f"{account_id}/{external_ref}")


@dataclass(frozen=True)
class BatchPayment(Checked):
    """One payment of a batch: ``payment`` as ``record_payment`` takes it (its
    ``payment_id`` is not used: the id follows from the account and ``external_ref``),
    and what it pays, allocated with it in the same save: the ``allocations`` (invoice,
    amount) given, ``strategy`` "oldest_first", the whole payment to the account's
    invoice ``invoice_number`` (a file names invoices so), or none (it stays
    unallocated)."""

    payment: RecordPayment
    external_ref: str
    allocations: tuple[tuple[UUID, Money], ...] = ()
    strategy: str | None = None
    invoice_number: str | None = None


@dataclass(frozen=True)
class PaymentOutcome:
    """What became of one payment of the batch: ``recorded``, ``already`` (in the store
    before this batch, with the same figures) or ``refused`` (``error`` says why).
    ``payment_id`` is the id its reference gives, whether or not it was recorded."""

    index: int
    status: str
    payment_id: UUID | None = None
    position: int | None = None
    error: LedgerError | None = None


def counted(statuses: Iterable[str]) -> dict[str, int]:
    """How many of each outcome: ``recorded``, ``already``, ``refused``."""
    return bulk.counted(statuses, STATUSES)


position_reached = bulk.position_reached


class BulkPayments:
    """Records a batch of payments, chunk by chunk, through ``Payments.record_receipts``."""

    def __init__(self, payments: Payments) -> None:
        self.payments = payments
        self.uow = payments.uow

    def record_payments(
        self,
        cmds: Sequence[BatchPayment],
        progress: Callable[[int], None] | None = None,
    ) -> list[PaymentOutcome]:
        """Every payment's outcome, in the batch's order. ``progress`` is told how many
        payments each chunk decided, as it is saved."""
        twice = _repeated(cmds)
        return bulk.in_chunks(cmds, lambda start, chunk: self._chunk(start, chunk, twice), progress)

    def _chunk(
        self, start: int, cmds: Sequence[BatchPayment], twice: dict[int, PaymentOutcome]
    ) -> list[PaymentOutcome]:
        """The chunk's payments checked on their own and against the store (one read);
        those left to record are recorded together."""
        ids = [payment_id_for(cmd.payment.account_id, cmd.external_ref) for cmd in cmds]
        stored = self._stored(ids)
        accounts = self._accounts([cmd.payment.account_id for cmd in cmds])
        named = [_named_invoice(cmd) for cmd in cmds if cmd.invoice_number is not None]
        invoices = set(self.uow.latest_versions(named)) if named else set()
        decided: dict[int, PaymentOutcome] = {}
        waiting: list[tuple[int, BatchPayment, Receipt]] = []
        for n, (cmd, payment_id) in enumerate(zip(cmds, ids, strict=True)):
            index = start + n
            if index in twice:
                decided[index] = twice[index]
                continue
            try:
                receipt = _receipt(cmd, payment_id, accounts, invoices)
                if payment_id in stored:
                    _same_figures(stored[payment_id], cmd)
                    decided[index] = PaymentOutcome(index, "already", payment_id)
                    continue
            except LedgerError as error:
                decided[index] = PaymentOutcome(index, "refused", payment_id, error=error)
                continue
            waiting.append((index, cmd, receipt))
        decided.update(self._record(waiting))
        return [decided[start + n] for n in range(len(cmds))]

    def _stored(self, ids: list[UUID]) -> dict[UUID, Payment]:
        """The chunk's payments the store holds already, read together."""
        versions = self.uow.latest_versions(ids)
        if not versions:
            return {}
        missing = UnknownPayment("a payment of the batch is missing")
        return {p.id: p for p in self.uow.peek(Payment, list(versions), missing)}

    def _accounts(self, account_ids: list[UUID]) -> dict[UUID, Account] | None:
        """The chunk's accounts, read together, to refuse a payment on no account or in
        another currency before any is recorded (None: one of the ids names something
        else; then ``record_receipts`` refuses it as it comes)."""
        stored = list(self.uow.latest_versions(list(dict.fromkeys(account_ids))))
        try:
            found = self.uow.peek(Account, stored, UnknownAccount("not an account"))
        except UnknownAccount:
            return None
        return {account.id: account for account in found}

    def _record(
        self, waiting: list[tuple[int, BatchPayment, Receipt]]
    ) -> dict[int, PaymentOutcome]:
        """Record the receipts, in one save unless the ledger refuses one: that one is
        refused and those after it are recorded in the next (as a bank statement's lines
        are, ``channels/bank_import.py``)."""
        decided: dict[int, PaymentOutcome] = {}
        while waiting:
            recorded = self.payments.record_receipts([receipt for _, _, receipt in waiting])
            decided.update(self._taken(waiting[: recorded.recorded], recorded))
            if recorded.refused is None:
                break
            index, _, receipt = waiting[recorded.recorded]
            decided[index] = PaymentOutcome(
                index, "refused", receipt.payment.payment_id, error=recorded.refused
            )
            waiting = waiting[recorded.recorded + 1 :]
        return decided

    def _taken(
        self, taken: list[tuple[int, BatchPayment, Receipt]], recorded: ReceiptsRecorded
    ) -> dict[int, PaymentOutcome]:
        """The outcomes of the receipts a save took: ``recorded`` when the save recorded
        the payment. When another writer had recorded it since the chunk was checked (the
        save then takes it as it is), the outcome is the batch sent again's: ``already``
        or refused (``_same_figures``), and the save did not allocate it: the other
        writer's payment is theirs to allocate (``Receipt.allocate_stored``)."""
        ids = [cast(UUID, receipt.payment.payment_id) for _, _, receipt in taken]
        theirs = [payment_id for payment_id in ids if payment_id not in recorded.created]
        stored = self._stored(theirs) if theirs else {}
        decided: dict[int, PaymentOutcome] = {}
        for payment_id, (index, cmd, _) in zip(ids, taken, strict=True):
            if payment_id not in stored:
                decided[index] = PaymentOutcome(index, "recorded", payment_id, recorded.position)
                continue
            try:
                _same_figures(stored[payment_id], cmd)
                decided[index] = PaymentOutcome(index, "already", payment_id)
            except DuplicateExternalRef as error:
                decided[index] = PaymentOutcome(index, "refused", payment_id, error=error)
        return decided


def _repeated(cmds: Sequence[BatchPayment]) -> dict[int, PaymentOutcome]:
    """Refusals of the payments whose account and reference came earlier in the batch."""
    first: set[UUID] = set()
    refused: dict[int, PaymentOutcome] = {}
    for index, cmd in enumerate(cmds):
        if not cmd.external_ref.strip():
            continue  # refused as it is decided
        payment_id = payment_id_for(cmd.payment.account_id, cmd.external_ref)
        if payment_id in first:
            error = DuplicateExternalRef(
                f"payment external_ref {cmd.external_ref!r} on account {cmd.payment.account_id}"
                " is given more than once in this batch: only the first is taken",
                external_ref=cmd.external_ref,
            )
            refused[index] = PaymentOutcome(index, "refused", payment_id, error=error)
        first.add(payment_id)
    return refused


def _receipt(
    cmd: BatchPayment,
    payment_id: UUID,
    accounts: dict[UUID, Account] | None,
    invoices: set[UUID],
) -> Receipt:
    """The payment and its allocation as ``record_receipts`` takes them, checked first
    against what the chunk read together: its account (``accounts``) and an invoice
    named by its number (``invoices``, those in the store: one that is not is refused
    by that number)."""
    if not cmd.external_ref.strip():
        raise InvalidRequest(
            "external_ref must not be empty: each payment of a batch is named by the"
            " reference its sender knows it by (a receipt number), which keeps it from"
            " being recorded twice when the batch is sent again"
        )
    rules.require_text(
        cmd.external_ref, "external_ref", limits.REFERENCE_LENGTH_MAX, optional=False
    )
    rules.check_record_payment(cmd.payment)
    payment = replace(cmd.payment, payment_id=payment_id)
    allocation = _allocation(cmd, payment_id)
    _on_its_account(cmd, accounts)
    if cmd.invoice_number is not None and _named_invoice(cmd) not in invoices:
        raise UnknownInvoice(
            f"account {cmd.payment.account_id} has no invoice numbered {cmd.invoice_number!r}",
            invoice_number=cmd.invoice_number,
        )
    return Receipt(payment, allocation, allocate_stored=False)


def _on_its_account(cmd: BatchPayment, accounts: dict[UUID, Account] | None) -> None:
    """The payment's account is in the store, in the payment's currency (as
    ``record_payment`` requires), when the chunk's accounts could be read together."""
    if accounts is None:
        return
    account_id = cmd.payment.account_id
    if account_id not in accounts:
        raise UnknownAccount(f"no account {account_id}")
    require_currency(accounts[account_id], cmd.payment.amount, "payment")


def _named_invoice(cmd: BatchPayment) -> UUID:
    """The invoice ``invoice_number`` names: its id follows from its account and number."""
    return invoice_id_for(cmd.payment.account_id, cmd.invoice_number or "")


def _allocation(cmd: BatchPayment, payment_id: UUID) -> AllocatePayment | None:
    """What the payment pays, allocated with it: a request the payment keeps, so it is
    never made twice (``batch:<payment id>``)."""
    given = [bool(cmd.allocations), cmd.strategy is not None, cmd.invoice_number is not None]
    if sum(given) > 1:
        raise InvalidRequest("give one of allocations, strategy or invoice_number, not both or all")
    if cmd.strategy is not None and cmd.strategy not in STRATEGIES:
        raise InvalidRequest(f"strategy must be {' or '.join(STRATEGIES)}")
    request_id = f"batch:{payment_id}"
    stamp = cmd.payment.stamp
    if cmd.strategy is not None:
        return AllocatePayment(payment_id, request_id, stamp, strategy=cmd.strategy)
    if cmd.invoice_number is not None:
        whole = ((_named_invoice(cmd), cmd.payment.amount),)
        return AllocatePayment(payment_id, request_id, stamp, whole)
    if cmd.allocations:
        return AllocatePayment(payment_id, request_id, stamp, cmd.allocations)
    return None


def _same_figures(payment: Payment, cmd: BatchPayment) -> None:
    """The payment in the store has the figures ``cmd`` would record it with, or the
    command is refused, naming each figure that differs."""
    fields = [f for f in COMPARED if getattr(payment, f) != getattr(cmd.payment, f)]
    if fields:
        differs = "; ".join(
            f"{f} {_shown(getattr(payment, f))} in the ledger, {_shown(getattr(cmd.payment, f))}"
            " here"
            for f in fields
        )
        raise DuplicateExternalRef(
            f"payment {payment.id} is recorded under external_ref {cmd.external_ref!r} on"
            f" account {payment.account_id} already, with other figures: {differs}",
            external_ref=cmd.external_ref,
            payment_id=str(payment.id),
            fields=fields,
        )


def _shown(value: object) -> str:
    return "none" if value is None else repr(value) if isinstance(value, str) else str(value)
