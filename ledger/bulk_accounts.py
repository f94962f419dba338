"""Opening many accounts at once: the accounts of an opening book, when a company moves
its receivables to arledger. Each account keeps the rules of a single open and its own
refusal; together they are saved as invoices are in ``ledger/bulk.py``, up to ``CHUNK``
in one transaction.

An opening book names every account by the old system's reference, its
``external_ref``, and the account's id follows from it (``account_id_for``): the same
book again, or one resumed after a crash, opens only what is not in the store yet. An
account already there with the same details is ``already``; with other details it is
refused, naming each field that differs. The invoices of the book can then name their
accounts by that reference at once, before any read model has caught up
(``opened_by_ref``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID, uuid5

from ledger import bulk
from ledger.account import Account
from ledger.accounts import opened
from ledger.commands import OpenAccount
from ledger.errors import DuplicateExternalRef, InvalidRequest, LedgerError, UnknownAccount
from ledger.rules import check_open_account
from ledger.unit_of_work import Decision, UnitOfWork, already_ran, changed

STATUSES = ("opened", "already", "refused")
# The details an account opened again must have kept for the row to be ``already``.
COMPARED = (
    "name",
    "currency",
    "payment_terms_days",
    "email",
    "external_ref",
    "credit_limit",
    "coordinator",
)
_ACCOUNT_NAMESPACE = UUID("b32fd65b-60c8-4d1b-98d0-b1108ea503a4")


def account_id_for(external_ref: str) -> UUID:
    """The id of the account an opening book opens under ``external_ref``: the same
    reference is the same account, however often the book is imported."""
    return uuid5(_ACCOUNT_NAMESPACE, external_ref)


@dataclass(frozen=True)
class AccountOutcome:
    """What became of one account of the batch: ``opened``, ``already`` (in the store
    before this batch, with the same details) or ``refused`` (``error`` says why).
    ``account_id`` is the id its reference gives, whether or not it was opened."""

    index: int
    status: str
    account_id: UUID | None = None
    position: int | None = None
    error: LedgerError | None = None


def counted(statuses: Iterable[str]) -> dict[str, int]:
    """How many of each outcome: ``opened``, ``already``, ``refused``."""
    return bulk.counted(statuses, STATUSES)


position_reached = bulk.position_reached


class BulkAccounts:
    """Opens a batch of accounts, chunk by chunk; each chunk in one transaction."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def open_accounts(
        self,
        cmds: Sequence[OpenAccount],
        progress: Callable[[int], None] | None = None,
        taken: Mapping[str, UUID | None] | None = None,
    ) -> list[AccountOutcome]:
        """Every account's outcome, in the batch's order (a command's ``account_id`` is
        not used: the id follows from its ``external_ref``). ``taken`` maps the
        references accounts already have, as the caller knows them (a read model; None
        where several share one): a row naming another account's is refused, not
        opened as its twin. ``progress`` is told how many each chunk decided."""
        twice = _repeated(cmds)
        return bulk.in_chunks(
            cmds, lambda start, chunk: self._chunk(start, chunk, twice, taken or {}), progress
        )

    def opened_by_ref(self, refs: Iterable[str]) -> dict[str, UUID]:
        """The accounts opened under ``refs`` by an opening book that still go by them,
        as stored now, whether or not the read models have caught up with them."""
        ids = {account_id_for(ref): ref for ref in refs}
        stored = list(self.uow.latest_versions(list(ids)))
        missing = UnknownAccount("an account of the opening book is missing")
        accounts = self.uow.peek(Account, stored, missing) if stored else []
        return {ids[a.id]: a.id for a in accounts if a.external_ref == ids[a.id]}

    def _chunk(
        self,
        start: int,
        cmds: Sequence[OpenAccount],
        twice: dict[int, AccountOutcome],
        taken: Mapping[str, UUID | None],
    ) -> list[AccountOutcome]:
        decided: list[AccountOutcome] = []

        def decide() -> Decision:
            decided[:] = []
            batch = _Batch(self.uow, cmds, taken)
            for n, cmd in enumerate(cmds):
                index = start + n
                decided.append(twice[index] if index in twice else batch.decide(index, cmd))
            if not batch.accounts:
                return already_ran(None)
            return changed(*batch.accounts)

        saved = self.uow.run(decide)
        return [
            AccountOutcome(o.index, o.status, o.account_id, saved.position)
            if o.status == "opened"
            else o
            for o in decided
        ]


