"""Matching one bank statement line to an account and its invoices.

The evidence a line carries, strongest first:

- its reference names an invoice number of the account (``INV-1023``, ``inv 1023``:
  case, spaces and punctuation do not matter);
- its reference names the account's external reference;
- its payer is the account's name (``ACME LTD`` is ``Acme Limited``; a payer cut short
  by the bank, as BACS cuts names to 18 characters, still counts when 8 or more
  characters are left);
- weaker: the reference carries the digits of an invoice number (``1023``), or the payer
  is only like the name (similarity at or above the setting);
- the amount: equal to what an invoice (or the whole account) owes, give or take the
  amount tolerance (a bank charge taken off on the way).

The decision:

- **allocated**: one account, and the invoices are clear: those the reference names, or
  else the one open invoice (or the whole account) the amount pays. Weak evidence counts
  only when the amount agrees with it.
- **exception, payment on the account** (``allocation-unclear``, ``overpaid``,
  ``named-invoice-paid``): the account is certain but what it pays is not; the payment
  is recorded on the account, unallocated, for a person to place.
- **exception, nothing recorded** (``account-ambiguous``, ``account-unclear``,
  ``reference-and-payer-disagree``, ``no-match``): the account is not certain; the line
  waits with its candidates, best first.

A match never takes a payment in one currency onto an invoice in another."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from channels.bank_csv import StatementLine
from channels.bank_index import OwingIndex, PayerIndex, ReferenceIndex
from ledger.money import Money

COMPANY_WORDS = frozenset(
    [
        "LTD",
        "LIMITED",
        "PLC",
        "LLC",
        "LLP",
        "INC",
        "CO",
        "COMPANY",
        "THE",
        "AND",
        "CORP",
        "CORPORATION",
        "GMBH",
        "SA",
        "BV",
    ]
)
DIGITS_MIN = 4
CANDIDATES_MAX = 5


@dataclass
class InvoiceFacts:
    invoice_id: UUID
    number: str
    outstanding: int
    due_on: date


@dataclass
class AccountFacts:
    account_id: UUID
    name: str
    currency: str
    external_ref: str | None
    invoices: list[InvoiceFacts] = field(default_factory=list)

    def open_invoices(self) -> list[InvoiceFacts]:
        return sorted((i for i in self.invoices if i.outstanding > 0), key=lambda i: i.due_on)

    def owes(self) -> int:
        return sum(i.outstanding for i in self.invoices if i.outstanding > 0)


@dataclass
class Decision:
    """``outcome`` is ``allocated`` or ``exception``; ``account_id`` is set when the
    payment is to be recorded on that account; ``allocations`` are minor units."""

    outcome: str
    reason: str
    account_id: UUID | None = None
    allocations: list[tuple[InvoiceFacts, int]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)


def company_name(text: str) -> str:
    words = re.sub(r"[^A-Z0-9]+", " ", text.upper().replace("&", " AND ")).split()
    return " ".join(w for w in words if w not in COMPANY_WORDS)


def squash(text: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "", text.upper())


def reference_tokens(reference: str) -> set[str]:
    """The reference's words, and each run of two or three of them joined (``INV 1023``
    is also ``INV1023``)."""
    words = re.findall(r"[A-Z0-9]+", reference.upper())
    joined = {"".join(words[i : i + n]) for n in (2, 3) for i in range(len(words) - n + 1)}
    return set(words) | joined


@dataclass
class Evidence:
    account: AccountFacts
    named: list[InvoiceFacts]  # invoices the reference names exactly
    digits: list[InvoiceFacts]  # invoices whose digits the reference carries
    external_ref: bool
    payer: int  # 2 the name, 1 like the name, 0 not

    def describe(self) -> list[str]:
        said = [f"reference names invoice {i.number}" for i in self.named]
        said += [f"reference carries the digits of invoice {i.number}" for i in self.digits]
        if self.external_ref:
            said.append(f"reference names the account's reference {self.account.external_ref}")
        if self.payer:
            said.append(f"payer {'is' if self.payer == 2 else 'is like'} {self.account.name!r}")
        return said

    def strength(self) -> tuple[int, int]:
        ref = 3 if self.named else 2 if self.external_ref else 1 if self.digits else 0
        return ref, self.payer


class Matcher:
    """Matches lines against the accounts of one currency. ``settle`` takes what a
    decision allocated off the invoices, so the next line of the file sees it.

    What a line can match on is indexed once per import (``bank_index``): a line
    weighs only the accounts its reference, payer or amount points to, and decides as
    if it had weighed every account, since no other account has any evidence."""

    def __init__(self, accounts: list[AccountFacts], tolerance: int, similarity: int) -> None:
        self.accounts = accounts
        self.tolerance = tolerance
        self.similarity = similarity / 100
        self._references = ReferenceIndex()
        self._owing = OwingIndex()
        self._account_of: dict[UUID, int] = {}
        self._by_id = {account.account_id: account for account in accounts}
        for n, account in enumerate(accounts):
            reference = squash(account.external_ref or "")
            if len(reference) >= 3:
                self._references.add_reference(n, reference)
            for k, invoice in enumerate(account.invoices):
                digits = re.sub(r"\D", "", invoice.number).lstrip("0")
                self._references.add_invoice((n, k), squash(invoice.number), digits)
                self._owing.add(n, invoice.outstanding)
                self._account_of[invoice.invoice_id] = n
        self._payers = PayerIndex([company_name(a.name) for a in accounts], self.similarity)

    def account(self, account_id: UUID) -> AccountFacts:
        """The account a decision placed a line on."""
        return self._by_id[account_id]

    def held(self, line: StatementLine, reason: str, why: str) -> Decision:
        """The line waits for a person, nothing recorded, however sure its match: ``why``
        says what stops it; the account and invoices the match found are its candidates."""
        decision = self.decide(line)
        candidates = decision.candidates
        if decision.account_id is not None:
            account = self._by_id[decision.account_id]
            named = [invoice for invoice, _ in decision.allocations]
            candidates = invoice_candidates(account, line.amount, decision.evidence, named)
        return Decision("exception", reason, None, [], [why], candidates)

    def settle(self, decision: Decision, sign: int = 1) -> None:
        """Take what ``decision`` allocated off its invoices (``sign`` -1: give it back,
        when the ledger refused the line after all)."""
        for invoice, amount in decision.allocations:
            account = self._account_of[invoice.invoice_id]
            self._owing.remove(account, invoice.outstanding)
            invoice.outstanding -= sign * amount
            self._owing.add(account, invoice.outstanding)

    def _found(self, line: StatementLine, payer: str) -> tuple[list[Evidence], set[int]]:
        """The evidence of each account the line's reference points to or its payer
        names (not those it is only like), strongest first; and those accounts'
        positions."""
        tokens = reference_tokens(line.reference)
        digit_words = {
            w.lstrip("0") for w in re.findall(r"\d+", line.reference) if len(w) >= DIGITS_MIN
        }
        named = self._references.named(tokens)
        carried = self._references.carried(digit_words)
        referenced = self._references.referenced(tokens)
        pointed = named.keys() | carried.keys() | referenced
        found = []
        for n in sorted(pointed.union(self._payers.named(payer))):
            account, by_number = self.accounts[n], named.get(n, set())
            evidence = Evidence(
                account,
                [account.invoices[k] for k in sorted(by_number)],
                [account.invoices[k] for k in sorted(carried.get(n, set()) - by_number)],
                n in referenced,
                self._payers.score(payer, n),
            )
            if any(evidence.strength()):
                found.append(evidence)
        found.sort(key=lambda e: e.strength(), reverse=True)
        return found, pointed

    def _alike(self, payer: str, pointed: set[int]) -> list[Evidence]:
        """The accounts whose only evidence is that the payer is like their name: the
        weakest there is, after all other. The first ``CANDIDATES_MAX`` of them, in the
        accounts' order, decide as all of them would: a line goes to such an account
        only when it is the only one, and shows at most that many candidates."""
        alike = (n for n in self._payers.alike(payer) if n not in pointed)
        return [
            Evidence(self.accounts[n], [], [], False, 1)
            for n in itertools.islice(alike, CANDIDATES_MAX)
        ]

    def _near(self, amount: int, owed: int) -> bool:
        return abs(amount - owed) <= self.tolerance

    def decide(self, line: StatementLine) -> Decision:
        payer = company_name(line.payer)
        found, pointed = self._found(line, payer)
        amount = line.amount.amount_minor
        best = [e for e in found if e.strength()[0] == (found[0].strength()[0] if found else 0)]
        if found and best[0].strength()[0] >= 2:
            return self._by_reference(line, found, best)
        if found and best[0].strength()[0] == 1:
            agreeing = [e for e in best if e.payer or self._near(amount, _owed(e.digits))]
            if len(agreeing) == 1:
                return self._place(line, agreeing[0], agreeing[0].digits, weak=True)
        named = [e for e in found if e.payer == 2]
        if len(named) == 1:
            return self._place(line, named[0], [], weak=False)
        # From here on the accounts the payer is only like count: looked for only now,
        # and only when they can change the decision or its candidates.
        if not named or len(found) < CANDIDATES_MAX:
            found += self._alike(payer, pointed)
        by_payer = named or [e for e in found if e.payer == 1]
        if len(by_payer) == 1:
            return self._place(line, by_payer[0], [], weak=True)
        if found:
            return self._exception("account-ambiguous", found, amount)
        return self._exception("no-match", self._by_amount(amount), amount)

    def _by_reference(
        self, line: StatementLine, found: list[Evidence], best: list[Evidence]
    ) -> Decision:
        amount = line.amount.amount_minor
        if len(best) > 1:
            top = max(e.payer for e in best)
            best = [e for e in best if e.payer == top]
            if len(best) > 1:
                return self._exception("account-ambiguous", best, amount)
        chosen = best[0]
        rival = [e for e in found if e.payer == 2 and e.account is not chosen.account]
        if rival and chosen.payer == 0:
            return self._exception("reference-and-payer-disagree", [chosen, *rival], amount)
        return self._place(line, chosen, chosen.named, weak=False)

    def _place(
        self, line: StatementLine, evidence: Evidence, named: list[InvoiceFacts], weak: bool
    ) -> Decision:
        """The account is found; which invoices does the amount pay?"""
        amount, account = line.amount.amount_minor, evidence.account
        said = evidence.describe()
        open_named = [i for i in named if i.outstanding > 0]
        if open_named:
            plan = _oldest_first(open_named, amount)
            if amount - sum(a for _, a in plan) > self.tolerance:
                return Decision(
                    "exception", "overpaid", account.account_id, plan, said,
                    invoice_candidates(account, line.amount),
                )  # fmt: skip
            return Decision("allocated", "reference", account.account_id, plan, said)
        exact = [i for i in account.open_invoices() if self._near(amount, i.outstanding)]
        if len(exact) == 1 and not named:
            said.append(f"amount pays invoice {exact[0].number}")
            plan = [(exact[0], min(amount, exact[0].outstanding))]
            return Decision("allocated", "amount", account.account_id, plan, said)
        if not named and account.owes() and self._near(amount, account.owes()):
            said.append("amount pays everything the account owes")
            plan = _oldest_first(account.open_invoices(), amount)
            return Decision("allocated", "amount", account.account_id, plan, said)
        if weak:
            return self._exception("account-unclear", [evidence], amount)
        reason = "named-invoice-paid" if named else "allocation-unclear"
        candidates = invoice_candidates(account, line.amount)
        return Decision("exception", reason, account.account_id, [], said, candidates)

    def _by_amount(self, amount: int) -> list[Evidence]:
        """Accounts with an open invoice the amount would pay: hints for a person."""
        hints = []
        for n in self._owing.near(amount, self.tolerance):
            account = self.accounts[n]
            paid = [i for i in account.open_invoices() if self._near(amount, i.outstanding)]
            if paid:
                hints.append(Evidence(account, [], paid, False, 0))
        return hints

    def _exception(self, reason: str, found: list[Evidence], amount: int) -> Decision:
        ranked = sorted(found, key=lambda e: e.strength(), reverse=True)[:CANDIDATES_MAX]
        candidates = []
        for e in ranked:
            candidates.append(
                {
                    "account_id": str(e.account.account_id),
                    "account_name": e.account.name,
                    "evidence": e.describe() or ["amount pays an open invoice"],
                    "invoices": [
                        _invoice_json(i, e.account.currency)
                        for i in (e.named or e.digits or e.account.open_invoices())[:10]
                    ],
                }
            )
        return Decision("exception", reason, None, [], [], candidates)


def _owed(invoices: list[InvoiceFacts]) -> int:
    return sum(max(i.outstanding, 0) for i in invoices)


def _oldest_first(invoices: list[InvoiceFacts], amount: int) -> list[tuple[InvoiceFacts, int]]:
    plan, left = [], amount
    for invoice in sorted(invoices, key=lambda i: i.due_on):
        take = min(left, invoice.outstanding)
        if take > 0:
            plan.append((invoice, take))
            left -= take
    return plan


def _invoice_json(invoice: InvoiceFacts, currency: str) -> dict[str, Any]:
    return {
        "invoice_id": str(invoice.invoice_id),
        "number": invoice.number,
        "outstanding": Money(invoice.outstanding, currency).to_json(),
        "due_on": invoice.due_on.isoformat(),
    }


def invoice_candidates(
    account: AccountFacts,
    amount: Money,
    evidence: list[str] | None = None,
    named: list[InvoiceFacts] | None = None,
) -> list[dict[str, Any]]:
    """The account as a person's one candidate: its open invoices, those the match
    ``named`` first, then those nearest the amount, and why the account (``evidence``;
    by default, that they are its)."""
    first = {invoice.invoice_id for invoice in named or []}
    ranked = sorted(
        account.open_invoices(),
        key=lambda i: (
            i.invoice_id not in first,
            abs(i.outstanding - amount.amount_minor),
            i.due_on,
        ),
    )
    return [
        {
            "account_id": str(account.account_id),
            "account_name": account.name,
            "evidence": evidence or ["open invoice of the account"],
            "invoices": [_invoice_json(i, account.currency) for i in ranked[:10]],
        }
    ]
