"""The write-offs waiting for a manager: requested and neither approved nor rejected,
from the audit read model, with the account's name and the invoice's figures."""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

PENDING_SQL = """
SELECT r.subject AS write_off_id, r.account_id, r.data, r.recorded_at, r.position,
       a.name AS account_name, i.number AS invoice_number, i.due_on, i.currency,
       i.amount_minor - i.allocated_minor - i.credited_minor - i.written_off_minor
           - i.voided_minor AS outstanding_minor,
       i.written_off_minor
  FROM audit_entries r
  LEFT JOIN balance_accounts a ON a.account_id = r.account_id
  LEFT JOIN balance_invoices i ON i.invoice_id = (r.data->>'invoice_id')::uuid
 WHERE r.type = 'arledger.write_off.requested'
   AND NOT EXISTS (
       SELECT 1 FROM audit_entries d
        WHERE d.subject = r.subject
          AND d.type IN ('arledger.write_off.approved', 'arledger.write_off.rejected'))
 ORDER BY r.position
 LIMIT %(limit)s
"""


def pending(conn: Connection[Any], limit: int) -> list[dict[str, Any]]:
    """The oldest ``limit`` write-offs still waiting for a decision."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(PENDING_SQL, {"limit": limit}).fetchall()
