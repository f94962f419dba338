"""Raising many invoices at once: a billing system's month-end run, an opening book
brought over from another system. Each invoice keeps its own rules and its own refusal;
together they are saved in as few transactions as the batch allows (one lock, one
commit for up to ``CHUNK`` invoices), which is what makes a run of thousands fast.

An invoice's id follows from its account and number (``invoice_id_for``), so a batch sent
again, or resumed after a crash, raises only what is not in the store yet: an invoice
already there with the same amount and dates is ``already``; with other figures it is
refused as a number already used."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar
from uuid import UUID

from ledger import rules
from ledger.account import Account
from ledger.accounts import outstanding_of, require_currency
from ledger.commands import RaiseInvoice
from ledger.errors import DuplicateInvoiceNumber, LedgerError
from ledger.invoice import Invoice, invoice_id_for
from ledger.invoicing import raise_on
from ledger.money import Money
from ledger.unit_of_work import Decision, UnitOfWork, already_ran, changed

STATUSES = ("raised", "already", "refused")
# Invoices saved in one transaction: large enough that the commit is a small share of
# each invoice's cost, small enough that a conflict re-decides little and the events
# table's lock is held briefly.
CHUNK = 250

C = TypeVar("C")
Out = TypeVar("Out")


def in_chunks(
    cmds: Sequence[C],
    decide: Callable[[int, Sequence[C]], list[Out]],
    progress: Callable[[int], None] | None = None,
) -> list[Out]:
    """Every command's outcome, in the batch's order: ``decide`` takes ``CHUNK`` of them
    at a time (with where the chunk starts) and saves them in one transaction;
    ``progress`` is told how many each chunk decided, as it is saved. The bulk paths of
    invoices, accounts and payments all run so."""
    outcomes: list[Out] = []
    for start in range(0, len(cmds), CHUNK):
        chunk = cmds[start : start + CHUNK]
        outcomes += decide(start, chunk)
        if progress is not None:
            progress(len(chunk))
    return outcomes


@dataclass(frozen=True)
class Outcome:
    """What became of one invoice of the batch: ``raised``, ``already`` (in the store
    before this batch, with the same figures) or ``refused`` (``error`` says why)."""

    index: int
    status: str
    invoice_id: UUID | None = None
    position: int | None = None
    error: LedgerError | None = None


def counted(statuses: Iterable[str], kinds: Sequence[str] = STATUSES) -> dict[str, int]:
    """How many of each outcome (``kinds``: ``raised``, ``already``, ``refused`` for
    invoices)."""
    counts = dict.fromkeys(kinds, 0)
    for status in statuses:
        counts[status] += 1
    return counts


class Positioned(Protocol):
    @property
    def position(self) -> int | None: ...


def position_reached(outcomes: Iterable[Positioned]) -> int | None:
    """The last store position the batch's saves reached (None: it saved nothing)."""
    return max((o.position for o in outcomes if o.position is not None), default=None)


class BulkInvoicing:
    """Raises a batch of invoices, chunk by chunk; each chunk in one transaction."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def raise_invoices(
        self,
        cmds: Sequence[RaiseInvoice],
        progress: Callable[[int], None] | None = None,
    ) -> list[Outcome]:
        """Every invoice's outcome, in the batch's order. ``progress`` is told how many
        invoices each chunk decided, as it is saved."""
        twice = _repeated(cmds)
        return in_chunks(cmds, lambda start, chunk: self._chunk(start, chunk, twice), progress)

    def _chunk(
        self, start: int, cmds: Sequence[RaiseInvoice], twice: dict[int, Outcome]
    ) -> list[Outcome]:
        decided: list[Outcome] = []

        def decide() -> Decision:
            decided[:] = []
            batch = _Batch(self.uow, cmds)
            for n, cmd in enumerate(cmds):
                index = start + n
                decided.append(twice[index] if index in twice else batch.decide(index, cmd))
            if not batch.invoices:
                return already_ran(None)
            # The accounts' claims on the numbers, then the invoices: one transaction.
            return changed(*batch.accounts.values(), *batch.invoices)

        saved = self.uow.run(decide)
        return [
            Outcome(o.index, o.status, o.invoice_id, saved.position) if o.status == "raised" else o
            for o in decided
        ]


def _repeated(cmds: Sequence[RaiseInvoice]) -> dict[int, Outcome]:
    """Refusals of the invoices whose account and number came earlier in the batch."""
    first: dict[tuple[UUID, str], int] = {}
    refused: dict[int, Outcome] = {}
    for index, cmd in enumerate(cmds):
        key = (cmd.account_id, cmd.number)
        if key in first:
            error = DuplicateInvoiceNumber(
                f"invoice number {cmd.number!r} on account {cmd.account_id} is given more"
                " than once in this batch: only the first is taken"
            )
            refused[index] = Outcome(index, "refused", invoice_id_for(*key), error=error)
        else:
            first[key] = index
    return refused


class _Batch:
    """One chunk being decided: the accounts it touches, loaded once each, what each
    would owe (for credit limits), and the invoices it raises."""

    def __init__(self, uow: UnitOfWork, cmds: Sequence[RaiseInvoice]) -> None:
        self.uow = uow
        self.accounts: dict[UUID, Account] = {}
        self.exposure: dict[UUID, Money] = {}
        self.invoices: list[Invoice] = []
        ids = [invoice_id_for(cmd.account_id, cmd.number) for cmd in cmds]
        self.stored = set(uow.latest_versions(ids))  # one read for the whole chunk

    def decide(self, index: int, cmd: RaiseInvoice) -> Outcome:
        invoice_id = invoice_id_for(cmd.account_id, cmd.number)
        try:
            rules.check_raise_invoice(cmd)
            if invoice_id in self.stored:
                return self._already(index, invoice_id, cmd)
            account = self._account(cmd.account_id)
            require_currency(account, cmd.amount, "invoice")
            self.invoices.append(self._raise(account, cmd))
        except LedgerError as error:
            return Outcome(index, "refused", invoice_id, error=error)
        return Outcome(index, "raised", invoice_id)

    def _account(self, account_id: UUID) -> Account:
        if account_id not in self.accounts:
            self.accounts[account_id] = self.uow.account(account_id)
        return self.accounts[account_id]

    def _raise(self, account: Account, cmd: RaiseInvoice) -> Invoice:
        exposure: Money | None = None
        if account.credit_limit:
            if account.id not in self.exposure:
                self.exposure[account.id] = outstanding_of(self.uow, account)
            exposure = self.exposure[account.id] = self.exposure[account.id] + cmd.amount
        # The account refuses a number used before, or earlier in this chunk.
        return raise_on(account, cmd, exposure)

    def _already(self, index: int, invoice_id: UUID, cmd: RaiseInvoice) -> Outcome:
        (stored,) = self.uow.invoices([invoice_id])
        same = (stored.amount, stored.issued_on, stored.due_on) == (
            cmd.amount,
            cmd.issued_on,
            cmd.due_on,
        )
        if not same:
            raise DuplicateInvoiceNumber(
                f"invoice number {cmd.number!r} is already used on account {cmd.account_id}"
                f" for {stored.amount}, issued {stored.issued_on}, due {stored.due_on}"
            )
        return Outcome(index, "already", invoice_id)
