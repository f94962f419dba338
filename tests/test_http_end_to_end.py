"""Over real HTTP, through the relay, Kafka and the consumer: the coordinator's morning."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition

from consumers.topic import partition_for
from tests.pipeline import pipeline


def test_failed_card_then_bacs_split_across_two_invoices(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Lumen Events Ltd")
        room = api.raise_invoice(account["id"], "MR-1001", 480_00, "2026-01-10", "2026-02-09")
        av = api.raise_invoice(account["id"], "MR-1002", 120_00, "2026-01-20", "2026-02-19")
        card = api.record_payment(
            account["id"],
            600_00,
            method="card",
            status="failed",
            failure_code="card_declined",
            failure_message="Your card was declined.",
        )
        assert card["status"] == "failed" and card["unallocated"]["amount"] == 0
        bacs = api.record_payment(account["id"], 550_00, method="bacs", reference="LUMEN MR1001")
        allocation = api.allocate(
            bacs["id"],
            {
                "allocations": [
                    {"invoice_id": room["id"], "amount": {"amount": 480_00, "currency": "GBP"}},
                    {"invoice_id": av["id"], "amount": {"amount": 70_00, "currency": "GBP"}},
                ]
            },
        )
        assert allocation["unallocated"] == {"amount": 0, "currency": "GBP"}

        at = allocation["position"]
        balance = api.ok(
            api.get(f"/v1/accounts/{account['id']}/balance", min_position=at, as_of="2026-03-01")
        )
        assert {
            k: balance[k]["amount"]
            for k in ("invoiced", "paid", "allocated", "unallocated", "outstanding", "overdue")
        } == {
            "invoiced": 600_00,
            "paid": 550_00,
            "allocated": 550_00,
            "unallocated": 0,
            "outstanding": 50_00,
            "overdue": 50_00,
        }
        assert api.ok(api.get(f"/v1/invoices/{room['id']}", min_position=at))["status"] == "paid"
        av_now = api.ok(api.get(f"/v1/invoices/{av['id']}", min_position=at))
        assert (av_now["status"], av_now["outstanding"]["amount"]) == ("partially_paid", 50_00)

        history = api.ok(api.get(f"/v1/accounts/{account['id']}/events", min_position=at))
        # The failed card also tells the coordinator: those events come when the notifier
        # runs, so they are set aside from the ledger's own order.
        types = [e["type"] for e in history["events"] if ".notification." not in e["type"]]
        assert types[0] == "arledger.account.opened"
        assert "arledger.payment.recorded" in types and types[-1] == "arledger.payment.allocated"
        failed = next(e for e in history["events"] if e["subject"] == card["id"])
        assert failed["data"]["failure_code"] == "card_declined"
        assert all(e["actor"] == "alice" for e in history["events"])

        _topic_carries_the_store(p, account["id"])


def _topic_carries_the_store(p, account_id: str) -> None:
    """Every stored event is on the topic once or more, as a CloudEvent keyed by account,
    in its account's partition, in store order within the partition."""
    consumer = KafkaConsumer(
        bootstrap_servers=p.settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    parts = [TopicPartition(p.settings.topic, n) for n in range(p.settings.topic_partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    seen: dict[int, list[int]] = defaultdict(list)
    for message in consumer:
        event = json.loads(message.value)
        assert message.key.decode() == event["accountid"]
        assert message.partition == partition_for(event["accountid"], p.settings.topic_partitions)
        assert event["specversion"] == "1.0" and event["source"] and event["id"]
        assert dict(message.headers)["content-type"] == b"application/cloudevents+json"
        seen[message.partition].append(event["position"])
    consumer.close()
    for positions in seen.values():
        assert positions == sorted(positions)
    published = {pos for positions in seen.values() for pos in positions}
    assert published == set(range(1, p.services.ledger.head_position() + 1))


def test_the_same_idempotency_key_returns_the_first_result_and_appends_nothing(settings):
    with pipeline(settings, workers=False) as p:
        api = p.api
        body = {"name": "Harbour Lofts", "currency": "EUR", "payment_terms_days": 14}
        first = api.post("/v1/accounts", body, key="open-harbour")
        head = p.services.ledger.head_position()
        again = api.post("/v1/accounts", body, key="open-harbour")
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert p.services.ledger.head_position() == head

        other = api.post("/v1/accounts", {**body, "name": "Another"}, key="open-harbour")
        assert other.status_code == 409
        assert other.json()["type"].endswith("/idempotency-key-reused")

        refused = {
            "account_id": first.json()["id"],
            "number": "X",
            "issued_on": "2026-01-02",
            "due_on": "2026-01-01",
            "amount": {"amount": 1, "currency": "EUR"},
        }
        one = api.post("/v1/invoices", refused, key="bad-dates")
        two = api.post("/v1/invoices", refused, key="bad-dates")
        assert one.status_code == two.status_code == 422 and one.json() == two.json()
        assert p.services.ledger.head_position() == head


def test_an_account_is_opened_with_the_coordinator_who_looks_after_it(settings):
    with pipeline(settings, workers=False) as p:
        api = p.api
        body = {
            "name": "Quayside Studios",
            "currency": "GBP",
            "payment_terms_days": 30,
            "coordinator": "alice",
        }
        opened = api.ok(api.post("/v1/accounts", body, key="open-quayside"))
        assert opened["coordinator"] == "alice"
        assert api.ok(api.get(f"/v1/accounts/{opened['id']}"))["coordinator"] == "alice"
        # As an opening book's import opens it: opened, then its details, in one save.
        events = list(p.services.ledger.events.get(uuid.UUID(opened["id"])))
        assert [type(e).__name__ for e in events] == ["Opened", "DetailsUpdated"]
        assert events[1].changes == {"coordinator": "alice"}
        head = p.services.ledger.head_position()
        assert opened["position"] == head
        again = api.post("/v1/accounts", body, key="open-quayside")
        assert again.status_code == 201 and again.json() == opened
        assert p.services.ledger.head_position() == head

        # Bounded and checked as the account's other names are; nothing is opened.
        for coordinator, problem in (
            ("a" * 201, "validation-error"),
            ("", "validation-error"),
            ("   ", "invalid-request"),
        ):
            refused = api.post("/v1/accounts", {**body, "coordinator": coordinator})
            assert refused.status_code == 422, refused.text
            assert refused.json()["type"] == f"/v1/problems/{problem}", refused.text
        assert p.services.ledger.head_position() == head


def test_min_position_waits_for_the_projection_then_gives_up_with_503(settings):
    settings = settings.model_copy(update={"query_wait_ms": 300})
    with pipeline(settings, workers=False) as p:  # nothing projects: the wait must time out
        account = p.api.open_account()
        reply = p.api.get(f"/v1/accounts/{account['id']}/balance", min_position=account["position"])
        assert reply.status_code == 503
        assert reply.headers["Retry-After"] == "1"
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["type"].endswith("/projection-lagging")


def test_healthz_reports_store_broker_and_projection_lag(settings):
    with pipeline(settings) as p:
        account = p.api.open_account()
        p.wait_until_projected(account["position"])
        health = p.api.ok(p.api.get("/healthz"))
        assert health["store"]["ok"] and health["broker"]["ok"]
        assert {name: v["lag"] for name, v in health["projections"].items()} == {
            "balances": 0,
            "receivables": 0,
            "audit": 0,
            "notifications": 0,
        }
        metrics = p.api.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        lines = metrics.text.splitlines()
        head = p.services.ledger.head_position()
        assert f"arledger_store_head_position {head}" in lines
        assert 'arledger_projection_lag{projection="receivables"} 0' in lines
        assert any(
            line.startswith(
                'arledger_http_requests_total{method="GET",route="/healthz",status="200"}'
            )
            for line in lines
        )
        assert p.api.get("/openapi.json").json()["paths"]["/v1/payments/{payment_id}/allocations"]


def test_account_events_as_of_shows_only_what_was_recorded_by_then(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account()
        first = api.raise_invoice(account["id"], "A-1", 10_00, "2026-01-01", "2026-01-31")
        events = api.ok(
            api.get(f"/v1/accounts/{account['id']}/events", min_position=first["position"])
        )["events"]
        # A moment after the first invoice's reply: what was committed by then. (An
        # event's own ``time`` is its writer's clock before the commit, not a bound.)
        cutoff = datetime.now(UTC).isoformat()
        second = api.raise_invoice(account["id"], "A-2", 10_00, "2026-01-01", "2026-01-31")
        then = api.ok(
            api.get(
                f"/v1/accounts/{account['id']}/events",
                as_of=cutoff,
                min_position=second["position"],
            )
        )["events"]
        now = api.ok(api.get(f"/v1/accounts/{account['id']}/events"))["events"]
        assert [e["position"] for e in then] == [e["position"] for e in events]
        assert len(now) > len(then)
        unknown = api.get(f"/v1/accounts/{uuid.uuid4()}/events")
        assert unknown.status_code == 404


def test_a_pending_card_payment_succeeds_and_settles_the_invoice(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Northwind Workspace")
        invoice = api.raise_invoice(account["id"], "NW-7", 250_00, "2026-02-01", "2026-02-15")
        card = api.record_payment(account["id"], 250_00, method="card", status="pending")
        early = api.post(f"/v1/payments/{card['id']}/allocations", {"strategy": "oldest_first"})
        assert early.status_code == 409
        assert early.json()["type"].endswith("/payment-not-allocatable")

        done = api.ok(api.post(f"/v1/payments/{card['id']}/outcome", {"status": "succeeded"}))
        assert done["status"] == "succeeded" and done["unallocated"]["amount"] == 250_00
        again = api.post(
            f"/v1/payments/{card['id']}/outcome",
            {"status": "failed", "failure_code": "card_declined"},
        )
        assert again.status_code == 409
        assert again.json()["type"].endswith("/payment-not-pending")

        allocation = api.allocate(card["id"], {"strategy": "oldest_first"})
        history = api.ok(
            api.get(f"/v1/accounts/{account['id']}/events", min_position=allocation["position"])
        )["events"]
        settled = [e for e in history if e["type"] == "arledger.invoice.settled"]
        assert [e["subject"] for e in settled] == [invoice["id"]]
        balance = api.ok(api.get(f"/v1/accounts/{account['id']}/balance"))
        assert (balance["paid"]["amount"], balance["outstanding"]["amount"]) == (250_00, 0)


def test_every_event_in_a_day_validates_against_its_published_schema(settings):
    from jsonschema import Draft202012Validator, FormatChecker

    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Schema Checks Ltd", "KWD")
        invoice = api.raise_invoice(
            account["id"], "K-1", 1_500, "2026-01-01", "2026-01-31", currency="KWD"
        )
        failed = api.record_payment(
            account["id"], 1_500, method="card", status="pending", currency="KWD"
        )
        api.ok(
            api.post(
                f"/v1/payments/{failed['id']}/outcome",
                {"status": "failed", "failure_code": "insufficient_funds"},
            )
        )
        paid = api.record_payment(account["id"], 1_500, currency="KWD")
        done = api.allocate(
            paid["id"],
            {
                "allocations": [
                    {"invoice_id": invoice["id"], "amount": {"amount": 1_500, "currency": "KWD"}}
                ]
            },
        )
        events = api.ok(
            api.get(f"/v1/accounts/{account['id']}/events", min_position=done["position"])
        )["events"]
        index = api.ok(api.get("/v1/schemas"))
        seen = set()
        for event in events:
            schema = api.ok(api.get(index[event["type"]]))
            Draft202012Validator(schema, format_checker=FormatChecker()).validate(event)
            seen.add(event["type"])
        assert {
            "arledger.payment.failed",
            "arledger.invoice.settled",
            "arledger.payment.allocated",
        } <= seen
        assert api.get("/v1/schemas/arledger.nothing.happened").status_code == 404


def test_concurrent_allocations_over_http_never_over_allocate(settings):
    from concurrent.futures import ThreadPoolExecutor

    with pipeline(settings, workers=False) as p:
        api = p.api
        account = api.open_account("Race Conditions plc")
        invoice = api.raise_invoice(account["id"], "RC-1", 100_00, "2026-01-01", "2026-01-31")
        payments = [api.record_payment(account["id"], 40_00) for _ in range(8)]

        def allocate(payment):
            return api.post(
                f"/v1/payments/{payment['id']}/allocations",
                {
                    "allocations": [
                        {
                            "invoice_id": invoice["id"],
                            "amount": {"amount": 40_00, "currency": "GBP"},
                        }
                    ]
                },
            )

        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(allocate, payments))
        assert sorted(r.status_code for r in replies) == [201, 201] + [409] * 6
        assert {r.json()["type"] for r in replies if r.status_code == 409} == {
            "/v1/problems/over-allocation"
        }
        settled = p.services.ledger.get_invoice(uuid.UUID(invoice["id"]))
        assert settled.outstanding.amount_minor == 20_00


def test_credit_notes_and_a_void_reduce_what_is_owed_and_say_why(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Harbour View Apartments", "EUR", 45)
        deposit = api.raise_invoice(
            account["id"], "HV-1", 1_000_00, "2026-03-01", "2026-04-15", currency="EUR"
        )
        wrong = api.raise_invoice(
            account["id"], "HV-2", 300_00, "2026-03-02", "2026-04-16", currency="EUR"
        )
        eur = {"currency": "EUR"}
        credited = api.ok(
            api.post(
                f"/v1/invoices/{deposit['id']}/credit-notes",
                {
                    "amount": {"amount": 250_00, **eur},
                    "reason": "late handover discount",
                    "issued_on": "2026-03-10",
                },
            )
        )
        assert (credited["status"], credited["outstanding"]["amount"]) == ("partially_paid", 750_00)
        too_much = api.post(
            f"/v1/invoices/{deposit['id']}/credit-notes",
            {"amount": {"amount": 750_01, **eur}, "reason": "x", "issued_on": "2026-03-10"},
        )
        assert too_much.status_code == 409
        assert too_much.json()["type"].endswith("/credit-exceeds-outstanding")

        voided = api.ok(
            api.post(f"/v1/invoices/{wrong['id']}/void", {"reason": "raised twice by mistake"})
        )
        assert (voided["status"], voided["outstanding"]["amount"]) == ("void", 0)
        again = api.post(
            f"/v1/invoices/{wrong['id']}/credit-notes",
            {"amount": {"amount": 1, **eur}, "reason": "x", "issued_on": "2026-03-10"},
        )
        assert again.json()["type"].endswith("/invoice-void")

        cash = api.record_payment(account["id"], 100_00, currency="EUR")
        api.allocate(cash["id"], {"strategy": "oldest_first"})
        paid_part = api.post(f"/v1/invoices/{deposit['id']}/void", {"reason": "x"})
        assert paid_part.status_code == 409
        assert paid_part.json()["type"].endswith("/invoice-has-allocations")
        rest = api.ok(
            api.post(
                f"/v1/invoices/{deposit['id']}/credit-notes",
                {
                    "amount": {"amount": 650_00, **eur},
                    "reason": "settlement agreed",
                    "issued_on": "2026-03-20",
                },
            )
        )
        assert (rest["status"], rest["outstanding"]["amount"]) == ("paid", 0)

        balance = api.ok(
            api.get(f"/v1/accounts/{account['id']}/balance", min_position=rest["position"])
        )
        assert {
            k: balance[k]["amount"] for k in ("invoiced", "allocated", "credited", "outstanding")
        } == {"invoiced": 1_000_00, "allocated": 100_00, "credited": 900_00, "outstanding": 0}
        history = api.ok(api.get(f"/v1/accounts/{account['id']}/events"))["events"]
        reasons = [e["data"]["reason"] for e in history if "reason" in e["data"]]
        assert reasons == ["late handover discount", "raised twice by mistake", "settlement agreed"]
        row = api.ok(api.get(f"/v1/invoices/{wrong['id']}"))
        assert row["status"] == "void" and row["outstanding"]["amount"] == 0


def test_write_offs_within_authority_apply_at_once_and_above_it_need_a_second_person(settings):
    from tests.support import Api

    with pipeline(settings) as p:
        alice = p.api  # a coordinator: may write off up to 250.00 alone
        mo = Api(str(alice.http.base_url), "test-manager-key")
        account = alice.open_account("Defunct Events Ltd")
        invoice = alice.raise_invoice(account["id"], "DE-9", 1_000_00, "2026-01-01", "2026-01-31")
        path = f"/v1/invoices/{invoice['id']}/write-offs"

        def gbp(amount):
            return {"amount": amount, "currency": "GBP"}

        small = alice.post(path, {"amount": gbp(100_00), "reason": "small balance"})
        assert (small.status_code, small.json()["status"]) == (201, "applied")

        large = alice.post(path, {"amount": gbp(400_00), "reason": "company dissolved"})
        assert (large.status_code, large.json()["status"]) == (202, "pending_approval")
        pending = large.json()["id"]
        own = alice.post(f"/v1/write-offs/{pending}/approve", {})
        assert own.status_code == 403
        assert own.json()["type"] == "/v1/problems/four-eyes-required"
        approved = mo.ok(mo.post(f"/v1/write-offs/{pending}/approve", {}))
        assert (approved["status"], approved["decided_by"]) == ("applied", "mo")

        another = alice.ok(alice.post(path, {"amount": gbp(300_00), "reason": "dispute lost"}))
        rejected = mo.ok(
            mo.post(
                f"/v1/write-offs/{another['id']}/reject",
                {"reason": "client is paying by instalments"},
            )
        )
        assert rejected["status"] == "rejected"
        late = mo.post(f"/v1/write-offs/{another['id']}/approve", {})
        assert late.json()["type"] == "/v1/problems/write-off-not-pending"
        too_much = mo.post(path, {"amount": gbp(500_01), "reason": "x"})
        assert too_much.json()["type"] == "/v1/problems/write-off-exceeds-outstanding"

        state = alice.ok(
            alice.get(f"/v1/invoices/{invoice['id']}", min_position=approved["position"])
        )
        assert (state["written_off"]["amount"], state["outstanding"]["amount"]) == (500_00, 500_00)
        balance = alice.ok(alice.get(f"/v1/accounts/{account['id']}/balance"))
        assert balance["written_off"]["amount"] == 500_00
        assert alice.ok(alice.get(f"/v1/write-offs/{pending}"))["requested_by"] == "alice"


def test_a_collections_specialist_updates_terms_and_logs_a_call(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Keystone Builders", "GBP", 30)
        path = f"/v1/accounts/{account['id']}"
        updated = api.ok(
            api.http.patch(
                path,
                headers={"Idempotency-Key": "terms-1"},
                json={
                    "payment_terms_days": 14,
                    "email": "ap@keystone.example",
                    "credit_limit": {"amount": 5_000_00, "currency": "GBP"},
                    "reason": "repeated late payment",
                },
            )
        )
        assert (updated["payment_terms_days"], updated["email"]) == (14, "ap@keystone.example")
        unchanged = api.http.patch(
            path, headers={"Idempotency-Key": "terms-2"}, json={"payment_terms_days": 14}
        )
        assert unchanged.status_code == 422 and "nothing to change" in unchanged.json()["detail"]
        wrong = api.http.patch(
            path,
            headers={"Idempotency-Key": "terms-3"},
            json={"credit_limit": {"amount": 1, "currency": "EUR"}},
        )
        assert wrong.json()["type"] == "/v1/problems/malformed-money"

        call = api.ok(
            api.post(
                f"{path}/contacts",
                {
                    "channel": "call",
                    "outcome": "promised to pay by Friday",
                    "contact_name": "Dee",
                    "contacted_at": "2026-03-02T10:15:00Z",
                    "notes": "cash flow tight this month",
                },
            )
        )
        assert call["last_contact_at"].startswith("2026-03-02T10:15")
        history = api.ok(api.get(f"{path}/events", min_position=call["position"]))["events"]
        logged = [e for e in history if e["type"] == "arledger.account.contact_logged"]
        assert logged[0]["data"]["outcome"] == "promised to pay by Friday"
        assert logged[0]["effectivetime"].startswith("2026-03-02T10:15")
        changes = [e for e in history if e["type"] == "arledger.account.details_updated"]
        assert changes[0]["data"]["changes"]["credit_limit"] == {
            "amount": 5_000_00,
            "currency": "GBP",
        }
        with p.services.pool.connection() as conn:
            row = conn.execute(
                "SELECT payment_terms_days, credit_limit_minor, last_contact_at"
                " FROM balance_accounts WHERE account_id = %s",
                (account["id"],),
            ).fetchone()
        assert row[0] == 14 and row[1] == 5_000_00 and row[2] is not None


def test_an_account_is_held_suspended_reinstated_escalated_and_terminated(settings):
    with pipeline(settings) as p:
        api = p.api
        account = api.open_account("Lakeside Conferences")
        path = f"/v1/accounts/{account['id']}"

        def standing(action, reason="per policy"):
            return api.post(f"{path}/standing", {"action": action, "reason": reason})

        assert api.ok(standing("hold", "query on invoice MR-4"))["status"] == "on_hold"
        assert standing("hold").json()["type"] == "/v1/problems/standing-not-allowed"
        recommended = api.ok(standing("recommend_suspension", "90 days overdue"))
        assert (recommended["status"], recommended["suspension_recommended"]) == ("on_hold", True)
        assert api.ok(standing("suspend", "no reply to final demand"))["status"] == "suspended"
        assert api.ok(standing("reinstate", "paid in full"))["status"] == "active"
        escalated = api.ok(
            api.post(
                f"{path}/escalations", {"manager": "Priya (key accounts)", "reason": "high value"}
            )
        )
        assert escalated["escalated_to"] == "Priya (key accounts)"
        case = api.ok(
            api.post(
                f"{path}/insolvency-cases", {"kind": "administration", "reference": "CR-2026-0042"}
            )
        )
        assert case["insolvency"] == "administration"
        ended = api.ok(standing("terminate", "contract ended"))
        refused = standing("reinstate")
        assert refused.status_code == 409 and "terminated" in refused.json()["detail"]

        events = api.ok(api.get(f"{path}/events", min_position=ended["position"]))["events"]
        moves = [
            (e["data"]["action"], e["data"]["reason"])
            for e in events
            if e["type"] == "arledger.account.standing_changed"
        ]
        assert moves[0] == ("hold", "query on invoice MR-4") and moves[-1][0] == "terminate"
        with p.services.pool.connection() as conn:
            row = conn.execute(
                "SELECT status, escalated_to, insolvency FROM balance_accounts"
                " WHERE account_id = %s",
                (account["id"],),
            ).fetchone()
        assert row == ("terminated", "Priya (key accounts)", "administration")
