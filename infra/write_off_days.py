"""What each actor has authorised writing off, per day (UTC) and currency: a row per
applied write-off, inserted by the event store's recorder in the transaction of the
``WrittenOff`` event (``ledger/daily_authority.py``). Rows are only ever inserted. The
check and the insert are one function, run under the store's table lock, so a charge
that would pass the actor's daily limit fails the whole transaction: nothing is
appended."""

from __future__ import annotations

from datetime import date

from psycopg import Cursor
from psycopg.rows import DictRow

from ledger.daily_authority import LIMIT_SQLSTATE

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS write_off_authority (
    write_off_id uuid PRIMARY KEY,
    actor text NOT NULL,
    day date NOT NULL,
    currency text NOT NULL,
    amount_minor bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS write_off_authority_by_actor_day
    ON write_off_authority (actor, day, currency);
CREATE OR REPLACE FUNCTION arledger_charge_write_off(
    p_write_off uuid, p_actor text, p_day date, p_currency text, p_amount bigint,
    p_limit bigint
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    used numeric;
BEGIN
    SELECT coalesce(sum(amount_minor), 0) INTO used FROM write_off_authority
     WHERE actor = p_actor AND day = p_day AND currency = p_currency
       AND write_off_id <> p_write_off;
    IF used + p_amount > p_limit THEN
        RAISE EXCEPTION 'daily write-off limit of % passed: % already, % more',
            p_actor, used, p_amount USING ERRCODE = '{LIMIT_SQLSTATE}';
    END IF;
    INSERT INTO write_off_authority (write_off_id, actor, day, currency, amount_minor)
    VALUES (p_write_off, p_actor, p_day, p_currency, p_amount) ON CONFLICT DO NOTHING;
END $$;
"""


def authorised_on(curs: Cursor[DictRow], actor: str, day: date, currency: str) -> int:
    row = curs.execute(
        "SELECT coalesce(sum(amount_minor), 0) AS used FROM write_off_authority"
        " WHERE actor = %s AND day = %s AND currency = %s",
        (actor, day, currency),
    ).fetchone()
    return int(row["used"]) if row else 0
