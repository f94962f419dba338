"""A billing system sends the day's receipts in one call: each payment is recorded (and
allocated, when it says what it pays) or refused on its own, nothing of a refused one
recorded; the same batch again, or one resumed after a crash, records nothing twice."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from infra.settings import Settings
from ledger.application import Ledger
from ledger.bulk_payments import BatchPayment, payment_id_for
from ledger.commands import RecordPayment
from ledger.errors import UnknownPayment
from ledger.money import Money
from ledger.payments import Payments
from ledger.stamp import Stamp
from tests.pipeline import pipeline
from tests.support import gbp

PROBLEMS = "/v1/problems/"
NOWHERE = "00000000-0000-4000-8000-000000000001"


def _payment(account: str, ref: str, pence: int, **changes: Any) -> dict[str, Any]:
    body = {
        "account_id": account,
        "external_ref": ref,
        "amount": gbp(pence),
        "method": "bacs",
        "received_on": "2026-12-01",
        "reference": f"PAY {ref}",
    }
    return body | changes


def _paying(invoice: str, pence: int, currency: str = "GBP") -> list[dict[str, Any]]:
    return [{"invoice_id": invoice, "amount": {"amount": pence, "currency": currency}}]


def _kinds(reply: dict[str, Any]) -> dict[int, str]:
    return {
        item["index"]: item["problem"]["type"].removeprefix(PROBLEMS)
        for item in reply["items"]
        if item["status"] == "refused"
    }


def test_a_day_of_receipts_records_each_good_payment_and_refuses_each_bad_one(
    settings: Settings,
) -> None:
    with pipeline(settings) as p:
        api, ledger = p.api, p.services.ledger
        harbour = api.open_account("Harbour Cafe")["id"]
        quay = api.open_account("Quay Books")["id"]
        euro = api.open_account("Rivage SARL", currency="EUR")["id"]
        h1 = api.raise_invoice(harbour, "H-1", 100_00, "2026-10-01", "2026-10-31")["id"]
        h2 = api.raise_invoice(harbour, "H-2", 50_00, "2026-11-01", "2026-11-30")["id"]
        q1 = api.raise_invoice(quay, "Q-1", 80_00, "2026-11-01", "2026-11-30")["id"]
        batch = _day_of_receipts(harbour, quay, euro, h1, h2, q1)
        head = ledger.head_position()

        reply = api.ok(api.post("/v1/payments/batch", {"payments": batch}))

        _refusals_say_why(reply, len(batch))
        _good_ones_stored(ledger, reply, head, harbour, h1, h2, q1)
        at = reply["position"]

        # The read models see it as the store does.
        balance = api.ok(api.get(f"/v1/accounts/{harbour}/balance", min_position=at))
        assert balance["paid"] == gbp(30_00 + 120_00 + 15_00)
        assert balance["unallocated"] == gbp(30_00 + 15_00)
        assert balance["outstanding"] == gbp(30_00)

        # The same batch again (a new key: the billing system retried on its own) records
        # nothing twice and refuses the same ones again.
        again = api.ok(api.post("/v1/payments/batch", {"payments": batch}))
        assert (again["recorded"], again["already"], again["refused"]) == (0, 4, 12)
        assert _kinds(again) == _kinds(reply)
        assert ledger.head_position() == at

        # An invoice's id where an account's goes: no account, and the rest go in.
        mixed = [_payment(h1, "X-2", 5_00), _payment(harbour, "R-11", 1_00)]
        reply = api.ok(api.post("/v1/payments/batch", {"payments": mixed}))
        assert [item["status"] for item in reply["items"]] == ["refused", "recorded"]
        assert _kinds(reply) == {0: "unknown-account"}
        assert ledger.head_position() == at + 1


def _day_of_receipts(
    harbour: str, quay: str, euro: str, h1: str, h2: str, q1: str
) -> list[dict[str, Any]]:
    """Sixteen receipts: four good, twelve each wrong in its own way (the comments)."""
    tomorrow_but_one = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    batch = [
        _payment(harbour, "R-1", 30_00),  # 0: cash on account
        _payment(harbour, "R-2", 120_00, strategy="oldest_first"),  # 1: H-1, then H-2
        _payment(quay, "Q-PAY-1", 80_00, allocations=_paying(q1, 80_00)),  # 2
        _payment(euro, "E-1", 70_00),  # 3: GBP on a EUR account
        _payment(NOWHERE, "X-1", 5_00),  # 4: no such account
        _payment(harbour, "R-1", 30_00),  # 5: the reference of item 0 again
        _payment(quay, "Q-PAY-2", 10_00, allocations=_paying(h1, 10_00)),  # 6
        _payment(quay, "Q-PAY-3", 10_00, allocations=_paying(q1, 10_00)),  # 7
        _payment(harbour, "R-4", 10_00, received_on=tomorrow_but_one),  # 8
        _payment(harbour, "R-5", 10_00, status="pending", strategy="oldest_first"),  # 9
        _payment(harbour, "R-6", 0),  # 10: nothing paid
        _payment(harbour, "R-7", 10_00, allocations=_paying(h2, 20_00)),  # 11
        _payment(harbour, "R-8", 10_00, allocations=_paying(h2, 10_00, "EUR")),  # 12
        _payment(harbour, "   ", 10_00),  # 13: no reference to name it by
        _payment(harbour, "R-9", 1_00, strategy="oldest_first", allocations=_paying(h2, 1_00)),
        _payment(harbour, "R-10", 15_00, method="cheque", reference=None),  # 15: after them all
    ]  # fmt: skip
    return batch


def _refusals_say_why(reply: dict[str, Any], items: int) -> None:
    """Four recorded; each of the twelve refused with its own problem, in order."""
    assert (reply["recorded"], reply["already"], reply["refused"]) == (4, 0, 12)
    assert [item["index"] for item in reply["items"]] == list(range(items))
    assert _kinds(reply) == {
        3: "currency-mismatch",
        4: "unknown-account",
        5: "duplicate-external-ref",
        6: "wrong-account",  # Quay's payment names Harbour's invoice
        7: "over-allocation",  # item 2 settled Q-1 a moment before, in the same batch
        8: "payment-dated-in-future",
        9: "payment-not-allocatable",  # a pending payment holds no cash to allocate
        10: "malformed-money",
        11: "over-allocation",  # 20.00 of a 10.00 payment
        12: "currency-mismatch",
        13: "invalid-request",
        14: "invalid-request",  # allocations and oldest first at once
    }
    problems = {item["index"]: item["problem"] for item in reply["items"] if item["problem"]}
    assert "given more than once in this batch" in problems[5]["detail"]
    assert "external_ref must not be empty" in problems[13]["detail"]
    assert "give one of allocations, strategy or invoice_number" in problems[14]["detail"]
    assert problems[4]["instance"] == "/v1/payments/batch"


def _good_ones_stored(
    ledger: Ledger, reply: dict[str, Any], head: int, harbour: str, h1: str, h2: str, q1: str
) -> None:
    """The store holds the four good payments and their allocations, and nothing of the
    refused ones."""
    # Four payments went in: one event each, and for the allocated ones an event per
    # invoice, one for each invoice it settled and one for the payment:
    # (1) + (1 + 2 + 1 + 1) + (1 + 1 + 1 + 1) + (1).
    at = reply["position"]
    assert ledger.head_position() - head == 11 == at - head
    ids = {item["index"]: uuid.UUID(item["payment_id"]) for item in reply["items"]}
    assert ids[0] == payment_id_for(uuid.UUID(harbour), "R-1") == ids[5]
    for index in _kinds(reply):
        if index not in (5,):  # item 5's id is item 0's, recorded
            with pytest.raises(UnknownPayment):
                ledger.get_payment(ids[index])
    assert ledger.get_payment(ids[0]).unallocated == Money(30_00, "GBP")
    assert ledger.get_payment(ids[1]).unallocated == Money(0, "GBP")
    assert ledger.get_payment(ids[15]).method == "cheque"
    owed = {n: ledger.get_invoice(uuid.UUID(i)).outstanding for n, i in
            (("H-1", h1), ("H-2", h2), ("Q-1", q1))}  # fmt: skip
    assert owed == {
        "H-1": Money(0, "GBP"),
        "H-2": Money(30_00, "GBP"),  # 20.00 of it paid, oldest first
        "Q-1": Money(0, "GBP"),
    }


def test_a_reference_used_before_with_other_figures_is_refused_naming_them(
    settings: Settings,
) -> None:
    with pipeline(settings, workers=False) as p:
        api, ledger = p.api, p.services.ledger
        account = api.open_account("Dock Ltd")["id"]
        first = api.ok(
            api.post("/v1/payments/batch", {"payments": [_payment(account, "D-1", 40_00)]})
        )
        assert first["recorded"] == 1
        head = ledger.head_position()

        changed = _payment(account, "D-1", 45_00, method="cheque")
        pending = _payment(account, "D-1", 40_00, status="pending")  # status moves on: same
        reply = api.ok(api.post("/v1/payments/batch", {"payments": [changed]}))
        same = api.ok(api.post("/v1/payments/batch", {"payments": [pending]}))

        problem = reply["items"][0]["problem"]
        assert problem["type"] == PROBLEMS + "duplicate-external-ref"
        assert problem["fields"] == ["amount", "method"]
        assert "amount 40.00 GBP in the ledger, 45.00 GBP here" in problem["detail"]
        assert problem["payment_id"] == first["items"][0]["payment_id"]
        assert same["already"] == 1
        assert ledger.head_position() == head


def test_a_batch_cut_short_by_a_crash_resumes_without_recording_anything_twice(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pipeline(settings, workers=False) as p:
        ledger = p.services.ledger
        account = uuid.UUID(p.api.open_account("Pier Parking")["id"])
        invoice = p.api.raise_invoice(str(account), "PK-1", 600_00, "2026-11-01", "2026-11-30")
        batch = [
            _payment(str(account), f"T-{n}", 1_00, allocations=[
                {"invoice_id": invoice["id"], "amount": gbp(1_00)}])
            for n in range(600)
        ]  # fmt: skip
        stamp = Stamp("billing", "run-1", "run-1", dt.datetime.now(dt.UTC))
        cmds = [
            BatchPayment(
                RecordPayment(account, Money(1_00, "GBP"), "bacs", dt.date(2026, 12, 1), stamp,
                              reference=item["reference"]),
                item["external_ref"],
                ((uuid.UUID(invoice["id"]), Money(1_00, "GBP")),),
            )
            for item in batch
        ]  # fmt: skip
        # The process dies once its first chunk (250 payments) is committed.
        saves = 0
        record_receipts = Payments.record_receipts

        def dying(self: Payments, receipts: Any) -> Any:
            nonlocal saves
            saves += 1
            if saves > 1:
                raise SystemExit("killed")
            return record_receipts(self, receipts)

        monkeypatch.setattr(Payments, "record_receipts", dying)
        with pytest.raises(SystemExit):
            ledger.bulk_payments.record_payments(cmds)
        monkeypatch.setattr(Payments, "record_receipts", record_receipts)
        head = ledger.head_position()
        assert ledger.get_invoice(uuid.UUID(invoice["id"])).outstanding == Money(350_00, "GBP")

        reply = p.api.ok(p.api.post("/v1/payments/batch", {"payments": batch}))

        assert (reply["recorded"], reply["already"], reply["refused"]) == (350, 250, 0)
        assert [i["status"] for i in reply["items"]] == ["already"] * 250 + ["recorded"] * 350
        # Each its payment, the invoice's allocation and the payment's; the last one
        # settles the invoice.
        assert ledger.head_position() - head == 350 * 3 + 1
        assert ledger.get_invoice(uuid.UUID(invoice["id"])).outstanding == Money(0, "GBP")
        ids = {uuid.UUID(i["payment_id"]) for i in reply["items"]}
        assert len(ids) == 600
        assert all(ledger.get_payment(i).allocated == Money(1_00, "GBP") for i in ids)


def test_hostile_values_are_a_clear_422_and_append_nothing(settings: Settings) -> None:
    with pipeline(settings, workers=False) as p:
        api, ledger = p.api, p.services.ledger
        account = api.open_account("Fuzz Cafe")["id"]
        head = ledger.head_position()
        good = _payment(account, "G-1", 10_00)

        def paid(amount: Any, currency: str = "GBP") -> dict[str, Any]:
            return _payment(account, "F-1", 0, amount={"amount": amount, "currency": currency})

        bodies = {
            "float amount": [good, paid(10.5)],
            "huge amount": [good, paid(10**15 + 1)],
            "not a currency": [good, paid(1, "XXX")],
            "amount as text": [good, paid("10")],
            "control character": [good, _payment(account, "F-5\u0000", 10_00)],
            "no external_ref": [good, {k: v for k, v in good.items() if k != "external_ref"}],
            "an unknown field": [good, _payment(account, "F-6", 1, payment_id=str(uuid.uuid4()))],
            "a made-up method": [good, _payment(account, "F-7", 10_00, method="bitcoin")],
            "a long reference": [good, _payment(account, "F-8", 10_00, reference="x" * 201)],
            "no payments": [],
            "too many": [good] * 1_001,
        }
        for why, payments in bodies.items():
            response = api.post("/v1/payments/batch", {"payments": payments})
            assert response.status_code == 422, (why, response.status_code, response.text[:300])
            assert response.headers["content-type"].startswith("application/problem+json"), why
            assert response.json()["detail"], why
        assert ledger.head_position() == head
        huge = api.post("/v1/payments/batch", {"payments": bodies["huge amount"]}).json()
        assert "exceeds the largest amount" in str(huge), huge


def _recorded_meanwhile(
    monkeypatch: pytest.MonkeyPatch, ledger: Any, account: str, payments: dict[str, int]
) -> list[str]:
    """Have another writer record these payments (by external ref, in pence, unallocated)
    when the batch first saves, after it checked the store; the refs it recorded."""
    other = Stamp("billing-2", "run-2", "run-2", dt.datetime.now(dt.UTC))
    record_receipts, raced = Payments.record_receipts, []

    def racing(self: Payments, receipts: Any) -> Any:
        monkeypatch.setattr(Payments, "record_receipts", record_receipts)
        for ref, pence in payments.items():
            payment_id = payment_id_for(uuid.UUID(account), ref)
            ledger.record_payment(RecordPayment(
                uuid.UUID(account), Money(pence, "GBP"), "bacs", dt.date(2026, 12, 1), other,
                reference=f"PAY {ref}", payment_id=payment_id))  # fmt: skip
            raced.append(ref)
        return record_receipts(self, receipts)

    monkeypatch.setattr(Payments, "record_receipts", racing)
    return raced


def test_a_payment_another_writer_records_while_the_batch_decides_is_not_reported_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pipeline(settings, workers=False) as p:
        api, ledger = p.api, p.services.ledger
        account = api.open_account("Wharf Deli")["id"]
        batch = [_payment(account, f"W-{n}", pence) for n, pence in ((1, 20_00), (2, 30_00),
                                                                     (3, 40_00))]  # fmt: skip
        # Another writer (the billing system's second run of the same receipts) records
        # W-1 as the batch has it and W-2 for another amount, after the batch found
        # neither in the store and before it saves them.
        raced = _recorded_meanwhile(monkeypatch, ledger, account, {"W-1": 20_00, "W-2": 35_00})
        head = ledger.head_position()

        reply = api.ok(api.post("/v1/payments/batch", {"payments": batch}))

        assert raced
        # As the same batch sent after the other writer's would answer.
        assert [item["status"] for item in reply["items"]] == ["already", "refused", "recorded"]
        assert (reply["recorded"], reply["already"], reply["refused"]) == (1, 1, 1)
        assert _kinds(reply) == {1: "duplicate-external-ref"}
        assert reply["items"][1]["problem"]["fields"] == ["amount"]
        assert ledger.head_position() == head + 3  # the other writer's two, the batch's W-3
        assert ledger.get_payment(payment_id_for(uuid.UUID(account), "W-2")).amount == Money(
            35_00, "GBP"
        )
        again = api.ok(api.post("/v1/payments/batch", {"payments": batch}))
        assert [item["status"] for item in again["items"]] == ["already", "refused", "already"]


def test_a_payment_another_writer_recorded_first_is_left_for_them_to_allocate(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pipeline(settings, workers=False) as p:
        api, ledger = p.api, p.services.ledger
        account = api.open_account("Wharf Deli")["id"]
        invoice = api.raise_invoice(account, "WD-1", 20_00, "2026-11-01", "2026-11-30")["id"]
        batch = [_payment(account, "W-1", 20_00, allocations=_paying(invoice, 20_00))]
        # The billing system's other run records W-1, unallocated, after the batch found
        # it missing and before the batch saves it.
        raced = _recorded_meanwhile(monkeypatch, ledger, account, {"W-1": 20_00})
        payment = payment_id_for(uuid.UUID(account), "W-1")

        reply = api.ok(api.post("/v1/payments/batch", {"payments": batch}))

        assert raced
        assert [item["status"] for item in reply["items"]] == ["already"]
        assert ledger.get_payment(payment).allocated == Money(0, "GBP")
        assert ledger.get_invoice(uuid.UUID(invoice)).outstanding == Money(20_00, "GBP")
