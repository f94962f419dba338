"""Money is integer minor units and an ISO 4217 currency; nothing else gets in."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import CurrencyMismatch, MalformedMoney, UnknownCurrency
from ledger.money import Money, exponent


@pytest.mark.parametrize(
    ("currency", "digits", "amount", "shown"),
    [
        ("JPY", 0, 12345, "12345 JPY"),
        ("GBP", 2, 12345, "123.45 GBP"),
        ("KWD", 3, 12345, "12.345 KWD"),
        ("CLF", 4, 12345, "1.2345 CLF"),
        ("GBP", 2, -5, "-0.05 GBP"),
    ],
)
def test_exponents_of_zero_two_three_and_four_decimal_currencies(currency, digits, amount, shown):
    assert exponent(currency) == digits
    assert str(Money(amount, currency)) == shown


@pytest.mark.parametrize("amount", [123.45, 100.0, "12345", True, None, [1]])
def test_an_amount_that_is_not_an_integer_is_refused_with_its_value(amount):
    with pytest.raises(MalformedMoney) as refused:
        Money.parse({"amount": amount, "currency": "GBP"})
    assert repr(amount) in str(refused.value)


@pytest.mark.parametrize("value", [12345, {"amount": 1}, {"amount": 1, "currency": "GBP", "x": 1}])
def test_money_must_be_exactly_an_amount_and_a_currency(value):
    with pytest.raises(MalformedMoney):
        Money.parse(value)


@pytest.mark.parametrize("currency", ["gbp", "GBX", "", "POUNDS", 826])
def test_unknown_currencies_are_refused(currency):
    with pytest.raises(UnknownCurrency):
        Money.parse({"amount": 1, "currency": currency})


def test_different_currencies_never_combine():
    with pytest.raises(CurrencyMismatch):
        Money(100, "GBP") + Money(100, "EUR")


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12))
def test_addition_and_subtraction_are_exact(a, b):
    assert (Money(a, "KWD") + Money(b, "KWD") - Money(b, "KWD")).amount_minor == a


@given(st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=6))
def test_an_amount_less_several_is_the_amount_less_each_in_turn(amounts):
    first, *others = [Money(a, "GBP") for a in amounts]
    expected = first
    for other in others:
        expected = expected - other
    assert first.less(*others) == expected


def test_an_amount_less_one_of_another_currency_is_refused():
    with pytest.raises(CurrencyMismatch):
        Money(500, "GBP").less(Money(100, "GBP"), Money(100, "EUR"))
