"""A command's own copy of an aggregate: what it changes stays its own, what never
changes is shared rather than rebuilt (``ledger/copying.py``)."""

from __future__ import annotations

import datetime as dt
import uuid

from ledger.account import Account
from ledger.copying import aggregate_copy
from ledger.money import Money
from ledger.payment import Payment
from ledger.saved_cache import SavedAggregates
from ledger.stamp import Stamp
from ledger.unit_of_work import new

STAMP = Stamp("coordinator", "corr", "cause", dt.datetime(2025, 3, 1, tzinfo=dt.UTC))


def _account_with_invoices(count: int) -> Account:
    account = Account(
        name="Acme", currency="GBP", payment_terms_days=30, email=None, external_ref=None,
        credit_limit=None, stamp=STAMP,
    )  # fmt: skip
    for n in range(count):
        account.register_invoice(uuid.uuid4(), f"INV-{n}", STAMP)
    account.collect_events()
    return account


def _new_payment() -> Payment:
    return new(
        Payment, "Recorded", uuid.uuid4(), account_id=uuid.uuid4(), amount=Money(100_00, "GBP"),
        method="bacs", received_on=dt.date(2025, 3, 1), reference=None, status="succeeded",
        failure_code=None, failure_message=None, stamp=STAMP, purpose=None,
    )  # fmt: skip


def test_an_invoice_registered_on_a_copy_is_not_registered_on_the_original():
    original = _account_with_invoices(3)
    copy = aggregate_copy(original)
    copy.register_invoice(uuid.uuid4(), "INV-new", STAMP)
    assert "INV-new" in copy.invoice_ids_by_number
    assert "INV-new" not in original.invoice_ids_by_number
    assert original.invoice_ids() == copy.invoice_ids()[:3]
    assert original.version == copy.version - 1


def test_a_new_aggregates_copy_saves_the_same_events_and_leaves_the_original_its_own():
    original = _new_payment()
    copy = aggregate_copy(original)
    collected = copy.collect_events()
    # The events are shared (frozen, of values that never change); the lists are not.
    assert collected and collected[0] is original._pending_events[0]
    assert len(original._pending_events) == 1


def test_an_event_holding_a_container_is_copied_not_shared():
    account = _account_with_invoices(0)
    account.update_details({"email": "ap@acme.example"}, None, STAMP)
    copy = aggregate_copy(account)
    (event,) = copy._pending_events
    assert event is not account._pending_events[0]
    assert event.changes == account._pending_events[0].changes


def test_aggregates_looked_up_together_are_those_kept_at_the_versions_asked():
    saved = SavedAggregates()
    kept, other = _account_with_invoices(2), _account_with_invoices(1)
    kept.register_invoice(uuid.uuid4(), "INV-x", STAMP)
    events = kept.collect_events()
    saved.keep([kept], events)
    missing = uuid.uuid4()
    asked = [(kept.id, None), (other.id, None), (missing, None)]
    assert saved.each_at(asked) == {kept.id: kept}
    assert saved.each_at([(kept.id, kept.version)]) == {kept.id: kept}
    assert saved.each_at([(kept.id, kept.version - 1)]) == {}
    for aggregate_id, version in [(kept.id, kept.version), (kept.id, 1), (missing, None)]:
        found = saved.each_at([(aggregate_id, version)])
        assert found.get(aggregate_id) is saved.at(aggregate_id, version)
