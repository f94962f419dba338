"""Sending an account's statement: the command records ``Account.StatementSent`` with
the period, who it went to and the SHA-256 of the PDF the caller rendered from the
events up to a store position; the notifier mails that same rendering."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from ledger import limits, rules
from ledger.account import Account
from ledger.checked import Checked
from ledger.errors import RuleViolation
from ledger.stamp import Stamp
from ledger.unit_of_work import Saved, UnitOfWork


class NoRecipient(RuleViolation):
    code = "no-recipient"
    title = "There is no address to send to"


@dataclass(frozen=True)
class SendStatement(Checked):
    account_id: UUID
    period: tuple[date, date]
    channel: str
    at_position: int
    filename: str
    sha256: str
    stamp: Stamp
    recipient: str | None = None


class StatementSends:
    """Statements sent from an account, each recorded on it with what was sent."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def send_statement(self, cmd: SendStatement) -> Saved:
        """Record the statement as sent, to the named recipient or else the account's
        email (``no-recipient`` when there is neither)."""
        rules.require_text(cmd.recipient, "recipient", limits.NAME_LENGTH_MAX, optional=True)

        def change(account: Account) -> None:
            recipient = cmd.recipient or account.email
            if not recipient:
                raise NoRecipient(f"account {account.id} has no email address; name a recipient")
            start, end = cmd.period
            account.send_statement(
                start, end, cmd.channel, recipient, cmd.at_position, cmd.filename,
                cmd.sha256, cmd.stamp,
            )  # fmt: skip

        return self.uow.change(self.uow.account, cmd.account_id, change)
