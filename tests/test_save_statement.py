"""The save's one statement (``infra/append.py``) carries any text a command may hold:
quotes, backslashes, braces, commas, blanks and the word NULL reach the store, the
command's mark and its kept reply exactly as they were given."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg

from infra import recorder
from infra.database import eventstore_env
from ledger.application import Ledger
from ledger.commands import OpenAccount, RaiseInvoice
from ledger.money import Money
from ledger.stamp import Stamp

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
AWKWARD = 'NULL, "quoted" {braced} back\\slash \\"both\\" ,'


def test_awkward_text_is_stored_marked_and_kept_exactly(database_url: str) -> None:
    actor, key = f"ops {AWKWARD}", f"key {AWKWARD}"
    stamp = Stamp(actor, AWKWARD, "", NOW)
    writer = Ledger(eventstore_env(database_url, pool_size=2))
    try:
        account = writer.open_account(OpenAccount(AWKWARD, "GBP", 30, stamp)).aggregate.id
        marking = recorder.current_command.set((actor, key))
        try:
            raised = writer.raise_invoice(
                RaiseInvoice(
                    account,
                    "INV-1",
                    Money(120_00, "GBP"),
                    dt.date(2026, 3, 1),
                    dt.date(2026, 3, 31),
                    stamp,
                    description=AWKWARD,
                )
            )
        finally:
            recorder.current_command.reset(marking)
    finally:
        writer.close()

    reader = Ledger(eventstore_env(database_url, pool_size=2))  # nothing cached: the store's
    try:
        assert reader.get_account(account).name == AWKWARD
        assert reader.get_invoice(raised.aggregate.id).description == AWKWARD
    finally:
        reader.close()
    with psycopg.connect(database_url) as conn:
        mark = recorder.mark_of(conn, actor, key)
        assert mark is not None, "the command's key was not marked as given"
        assert (mark.reply_id, mark.reply_version) == (raised.aggregate.id, 1)
        assert recorder.mark_of(conn, actor, f"key {uuid.uuid4()}") is None
