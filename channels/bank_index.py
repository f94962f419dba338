"""What a bank statement line is matched on, indexed once per import: the accounts'
invoice numbers (whole, and their digits), their own references, their names, and what
each open invoice owes. A line then looks only at the few accounts its reference, payer
or amount points to, instead of at every account, and ``bank_match`` decides exactly as
if it had looked at them all: an account none of these point to has no evidence.

Accounts are named by their position in the matcher's list (and invoices by theirs in
the account's), so that what is found can be put back in that order: the order breaks
ties between equally good candidates."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from difflib import SequenceMatcher

# A payer cut short by the bank (BACS keeps 18 characters) still names the account whose
# name it begins, when this many characters or more are left.
TRUNCATED_PAYER_MIN = 8

# An invoice's place: its account's position in the matcher, its own in the account.
Spot = tuple[int, int]


class ReferenceIndex:
    """Which invoices a reference's words name, which it carries the digits of, and
    which accounts' own references it names."""

    def __init__(self) -> None:
        self._numbers: dict[str, list[Spot]] = {}
        self._digits: dict[str, list[Spot]] = {}
        self._references: dict[str, list[int]] = {}

    def add_invoice(self, spot: Spot, number: str, digits: str) -> None:
        """``number`` squashed (``INV1023``), ``digits`` its digits without leading
        zeros (``1023``)."""
        self._numbers.setdefault(number, []).append(spot)
        self._digits.setdefault(digits, []).append(spot)

    def add_reference(self, account: int, reference: str) -> None:
        self._references.setdefault(reference, []).append(account)

    def named(self, tokens: Iterable[str]) -> dict[int, set[int]]:
        """The invoices whose whole number is one of ``tokens``, by account."""
        return _by_account(self._numbers, tokens)

    def carried(self, digit_words: Iterable[str]) -> dict[int, set[int]]:
        """The invoices whose digits are one of ``digit_words``, by account."""
        return _by_account(self._digits, digit_words)

    def referenced(self, tokens: Iterable[str]) -> set[int]:
        """The accounts whose own reference is one of ``tokens``."""
        return {n for token in tokens for n in self._references.get(token, ())}


def _by_account(index: dict[str, list[Spot]], words: Iterable[str]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for word in words:
        for account, invoice in index.get(word, ()):
            found.setdefault(account, set()).add(invoice)
    return found


class PayerIndex:
    """How a payer names each account, both as companies' names (``company_name``): 2
    the account's name, or its beginning when the bank cut it short; 1 only like it
    (difflib's ratio at or above ``similarity``); 0 not.

    The names a payer is, or begins, are looked up in a sorted list. The names it may be
    like are only those with enough of its characters to pass difflib's ``quick_ratio``
    bound, found with a set of names per character (bitsets): a payer is compared with
    the few names that could be alike, never with every name."""

    def __init__(self, names: Sequence[str], similarity: float) -> None:
        self._names = names  # each account's, by position
        self._similarity = similarity
        self._accounts: dict[str, list[int]] = {}
        for account, name in enumerate(names):
            if name:
                self._accounts.setdefault(name, []).append(account)
        self._sorted = sorted(self._accounts)  # a name's bit below is its place here
        self._of_length: dict[int, int] = {}  # the names of each length
        self._having: dict[tuple[str, int], int] = {}  # the names with k or more of a character
        for place, name in enumerate(self._sorted):
            bit = 1 << place
            self._of_length[len(name)] = self._of_length.get(len(name), 0) | bit
            for char, count in Counter(name).items():
                for k in range(1, count + 1):
                    self._having[char, k] = self._having.get((char, k), 0) | bit
        self._likes: dict[str, SequenceMatcher[str]] = {}
        self._alike: dict[str, list[int]] = {}

    def named(self, payer: str) -> list[int]:
        """The accounts whose name the payer is, or begins (2), in their order."""
        if len(payer) < TRUNCATED_PAYER_MIN:
            return list(self._accounts.get(payer, ()))
        accounts: list[int] = []
        for name in self._sorted[bisect_left(self._sorted, payer) :]:
            if not name.startswith(payer):
                break
            accounts += self._accounts[name]
        return sorted(accounts)

    def score(self, payer: str, account: int) -> int:
        """How ``payer`` names the account: 2, 1 or 0."""
        ours = self._names[account]
        if not ours or not payer:
            return 0
        if ours == payer or (len(payer) >= TRUNCATED_PAYER_MIN and ours.startswith(payer)):
            return 2
        like = self._likes.get(payer)
        if like is None:  # the payer analysed once, as difflib's second sequence
            like = self._likes[payer] = SequenceMatcher(None, "", payer)
        like.set_seq1(ours)
        # The cheap upper bounds first: most names are nothing like the payer.
        similarity = self._similarity
        if like.real_quick_ratio() < similarity or like.quick_ratio() < similarity:
            return 0
        return 1 if like.ratio() >= similarity else 0

    def alike(self, payer: str) -> list[int]:
        """The accounts whose name the payer is only like (1), in their order."""
        if payer not in self._alike:
            accounts: list[int] = []
            for place in _bits(self._may_be_alike(payer)):
                same_name = self._accounts[self._sorted[place]]
                if self.score(payer, same_name[0]) == 1:
                    accounts += same_name
            self._alike[payer] = sorted(accounts)
        return self._alike[payer]

    def _may_be_alike(self, payer: str) -> int:
        """The names with enough of the payer's characters to pass ``quick_ratio``: 2 x
        shared / (both lengths) at or above the similarity lets a name lack at most
        ``spare`` of the payer's characters. Split the payer's characters into spare + 1
        groups: such a name lacks none of at least one group."""
        if not payer:
            return 0
        units = [(char, k) for char, count in Counter(payer).items() for k in range(1, count + 1)]
        found = 0
        for length, names in self._of_length.items():
            # The small addition keeps a name at the bound, whatever the float rounding.
            spare = math.floor(len(payer) - self._similarity * (length + len(payer)) / 2 + 1e-9)
            for group in (units[g :: spare + 1] for g in range(spare + 1)):
                having = names
                for unit in group:
                    having &= self._having.get(unit, 0)
                found |= having
        return found


def _bits(bits: int) -> Iterator[int]:
    """The places of the set bits, lowest first."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


class OwingIndex:
    """The open invoices by what each owes, to find the accounts an amount would pay one
    of; kept up to date as the lines of the file are allocated."""

    def __init__(self) -> None:
        self._owed: list[int] = []  # the amounts owed, ascending, each once
        self._accounts: dict[int, dict[int, int]] = {}  # owed -> {account: invoices}

    def add(self, account: int, owed: int) -> None:
        if owed <= 0:
            return  # not open
        at = self._accounts.get(owed)
        if at is None:
            at = self._accounts[owed] = {}
            insort(self._owed, owed)
        at[account] = at.get(account, 0) + 1

    def remove(self, account: int, owed: int) -> None:
        if owed <= 0:
            return
        at = self._accounts[owed]
        at[account] -= 1
        if not at[account]:
            del at[account]
        if not at:
            del self._accounts[owed]
            del self._owed[bisect_left(self._owed, owed)]

    def near(self, amount: int, tolerance: int) -> list[int]:
        """The accounts with an open invoice owing ``amount``, give or take
        ``tolerance``, in their order."""
        low = bisect_left(self._owed, amount - tolerance)
        high = bisect_right(self._owed, amount + tolerance)
        return sorted({n for owed in self._owed[low:high] for n in self._accounts[owed]})
