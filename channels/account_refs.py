"""Accounts named by their ``external_ref`` (the reference another system knows them by),
for the files that name them so: the invoices of a billing system's export or of an
opening book, and the opening book's accounts themselves.

The balances read model knows every account's reference; an account an opening book has
just opened may not be in it yet, so a reference it does not know is looked for in the
store, under the id the book gives it (``ledger/bulk_accounts.py``): the book's accounts
and then its invoices import back to back. A reference several accounts go by names
none of them: a row naming it is refused as ambiguous, naming the accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from uuid import UUID

from psycopg_pool import ConnectionPool

from ledger.application import Ledger
from projections import balance_queries


class AmbiguousRef(ValueError):
    """More than one account goes by the reference: which one a row means is unknown."""

    def __init__(self, ref: str, holders: list[UUID]) -> None:
        named = ", ".join(str(h) for h in holders) if len(holders) > 1 else None
        which = f"accounts {named} go by it" if named else "more than one account goes by it"
        super().__init__(
            f"external_ref {ref!r} is ambiguous: {which}; name the account by account_id"
        )
        self.ref, self.holders = ref, holders


class AccountRefs:
    """The accounts' references as the balances read model had them when this was made,
    and, for a reference it did not know, the account an opening book opened under it."""

    def __init__(
        self,
        known: dict[str, UUID | None],
        opened_by_ref: Callable[[Iterable[str]], dict[str, UUID]],
        holders: Callable[[str], list[UUID]] = lambda ref: [],
    ) -> None:
        self.known = known  # None where two accounts share a reference
        self._opened_by_ref = opened_by_ref
        self._holders = holders
        self._found: dict[str, UUID | None] = {}
        self._shared_by: dict[str, list[UUID]] = {}

    def account_for(self, ref: str) -> UUID | None:
        """The one account that goes by ``ref``; None when none does. ``AmbiguousRef``
        (a ``ValueError``) when several do, naming them."""
        if ref in self.known:
            found = self.known[ref]
            if found is None:
                if ref not in self._shared_by:  # each shared reference is looked up once
                    self._shared_by[ref] = self._holders(ref)
                raise AmbiguousRef(ref, self._shared_by[ref])
            return found
        if ref not in self._found:  # each reference is looked for in the store once
            self._found[ref] = self._opened_by_ref([ref]).get(ref)
        return self._found[ref]


def account_refs(pool: ConnectionPool, ledger: Ledger) -> AccountRefs:
    """The references as they stand now: the read model's, and the store behind it."""
    with pool.connection() as conn:
        known = balance_queries.accounts_by_external_ref(conn)

    def holders(ref: str) -> list[UUID]:
        with pool.connection() as conn:
            return balance_queries.accounts_going_by(conn, ref)

    return AccountRefs(known, ledger.bulk_accounts.opened_by_ref, holders)
