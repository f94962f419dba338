"""Money: an integer amount in minor units and an ISO 4217 currency code, as Stripe does.

No float ever becomes money: parsing refuses floats, booleans and numeric strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.copying import share_frozen
from ledger.errors import CurrencyMismatch, MalformedMoney, UnknownCurrency
from ledger.limits import AMOUNT_MINOR_MAX

_ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMAL = "CLF UYW"
_TWO_DECIMAL = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VES "
    "VED WST XCD XCG YER ZAR ZMW ZWG"
)

_set = object.__setattr__  # how a frozen dataclass sets its own fields

CURRENCY_EXPONENTS: dict[str, int] = {
    **{code: 0 for code in _ZERO_DECIMAL.split()},
    **{code: 2 for code in _TWO_DECIMAL.split()},
    **{code: 3 for code in _THREE_DECIMAL.split()},
    **{code: 4 for code in _FOUR_DECIMAL.split()},
}


def check_currency(code: Any) -> str:
    """Return ``code`` if it is an ISO 4217 currency this ledger knows, else raise."""
    if not isinstance(code, str) or code not in CURRENCY_EXPONENTS:
        raise UnknownCurrency(
            f"currency must be an upper-case ISO 4217 code such as 'GBP'; got {code!r}"
        )
    return code


def exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency``: JPY 0, GBP 2, KWD 3, CLF 4."""
    return CURRENCY_EXPONENTS[check_currency(currency)]


@share_frozen
@dataclass(frozen=True, order=False)
class Money:
    """An amount of one currency in its minor units (pence, cents, fils, yen)."""

    amount_minor: int
    currency: str

    def __copy__(self) -> Money:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Money:
        """An amount never changes: a copied aggregate (each command's, loaded from the
        cache) shares its amounts instead of rebuilding each one."""
        return self

    def __post_init__(self) -> None:
        if type(self.amount_minor) is not int:
            raise MalformedMoney(
                f"amount must be an integer number of minor units; got {self.amount_minor!r}"
            )
        # No ceiling here: a total (an account's lifetime invoiced, a portfolio's aged
        # debt) may pass what one amount may be. Amounts coming in are bounded by
        # ``parse`` and by the commands' rules (``rules.require_positive``).
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, value: Any, *, field: str = "amount") -> Money:
        """Build Money from ``{"amount": 12345, "currency": "GBP"}``, refusing anything else."""
        if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
            raise MalformedMoney(
                f"{field} must be an object with exactly 'amount' (integer minor units) "
                f"and 'currency' (ISO 4217); got {value!r}"
            )
        amount = value["amount"]
        if type(amount) is not int:
            raise MalformedMoney(
                f"{field}.amount must be an integer number of minor units "
                f"(12345 is 123.45 GBP); got {amount!r}"
            )
        if abs(amount) > AMOUNT_MINOR_MAX:
            raise MalformedMoney(
                f"{field}.amount {amount} exceeds the largest amount the ledger takes, "
                f"{AMOUNT_MINOR_MAX} minor units"
            )
        return cls(amount, check_currency(value["currency"]))

    def to_json(self) -> dict[str, Any]:
        return {"amount": self.amount_minor, "currency": self.currency}

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency} with {other.currency}",
                expected=self.currency,
                got=other.currency,
            )

    def _in_kind(self, amount_minor: int) -> Money:
        """An amount of this one's currency, from arithmetic on checked amounts: an
        integer in a currency already checked, so built without checking again (an
        allocation oldest first sums and compares every invoice of the account)."""
        money = object.__new__(Money)
        _set(money, "amount_minor", amount_minor)
        _set(money, "currency", self.currency)
        return money

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return self._in_kind(self.amount_minor + other.amount_minor)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return self._in_kind(self.amount_minor - other.amount_minor)

    def less(self, *others: Money) -> Money:
        """This amount less each of ``others`` (each checked to be of this currency),
        built once: what an invoice owes is its amount less four others, asked of every
        invoice an oldest-first allocation reads."""
        left, currency = self.amount_minor, self.currency
        for other in others:
            if other.currency != currency:
                self._same(other)  # raises the mismatch
            left -= other.amount_minor
        return self._in_kind(left)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor <= other.amount_minor

    def is_positive(self) -> bool:
        return self.amount_minor > 0

    def is_zero(self) -> bool:
        return self.amount_minor == 0

    def __str__(self) -> str:
        digits = exponent(self.currency)
        sign = "-" if self.amount_minor < 0 else ""
        whole, minor = divmod(abs(self.amount_minor), 10**digits)
        text = f"{whole}.{minor:0{digits}d}" if digits else str(whole)
        return f"{sign}{text} {self.currency}"


DECIMAL_SEPARATORS = (".", ",")
_GROUPED = r"[0-9]{1,3}(?:%s[0-9]{3})+"


def minor_units(text: str, currency: str, decimal_separator: str = ".") -> int:
    """``"1,234.56"`` GBP is 123456, and with ``decimal_separator`` ``","`` so is
    ``"1.234,56"``; ``"(12.00)"`` and ``"-12.00"`` are -1200. The other mark (or a space)
    may only group thousands: ``"12,50"`` with ``"."`` is refused, never read as 1250.00."""
    if decimal_separator not in DECIMAL_SEPARATORS:
        raise ValueError(f"decimal_separator must be one of {' '.join(DECIMAL_SEPARATORS)}")
    raw = text.strip()
    negative = raw.startswith("-") or (raw.startswith("(") and raw.endswith(")"))
    if raw.startswith("(") and raw.endswith(")"):
        raw = raw[1:-1].strip()
    raw = raw[1:].strip() if raw[:1] in ("-", "+") else raw
    whole, point, fraction = raw.partition(decimal_separator)
    if not re.fullmatch(r"[0-9]*", fraction) or (point and not fraction):
        raise ValueError(
            f"amount {text!r} is not a number with {decimal_separator!r} as the decimal separator"
        )
    digits = _whole_digits(whole, text, decimal_separator)
    if not digits and not fraction:
        raise ValueError(f"amount {text!r} is not a number")
    value = Decimal(f"{digits or 0}.{fraction or 0}")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {text!r} has more decimals than {currency} has")
    return -int(scaled) if negative else int(scaled)


def _whole_digits(whole: str, text: str, decimal_separator: str) -> str:
    """The digits of the whole part, once its thousands grouping (if any) is checked."""
    if re.fullmatch(r"[0-9]*", whole):
        return whole
    group = "," if decimal_separator == "." else "."
    for mark in (group, " ", "\u00a0", "\u202f"):
        if re.fullmatch(_GROUPED % re.escape(mark), whole):
            return whole.replace(mark, "")
    if re.fullmatch(r"[0-9., \u00a0\u202f]+", whole):
        raise ValueError(
            f"amount {text!r} is ambiguous: with {decimal_separator!r} as the decimal "
            f"separator, {group!r} or a space may only group thousands"
        )
    raise ValueError(f"amount {text!r} is not a number")
