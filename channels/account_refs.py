"""Accounts named by their ``external_ref`` (the reference another system knows them by),
for the files that name them so: the invoices of a billing system's export or of an
opening book, and the opening book's accounts themselves.

The balances read model knows every account's reference; an account an opening book has
just opened may not be in it yet, so a reference it does not know is looked for in the
store, under the id the book gives it (``ledger/bulk_accounts.py``): the book's accounts
and then its invoices import back to back."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from uuid import UUID

from psycopg_pool import ConnectionPool

from ledger.application import Ledger
from projections import balance_queries


class AccountRefs:
    """The accounts' references as the balances read model had them when this was made,
    and, for a reference it did not know, the account an opening book opened under it."""

    def __init__(
        self,
        known: dict[str, UUID | None],
        opened_by_ref: Callable[[Iterable[str]], dict[str, UUID]],
    ) -> None:
        self.known = known  # None where two accounts share a reference
        self._opened_by_ref = opened_by_ref
        self._found: dict[str, UUID | None] = {}

    def account_for(self, ref: str) -> UUID | None:
        """The one account that goes by ``ref``; None when there is none, or several."""
        if ref in self.known:
            return self.known[ref]
        if ref not in self._found:  # each reference is looked for in the store once
            self._found[ref] = self._opened_by_ref([ref]).get(ref)
        return self._found[ref]


def account_refs(pool: ConnectionPool, ledger: Ledger) -> AccountRefs:
    """The references as they stand now: the read model's, and the store behind it."""
    with pool.connection() as conn:
        known = balance_queries.accounts_by_external_ref(conn)
    return AccountRefs(known, ledger.bulk_accounts.opened_by_ref)
