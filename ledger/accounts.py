"""Commands on a client's account: opening it, its details, its standing, the contact
log, and the steps of a chase that go beyond notices (escalation, insolvency, referral
to a collection agency, doubtful debt)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from ledger import limits, rules
from ledger.account import Account
from ledger.commands import (
    ChangeStanding,
    Escalate,
    FlagDoubtfulDebt,
    LogContact,
    OpenAccount,
    OpenInsolvencyCase,
    ReferForCollection,
    SetUpPaymentMethod,
    UpdateAccount,
)
from ledger.errors import CurrencyMismatch
from ledger.money import Money
from ledger.unit_of_work import Saved, UnitOfWork, new


def require_currency(account: Account, amount: Money, what: str) -> None:
    """``amount`` is in the account's currency, or the command is refused."""
    if amount.currency != account.currency:
        raise CurrencyMismatch(
            f"account {account.id} is in {account.currency}; the {what} is in {amount.currency}",
            expected=account.currency,
            got=amount.currency,
        )


def outstanding_of(uow: UnitOfWork, account: Account) -> Money:
    """What the account owes now, from its invoices in the store."""
    owed = Money.zero(account.currency)
    for invoice in uow.invoices(account.invoice_ids()):
        owed = owed + invoice.outstanding
    return owed


def opened(cmd: OpenAccount, account_id: UUID | None) -> Account:
    """The account ``cmd`` opens, its rules checked, not yet saved: opened, then given
    its coordinator when the command names one."""
    rules.check_open_account(cmd)
    account = new(
        Account,
        "Opened",
        account_id,
        name=cmd.name,
        currency=cmd.currency,
        payment_terms_days=cmd.payment_terms_days,
        email=cmd.email,
        external_ref=cmd.external_ref,
        credit_limit=cmd.credit_limit,
        stamp=cmd.stamp,
    )
    if cmd.coordinator is not None:
        account.update_details({"coordinator": cmd.coordinator}, None, cmd.stamp)
    return account


class Accounts:
    """The account's own commands: each loads the account, applies the command (the
    account checks its rules) and saves it."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def open_account(self, cmd: OpenAccount) -> Saved:
        return self.uow.create(opened(cmd, cmd.account_id), self.uow.account)

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
            owed = outstanding_of(self.uow, account)
            account.refer_for_collection(
                cmd.kind, cmd.agency, cmd.collection_value, owed, cmd.reason, cmd.stamp
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
                cmd.amount, outstanding_of(self.uow, a), cmd.reason, cmd.stamp
            ),
        )

    def _on_account(self, account_id: UUID, change: Callable[[Account], object]) -> Saved:
        return self.uow.change(self.uow.account, account_id, change)
