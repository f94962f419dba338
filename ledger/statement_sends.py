"""Sending an account's statement: the command records ``Account.StatementSent`` with
the period, who it went to and the SHA-256 of the PDF the caller rendered from the
events up to a store position; the notifier mails that same rendering."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from ledger import limits, rules
from ledger.checked import Checked
from ledger.errors import RuleViolation
from ledger.stamp import Stamp
from ledger.store import LedgerStore, Saved


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


class StatementSends(LedgerStore):
    def send_statement(self, cmd: SendStatement) -> Saved:
        """Record the statement as sent, to the named recipient or else the account's
        email (``no-recipient`` when there is neither)."""
        rules.require_text(cmd.recipient, "recipient", limits.NAME_LENGTH_MAX, optional=True)

        def attempt() -> Saved:
            account = self.get_account(cmd.account_id)
            recipient = cmd.recipient or account.email
            if not recipient:
                raise NoRecipient(f"account {account.id} has no email address; name a recipient")
            start, end = cmd.period
            account.send_statement(
                start, end, cmd.channel, recipient, cmd.at_position, cmd.filename,
                cmd.sha256, cmd.stamp,
            )  # fmt: skip
            return Saved(account, self._position(self.save(account)))

        return self._retrying(attempt)
