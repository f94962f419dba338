"""The email of a statement of account (``account.statement_sent``): the PDF rendered
again from the events up to the position the command recorded, so the attachment's
SHA-256 is the one on the event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg_pool import ConnectionPool

from channels.messages import Composed, Document
from contract.catalog import event_id
from documents.company import Company, money_text
from documents.statement_pdf import render
from ledger.account import Account
from ledger.money import Money

Handler = Callable[[dict[str, Any], Any, Account], Composed]


def composer(pool: ConnectionPool, company: Company) -> Handler:
    """The notifier's handler for the ``statement`` occasion."""

    def compose(request: dict[str, Any], event: Any, account: Account) -> Composed:
        period = (event.period_from, event.period_to)
        with pool.connection() as conn:
            rendered = render(conn, account.id, period, event.at_position, company)
        if rendered is None:  # the read model lost the account: tried again next turn
            raise LookupError(f"account {account.id} is not in the audit read model")
        statement = rendered.statement
        closing = money_text(Money(statement.closing, statement.currency))
        span = f"{period[0].isoformat()} to {period[1].isoformat()}"
        subject = f"Statement of account, {span}"  # short: a long one folds badly
        body = (
            f"Dear {statement.account_name or account.name},\n\nYour statement of account for "
            f"{span} is attached ({rendered.filename}). The balance at {period[1].isoformat()} "
            f"is {closing}.\n\n{company.name}"
        )
        document = Document("statement", event_id(event), rendered.filename, rendered.content)
        recipients = [{"role": "client", "to": event.recipient}]
        return Composed(account.id, recipients, subject, body, document)

    return compose
