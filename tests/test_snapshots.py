"""Snapshots taken before an aggregate gained state still load: the upcasters fill in
what version 1 did not have."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from eventsourcing.domain import Snapshot

from ledger.invoice import Invoice
from ledger.money import Money
from ledger.payment import Payment
from ledger.stamp import Stamp

STAMP = Stamp("test", "c", "c", dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
V2_PAYMENT = ("applied", "refunded", "taken_back", "chargebacks", "request_ids")


def as_version_1(aggregate, added):
    """The snapshot an older release would have taken of ``aggregate``."""
    snapshot = Snapshot.take(aggregate)
    state = {k: v for k, v in snapshot.state.items() if k not in added and k != "class_version"}
    return dataclasses.replace(snapshot, state=state)


def test_a_version_1_payment_snapshot_knows_what_it_applied_to_each_invoice():
    payment = Payment(
        account_id=uuid.uuid4(),
        amount=Money(500_00, "GBP"),
        method="bacs",
        received_on=dt.date(2026, 3, 1),
        reference=None,
        status="succeeded",
        failure_code=None,
        failure_message=None,
        stamp=STAMP,
    )
    first, second = uuid.uuid4(), uuid.uuid4()
    payment.allocate("r1", "explicit", [(first, Money(100_00, "GBP"))], STAMP)
    payment.allocate(
        "r2", "explicit", [(second, Money(50_00, "GBP")), (first, Money(25_00, "GBP"))], STAMP
    )

    restored = as_version_1(payment, V2_PAYMENT).mutate(None)

    assert restored.applied == {str(first): Money(125_00, "GBP"), str(second): Money(50_00, "GBP")}
    assert restored.unallocated == Money(325_00, "GBP")
    assert restored.newest_first(Money(60_00, "GBP")) == payment.newest_first(Money(60_00, "GBP"))


def test_a_version_1_invoice_snapshot_has_no_disputes_and_can_be_disputed():
    invoice = Invoice(
        account_id=uuid.uuid4(),
        number="INV-1",
        amount=Money(300_00, "GBP"),
        issued_on=dt.date(2026, 1, 1),
        due_on=dt.date(2026, 1, 31),
        description=None,
        stamp=STAMP,
    )
    restored = as_version_1(invoice, ("disputes", "resolved_dispute_ids", "overdue_noted")).mutate(
        None
    )
    assert restored.disputed == Money(0, "GBP") and not restored.overdue_noted
    restored.dispute("d1", Money(100_00, "GBP"), "wrong room", STAMP)
    assert restored.undisputed == Money(200_00, "GBP")
