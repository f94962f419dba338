"""Who a document comes from, and how to pay them: from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.settings import Settings
from ledger.money import Money, exponent


@dataclass(frozen=True)
class Company:
    name: str
    address: tuple[str, ...]
    bank_details: tuple[str, ...]
    logo_file: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Company:
        logo = settings.company_logo_file
        return cls(
            settings.company_name,
            _lines(settings.company_address),
            _lines(settings.company_bank_details),
            logo if logo is not None and logo.is_file() else None,
        )


def _lines(text: str) -> tuple[str, ...]:
    """``a | b`` or ``a\\nb``: the lines, blank ones dropped."""
    parts = text.replace("\\n", "\n").replace("|", "\n").splitlines()
    return tuple(part.strip() for part in parts if part.strip())


def amount_text(amount_minor: int, currency: str) -> str:
    """``123456`` GBP is ``1,234.56``; JPY has no decimals, KWD three."""
    digits = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, minor = divmod(abs(amount_minor), 10**digits)
    text = f"{whole:,}.{minor:0{digits}d}" if digits else f"{whole:,}"
    return sign + text


def money_text(amount: Money) -> str:
    """``1,234.56 GBP``."""
    return f"{amount_text(amount.amount_minor, amount.currency)} {amount.currency}"
