"""The Stripe applier takes the events waiting in the inbox a batch at a time: the
payments of a batch are recorded together, in one ledger save, and yet each event is
settled with its own outcome, a refused one with its own reason; an event that needs a
payment recorded earlier in the same batch sees it; and a batch applied again after the
process died between the ledger's commit and settling its rows records nothing twice.

The applier runs here one batch at a time, by hand, on events delivered while no
applier ran, so that what one batch holds is known."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from channels import stripe_inbox
from channels.stripe_outcome import payment_id_for
from ledger.errors import UnknownPayment
from tests import stripe_payloads as sp
from tests.pipeline import Pipeline, pipeline

SECRET = "whsec_batches"


@pytest.fixture
def stripe_settings(settings):
    return settings.model_copy(update={"stripe_webhook_secret": SECRET})


def _deliver(p: Pipeline, *events: dict[str, Any]) -> None:
    for evt in events:
        reply = sp.post(p.api.http, evt, SECRET)
        assert reply.json()["outcome"] == "received", reply.text


def _apply_one_batch(p: Pipeline) -> int:
    """What a running applier does each time it finds events waiting."""
    applier = p.services.stripe.applier(p.settings.database_url)
    with applier.connect() as session:
        return applier.apply_batch(session)


def _settled(p: Pipeline, *events: dict[str, Any]) -> list[dict[str, Any]]:
    replies = [p.api.get(f"/v1/stripe/events/{evt['id']}") for evt in events]
    return [p.api.ok(reply) for reply in replies]


def _outcome(row: dict[str, Any]) -> tuple[str, str]:
    return row["outcome"], row["detail"]


def _succeeded(p: Pipeline, pi: dict[str, Any]) -> Any:
    return p.services.ledger.get_payment(payment_id_for(f"{pi['id']}/succeeded"))


def _outstanding(p: Pipeline, invoice_id: str) -> int:
    amount: int = p.services.ledger.get_invoice(uuid.UUID(invoice_id)).outstanding.amount_minor
    return amount


def test_a_batch_records_its_payments_together_and_settles_each_event_on_its_own(
    stripe_settings,
):
    """A morning's webhooks, applied as one batch: two card payments and a declined
    attempt recorded in one save; a refund and a dispute that arrived around the payment
    they concern applied after it; payments the ledger refuses (an unknown account, the
    wrong currency, an invoice of another account) each refused with its reason, and
    the payment after them recorded all the same."""
    with pipeline(stripe_settings, workers=False) as p:
        api = p.api
        acct = api.open_account("Morning Batch Ltd")["id"]
        inv = api.raise_invoice(acct, "MB-1", 100_00, "2026-10-01", "2026-10-31")["id"]
        other = api.open_account("Someone Else Ltd")["id"]
        theirs = api.raise_invoice(other, "SE-1", 50_00, "2026-10-01", "2026-10-31")["id"]
        meta = {"account_id": acct, "invoice_id": inv}

        paid = sp.payment_intent(60_00, "succeeded", meta)
        declined = sp.payment_intent(25_00, "requires_payment_method", {"account_id": acct})
        declined["last_payment_error"] = sp.decline(declined["latest_charge"])
        second = sp.payment_intent(30_00, "succeeded", meta)
        nobody = sp.payment_intent(5_00, "succeeded", {"account_id": str(uuid.uuid4())})
        euros = dict(sp.payment_intent(7_00, "succeeded", {"account_id": acct}), currency="eur")
        misplaced = sp.payment_intent(9_00, "succeeded", {"account_id": acct, "invoice_id": theirs})
        no_currency = {
            k: v for k, v in sp.payment_intent(3_00, "succeeded", meta).items() if k != "currency"
        }
        walk_in = sp.payment_intent(4_00, "succeeded", {})
        later = sp.payment_intent(8_00, "succeeded", {"account_id": acct})
        never_paid = sp.payment_intent(11_00, "succeeded", {"account_id": acct})

        events = {
            "refund before its payment": sp.event(
                "charge.refunded", sp.charge(paid, [("re_mb1" + acct[:6], 10_00)])
            ),
            "paid": sp.event("payment_intent.succeeded", paid),
            "declined": sp.event("payment_intent.payment_failed", declined),
            "second": sp.event("payment_intent.succeeded", second),
            "paid again, through Checkout": sp.event(
                "checkout.session.completed", sp.checkout_session(paid["id"], 60_00, meta)
            ),
            "no such account": sp.event("payment_intent.succeeded", nobody),
            "euros": sp.event("payment_intent.succeeded", euros),
            "another account's invoice": sp.event("payment_intent.succeeded", misplaced),
            "dispute after its payment": sp.event(
                "charge.dispute.created", sp.dispute(paid, 20_00, "needs_response", "dp_mb1")
            ),
            "no currency": sp.event("payment_intent.succeeded", no_currency),
            "walk-in": sp.event("payment_intent.succeeded", walk_in),
            "later": sp.event("payment_intent.succeeded", later),
            "refund of a payment not made yet": sp.event(
                "charge.refunded", sp.charge(never_paid, [("re_mb2" + acct[:6], 1_00)])
            ),
            "unhandled": sp.event("customer.updated", {"id": "cus_mb", "object": "customer"}),
        }
        _deliver(p, *events.values())
        assert _apply_one_batch(p) == len(events)

        rows = dict(zip(events, _settled(p, *events.values()), strict=True))
        _each_settled_on_its_own(rows, paid)
        _money_where_it_belongs(p, inv, theirs, paid, misplaced, (nobody, euros))

        # The payment the deferred refund waits for arrives in a later batch.
        _deliver(p, sp.event("payment_intent.succeeded", never_paid))
        assert _apply_one_batch(p) == 1
        (refund,) = _settled(p, events["refund of a payment not made yet"])
        assert _outcome(refund) == ("applied", "refunds applied")
        assert _succeeded(p, never_paid).refunded.amount_minor == 1_00


def _each_settled_on_its_own(rows: dict[str, dict[str, Any]], paid: dict[str, Any]) -> None:
    """Each event of the morning's batch with its own outcome and detail; the three
    payments before the first refusal saved together."""
    outcomes = {name: row["outcome"] for name, row in rows.items()}
    assert outcomes == {
        "refund before its payment": "applied",
        "paid": "applied",
        "declined": "applied",
        "second": "applied",
        "paid again, through Checkout": "ignored",
        "no such account": "refused",
        "euros": "refused",
        "another account's invoice": "refused",
        "dispute after its payment": "applied",
        "no currency": "error",
        "walk-in": "unmatched",
        "later": "applied",
        "refund of a payment not made yet": "deferred",
        "unhandled": "unhandled",
    }
    # The three payments before the first refusal: one save, so one position.
    saves = {tuple(rows[n]["positions"]) for n in ("paid", "declined", "second")}
    assert len(saves) == 1, saves
    assert "60.00 GBP allocated to invoice MB-1" in rows["paid"]["detail"]
    assert rows["paid again, through Checkout"]["detail"].startswith(
        f"payment {payment_id_for(paid['id'] + '/succeeded')} was recorded before"
    )
    assert rows["no such account"]["detail"].startswith("unknown-account: ")
    assert rows["euros"]["detail"].startswith("currency-mismatch: ")
    assert rows["another account's invoice"]["detail"].startswith("wrong-account: ")
    assert rows["no currency"]["detail"] == "KeyError: 'currency'"
    assert rows["refund before its payment"]["detail"] == "refunds applied"


def _money_where_it_belongs(
    p: Pipeline,
    inv: str,
    theirs: str,
    paid: dict[str, Any],
    misplaced: dict[str, Any],
    refused_intents: tuple[dict[str, Any], ...],
) -> None:
    """The ledger after the batch: what the invoices owe, what was refunded, and
    nothing of the refused payments."""
    # Paid 60 + 30 against 100; of the first, 10 refunded and 20 disputed, which
    # the invoice owes again.
    assert _outstanding(p, inv) == 100_00 - 60_00 - 30_00 + 10_00 + 20_00
    assert _succeeded(p, paid).refunded.amount_minor == 10_00
    # Refused for its allocation alone, as when each event was applied alone: the
    # money was received, and waits unallocated for a person to place it.
    assert _succeeded(p, misplaced).unallocated.amount_minor == 9_00
    assert _outstanding(p, theirs) == 50_00
    for refused in refused_intents:
        with pytest.raises(UnknownPayment):
            _succeeded(p, refused)


@contextmanager
def _dying_before_settling(p: Pipeline) -> Iterator[None]:
    """The process dies after the ledger committed and before the rows are settled: no
    row of the inbox can be changed meanwhile."""
    with psycopg.connect(p.settings.database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION dies_before_settling() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'the applier died before settling'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER dies_before_settling BEFORE UPDATE ON stripe_events"
            " FOR EACH ROW EXECUTE FUNCTION dies_before_settling()"
        )
        try:
            yield
        finally:
            conn.execute("DROP TRIGGER dies_before_settling ON stripe_events")
            conn.execute("DROP FUNCTION dies_before_settling()")


def test_a_batch_applied_again_after_a_crash_before_settling_records_nothing_twice(
    stripe_settings,
):
    """The applier dies between the ledger's commit and settling the batch's rows; the
    batch is applied again when it restarts. Nothing is recorded twice, each event is
    settled, and a refund that had waited for its payment (the payment was recorded by
    the batch that died) is applied, not left waiting for ever."""
    with pipeline(stripe_settings, workers=False) as p:
        api = p.api
        acct = api.open_account("Crash Replay Ltd")["id"]
        inv = api.raise_invoice(acct, "CR-1", 200_00, "2026-10-01", "2026-10-31")["id"]
        meta = {"account_id": acct, "invoice_id": inv}
        early = sp.payment_intent(70_00, "succeeded", meta)
        waited = sp.event("charge.refunded", sp.charge(early, [("re_cr1" + acct[:6], 15_00)]))
        _deliver(p, waited)
        assert _apply_one_batch(p) == 1
        assert _settled(p, waited)[0]["outcome"] == "deferred"

        declined = sp.payment_intent(40_00, "requires_payment_method", {"account_id": acct})
        declined["last_payment_error"] = sp.decline(declined["latest_charge"])
        other = sp.payment_intent(50_00, "succeeded", meta)
        batch = [
            sp.event("payment_intent.succeeded", early),
            sp.event("payment_intent.payment_failed", declined),
            sp.event("charge.refunded", sp.charge(other, [("re_cr2" + acct[:6], 5_00)])),
            sp.event("payment_intent.succeeded", other),
        ]
        _deliver(p, *batch)
        with _dying_before_settling(p), pytest.raises(psycopg.Error):
            _apply_one_batch(p)
        died_at = p.services.ledger.head_position()
        rows = _settled(p, *batch)
        assert [row["outcome"] for row in rows] == ["received"] * len(batch)

        assert _apply_one_batch(p) == len(batch)
        (refund,) = _settled(p, waited)
        assert refund["outcome"] in ("applied", "ignored"), refund
        assert _succeeded(p, early).refunded.amount_minor == 15_00
        assert p.services.ledger.head_position() == died_at  # nothing appended again
        rows = _settled(p, *batch)
        assert [row["outcome"] for row in rows] == ["ignored"] * len(batch)
        assert rows[0]["detail"].startswith(
            f"payment {payment_id_for(early['id'] + '/succeeded')} was recorded before"
        )
        attempt = payment_id_for(f"{declined['id']}/failed/{declined['latest_charge']}")
        assert p.services.ledger.get_payment(attempt).status == "failed"
        assert _succeeded(p, other).refunded.amount_minor == 5_00
        assert _outstanding(p, inv) == 200_00 - (70_00 - 15_00) - (50_00 - 5_00)


def test_a_save_of_the_batch_that_breaks_leaves_each_event_applied_alone(
    stripe_settings, monkeypatch
):
    """A fault in saving the batch's payments together (not the database's: a bug) is
    logged, and each event of the batch is then applied alone, as before: none is lost
    and none is held back."""
    with pipeline(stripe_settings, workers=False) as p:
        acct = p.api.open_account("Broken Save Ltd")["id"]
        intents = [sp.payment_intent(n * 1_00, "succeeded", {"account_id": acct}) for n in (1, 2)]
        batch = [sp.event("payment_intent.succeeded", pi) for pi in intents]
        _deliver(p, *batch)

        def broken(*_: Any) -> None:
            raise RuntimeError("a bug in saving many at once")

        monkeypatch.setattr(p.services.ledger.payments, "record_receipts", broken)
        assert _apply_one_batch(p) == len(batch)
        rows = _settled(p, *batch)
        assert [row["outcome"] for row in rows] == ["applied", "applied"]
        assert rows[0]["positions"] != rows[1]["positions"]  # each saved alone
        assert [_succeeded(p, pi).amount.amount_minor for pi in intents] == [1_00, 2_00]


def _saved_either_side_of_the_refusal(rows: dict[str, dict[str, Any]]) -> None:
    """One save before the refusal, one after it; the refused and the ignored events
    append nothing."""
    before = {tuple(rows[n]["positions"]) for n in ("refund", "dispute")}
    after = {
        tuple(rows[n]["positions"])
        for n in ("after the refusal", "dispute lost", "told again, with a new one")
    }
    assert len(before) == len(after) == 1 and before != after, (before, after)
    assert rows["too large"]["positions"] == rows["redelivered as another event"]["positions"] == []


def test_a_batch_saves_its_refunds_and_disputes_together_and_refuses_each_on_its_own(
    stripe_settings,
):
    """The afternoon's refunds and disputes of two card payments, applied as one batch:
    those before a refund larger than its payment are saved together, the refusal is
    settled with its own reason, and those after it are saved together in turn, each in
    the order it arrived (a dispute opened, then lost; a refund told again with a new
    one beside it, and a refund redelivered under another event id, each counted once)."""
    with pipeline(stripe_settings, workers=False) as p:
        api = p.api
        acct = api.open_account("Afternoon Refunds Ltd")["id"]
        inv = api.raise_invoice(acct, "AR-1", 100_00, "2026-10-01", "2026-10-31")["id"]
        meta = {"account_id": acct, "invoice_id": inv}
        first = sp.payment_intent(50_00, "succeeded", meta)
        second = sp.payment_intent(30_00, "succeeded", meta)
        _deliver(p, sp.event("payment_intent.succeeded", first))
        _deliver(p, sp.event("payment_intent.succeeded", second))
        assert _apply_one_batch(p) == 2
        assert _outstanding(p, inv) == 20_00

        tag = acct[:6]
        events = {
            "refund": sp.event("charge.refunded", sp.charge(first, [(f"re_a{tag}", 10_00)])),
            "dispute": sp.event(
                "charge.dispute.created", sp.dispute(second, 20_00, "needs_response", f"dp_{tag}")
            ),
            "too large": sp.event("charge.refunded", sp.charge(first, [(f"re_b{tag}", 100_00)])),
            "after the refusal": sp.event(
                "charge.refunded", sp.charge(first, [(f"re_c{tag}", 5_00)])
            ),
            "dispute lost": sp.event(
                "charge.dispute.closed", sp.dispute(second, 20_00, "lost", f"dp_{tag}")
            ),
            "told again, with a new one": sp.event(
                "charge.refunded", sp.charge(first, [(f"re_a{tag}", 10_00), (f"re_d{tag}", 2_00)])
            ),
            "redelivered as another event": sp.event(
                "charge.refunded", sp.charge(first, [(f"re_c{tag}", 5_00)])
            ),
        }
        _deliver(p, *events.values())
        assert _apply_one_batch(p) == len(events)

        rows = dict(zip(events, _settled(p, *events.values()), strict=True))
        assert {name: _outcome(row) for name, row in rows.items()} == {
            "refund": ("applied", "refunds applied"),
            "dispute": ("applied", f"chargeback dp_{tag} opened"),
            "too large": ("refused", rows["too large"]["detail"]),
            "after the refusal": ("applied", "refunds applied"),
            "dispute lost": ("applied", f"chargeback dp_{tag} lost"),
            "told again, with a new one": ("applied", "refunds applied"),
            "redelivered as another event": ("ignored", "every refund was applied before"),
        }
        assert rows["too large"]["detail"].startswith("refund-exceeds-unallocated: ")
        _saved_either_side_of_the_refusal(rows)

        # 50 + 30 paid against 100; 10, 5 and 2 refunded and 20 charged back, which the
        # invoice owes again.
        assert _succeeded(p, first).refunded.amount_minor == 17_00
        assert _succeeded(p, second).chargebacks == {}  # closed: lost, the money gone
        assert _outstanding(p, inv) == 100_00 - 50_00 - 30_00 + 17_00 + 20_00


def test_an_idle_applier_takes_a_delivery_when_it_is_recorded(stripe_settings) -> None:
    """Once caught up, the applier waits for the intake's word that it recorded events,
    not for its next look (a minute here): the delivery is applied at once."""
    with pipeline(stripe_settings, workers=False) as p:
        applier = p.services.stripe.applier(p.settings.database_url)
        stop = threading.Event()
        running = threading.Thread(target=applier.run, args=(stop, 60.0))
        running.start()
        try:
            time.sleep(1.0)  # it has looked, found nothing, and waits
            evt = sp.event("customer.created", {"id": "cus_idle", "object": "customer"})
            assert sp.delivered(p.api.http, evt, SECRET, timeout=10)["outcome"] == "unhandled"
        finally:
            stop.set()
            with psycopg.connect(p.settings.database_url or "", autocommit=True) as conn:
                conn.execute("SELECT pg_notify(%s, '')", (stripe_inbox.RECEIVED_CHANNEL,))
            running.join(timeout=10)
        assert not running.is_alive()
