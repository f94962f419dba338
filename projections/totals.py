"""Running totals in the read models: columns wider than any single amount.

One amount fits a bigint (``ledger/limits.py``: at most 10**15 minor units), but a sum of
them does not: about 9,224 of the largest on one account would overflow a bigint running
total, and the account would be held. Totals are ``numeric(38,0)``; PostgreSQL hands them
back as ``Decimal``, which the read functions turn into exact ``int`` (never a float).
Tables made before totals were wide are widened in place, once, by :func:`widen`."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ledger.limits import TOTAL_DIGITS

TOTAL = f"numeric({TOTAL_DIGITS},0)"


def widen(table: str, *columns: str) -> str:
    """SQL that turns ``table``'s bigint ``columns`` into :data:`TOTAL` in one ALTER
    TABLE, and does nothing once they are (no lock taken, no rewrite): a migration step
    safe to run at every start."""
    assert table.isidentifier() and all(c.isidentifier() for c in columns)
    names = ", ".join(f"'{c}'" for c in columns)
    return f"""
DO $$
DECLARE
    narrow text[];
BEGIN
    SELECT array_agg(format('ALTER COLUMN %I TYPE {TOTAL}', attname) ORDER BY attnum)
      INTO narrow
      FROM pg_attribute
     WHERE attrelid = '{table}'::regclass AND attname IN ({names})
       AND atttypid = 'bigint'::regtype AND NOT attisdropped;
    IF narrow IS NOT NULL THEN
        EXECUTE 'ALTER TABLE {table} ' || array_to_string(narrow, ', ');
    END IF;
END $$;
"""


def whole(value: Any) -> Any:
    """A total read back from PostgreSQL as an exact ``int`` (``None`` stays ``None``)."""
    if isinstance(value, Decimal):
        exact = int(value)
        assert exact == value, f"a total in minor units has a fraction: {value}"
        return exact
    return value


def whole_rows(rows: Iterable[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
    """``rows`` (as read with ``dict_row``) with each of ``columns`` made :func:`whole`."""
    out = []
    for row in rows:
        for column in columns:
            if column in row:
                row[column] = whole(row[column])
        out.append(row)
    return out
