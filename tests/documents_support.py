"""Shared by the document and email tests: company details, and reading a PDF's text."""

from __future__ import annotations

import io
import time
from typing import Any

import pypdf

from infra.settings import Settings

COMPANY = {
    "company_name": "Northwind Rooms Ltd",
    "company_address": "1 Quay Street|Bristol BS1 1AA",
    "company_bank_details": "Sort code 20-00-00|Account 12345678",
}


def with_company(settings: Settings) -> Settings:
    return settings.model_copy(update=COMPANY)


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-"), content[:20]
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def account_types(p: Any, account: str) -> list[dict[str, Any]]:
    head = p.services.ledger.head_position()
    page = p.api.ok(p.api.get(f"/v1/accounts/{account}/events", min_position=head))
    return list(page["events"])


def wait_for_event(p: Any, account: str, kind: str, count: int = 1, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in account_types(p, account) if e["type"] == kind]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"no {kind} on {account}"
        time.sleep(0.2)
