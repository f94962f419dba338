"""The Stripe applier as a background worker: it applies the events the webhook recorded
(``channels/stripe_applier.py``). It runs in a process of its own, ``arledger
stripe-apply`` (one slot of ``arledger up``'s supervisor), so that it has an interpreter
to itself rather than a share of the consumers'; if several run, one applies and the
others stand by."""

from __future__ import annotations

import threading
from collections.abc import Callable

from runtime.composition import Root


def stripe_applier_worker(root: Root) -> Callable[[threading.Event], None]:
    def body(stop: threading.Event) -> None:
        with root.store("stripe") as store:
            channel = root.stripe(store.ledger, store.pool)
            channel.applier(root.database_url).run(stop)

    return body
