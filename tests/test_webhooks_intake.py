"""The webhook's intake under the load Stripe puts on it: many deliveries at once, the
same event delivered again and again while its first delivery is still being written,
by several writers side by side; and signed bodies that JSON allows but PostgreSQL
cannot store, which must be refused alone, not break the deliveries that arrive with
them."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from channels.stripe_intake import Intake
from tests import stripe_payloads as sp
from tests.pipeline import pipeline

SECRET = "whsec_intake"


@pytest.fixture
def stripe_settings(settings):
    return settings.model_copy(update={"stripe_webhook_secret": SECRET})


def test_each_event_is_recorded_once_by_writers_working_side_by_side(stripe_settings):
    with pipeline(stripe_settings, workers=False) as p:
        events = [sp.event("customer.updated", {"id": f"cus_{n}", "object": "customer"})
                  for n in range(150)]  # fmt: skip
        rng = random.Random(16)
        deliveries = [rng.choice(events) for _ in range(600)] + events
        rng.shuffle(deliveries)
        intake = Intake(p.services.pool, writers=3)
        try:
            with ThreadPoolExecutor(24) as pool:
                futures = list(pool.map(intake.record, deliveries))
            answers = [future.result(timeout=30) for future in futures]
        finally:
            intake.close()
        new = Counter(evt["id"] for evt, before in zip(deliveries, answers, strict=True)
                      if before is None)  # fmt: skip
        assert new == Counter(evt["id"] for evt in events)  # each new exactly once
        assert {before for before in answers if before is not None} == {"received"}
        with p.services.pool.connection() as conn:
            stored = conn.execute("SELECT count(*) FROM stripe_events").fetchone()[0]
        assert stored == len(events)


def test_a_signed_body_with_a_number_json_cannot_store_is_refused_alone(stripe_settings):
    with pipeline(stripe_settings, workers=False) as p:
        good = sp.event("customer.updated", {"id": "cus_good", "object": "customer"})
        bodies = {
            "NaN": b'{"object": "event", "id": "evt_nan", "type": "x", "created": 1790000000,'
            b' "data": {"object": {"id": "o", "ratio": NaN}}}',
            "1e400": b'{"object": "event", "id": "evt_big", "type": "x", "created": 1790000000,'
            b' "data": {"object": {"id": "o", "ratio": 1e400}}}',
        }

        def deliver(body: bytes) -> int:
            signed = sp.sign(body, SECRET, int(time.time()))
            reply = p.api.http.post(
                "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": signed}
            )
            return reply.status_code

        with ThreadPoolExecutor(3) as pool:
            statuses = list(pool.map(deliver, [*bodies.values(), json.dumps(good).encode()]))
        assert statuses == [400, 400, 200]
        assert p.api.ok(p.api.get(f"/v1/stripe/events/{good['id']}"))["outcome"] == "received"
