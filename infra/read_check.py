"""Checking, in a save's transaction, that what its decisions read is still current.

A command decides from aggregates it read a moment before it saves; one it changes is
checked by the store's key (its next version must not exist yet), but one it only read
(the account a payment plan is checked against, the invoices an oldest-first allocation
chose among) is not. So the save says what it read, at which versions
(``ledger.unit_of_work.expected_reads``), and the save's own statement checks them with
this function (``infra/append.py``) under the store's table lock, where no other writer
can append: an aggregate changed meanwhile fails the transaction as a conflict (SQLSTATE
class 23, which the store reports as an integrity error), and the unit of work decides
the command again on what is stored now."""

from __future__ import annotations

SQLSTATE = "23000"  # integrity_constraint_violation: a conflict, as a taken version is
SCHEMA = f"""
CREATE OR REPLACE FUNCTION arledger_reads_current(p_stale bigint, p_first uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_stale > 0 THEN
        RAISE EXCEPTION 'stale read: % aggregate(s) the command read changed since (%)',
            p_stale, p_first USING ERRCODE = '{SQLSTATE}';
    END IF;
END $$;
"""
FUNCTION = "arledger_reads_current(bigint, uuid)"
