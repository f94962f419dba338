"""The statement of account as a PDF, as it is both served and mailed: rendered from the
account's events in the audit read model up to a store position, so the command that
sends it, the notifier that mails it and ``GET .../statement?format=pdf&at_position=``
all produce the same bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from psycopg import Connection

from documents import pdf, sources
from documents.company import Company
from documents.statement import Statement


@dataclass(frozen=True)
class RenderedStatement:
    statement: Statement
    content: bytes

    @property
    def filename(self) -> str:
        return filename(self.statement, "pdf")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def filename(s: Statement, ext: str) -> str:
    return f"statement-{s.account_id[:8]}-{s.period_from}-{s.period_to}.{ext}"


def render(
    conn: Connection[Any],
    account_id: UUID,
    period: tuple[date, date],
    upto: int,
    company: Company,
) -> RenderedStatement | None:
    """None when the read model holds nothing of the account up to ``upto``."""
    statement = sources.statement(conn, account_id, period, None, upto)
    if statement is None:
        return None
    return RenderedStatement(statement, pdf.render_statement(statement, company))