def _repeated(cmds: Sequence[OpenAccount]) -> dict[int, AccountOutcome]:
    """Refusals of the accounts whose reference came earlier in the batch."""
    first: set[str] = set()
    refused: dict[int, AccountOutcome] = {}
    for index, cmd in enumerate(cmds):
        ref = cmd.external_ref
        if not ref:
            continue  # refused as it is decided
        if ref in first:
            error = DuplicateExternalRef(
                f"external_ref {ref!r} is given more than once in this batch: only the first"
                " is taken",
                external_ref=ref,
            )
            refused[index] = AccountOutcome(index, "refused", account_id_for(ref), error=error)
        first.add(ref)
    return refused


class _Batch:
    """One chunk being decided: which of its accounts the store holds already (one
    read), and the accounts it opens."""

    def __init__(
        self, uow: UnitOfWork, cmds: Sequence[OpenAccount], taken: Mapping[str, UUID | None]
    ) -> None:
        self.taken = taken
        self.accounts: list[Account] = []
        ids = [account_id_for(cmd.external_ref) for cmd in cmds if cmd.external_ref]
        stored = list(uow.latest_versions(ids))
        missing = UnknownAccount("an account of the opening book is missing")
        found = uow.peek(Account, stored, missing) if stored else []
        self.stored = {account.id: account for account in found}

    def decide(self, index: int, cmd: OpenAccount) -> AccountOutcome:
        try:
            ref = _required_ref(cmd)
        except InvalidRequest as error:
            return AccountOutcome(index, "refused", error=error)
        account_id = account_id_for(ref)
        try:
            check_open_account(cmd)
            self._not_taken(ref, account_id)
            if account_id in self.stored:
                _same_details(self.stored[account_id], cmd)
                return AccountOutcome(index, "already", account_id)
            self.accounts.append(opened(cmd, account_id))
        except LedgerError as error:
            return AccountOutcome(index, "refused", account_id, error=error)
        return AccountOutcome(index, "opened", account_id)

    def _not_taken(self, ref: str, account_id: UUID) -> None:
        """No account but this one goes by ``ref`` already, as far as the caller knows."""
        if ref not in self.taken or self.taken[ref] == account_id:
            return
        other = self.taken[ref]
        holder = f"account {other} goes" if other else "more than one account goes"
        raise DuplicateExternalRef(
            f"{holder} by external_ref {ref!r} already (opened outside an opening book):"
            " another would make the reference ambiguous",
            external_ref=ref,
            **({"account_id": str(other)} if other else {}),
        )


def _required_ref(cmd: OpenAccount) -> str:
    if cmd.external_ref is None or not cmd.external_ref.strip():
        raise InvalidRequest(
            "external_ref must not be empty: an opening book names each account by the"
            " reference the old system knew it by"
        )
    return cmd.external_ref


def _same_details(account: Account, cmd: OpenAccount) -> None:
    """The account in the store has the details ``cmd`` would open it with, or the
    command is refused, naming each field that differs."""
    fields = [f for f in COMPARED if getattr(account, f) != getattr(cmd, f)]
    if fields:
        differs = "; ".join(
            f"{f} {_shown(getattr(account, f))} in the ledger, {_shown(getattr(cmd, f))} here"
            for f in fields
        )
        raise DuplicateExternalRef(
            f"account {account.id} is open under external_ref {cmd.external_ref!r} already,"
            f" with other details: {differs}",
            external_ref=cmd.external_ref,
            account_id=str(account.id),
            fields=fields,
        )


def _shown(value: object) -> str:
    return "none" if value is None else repr(value) if isinstance(value, str) else str(value)
