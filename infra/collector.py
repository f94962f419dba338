"""Python's garbage collector, set for a process that owns itself: an API worker, the
relay, the consumers, the Stripe applier, the scheduler, a replay.

Each of them makes thousands of short-lived objects a unit of work (a command's request,
aggregates and reply; a poll's CloudEvents and rows), so at Python's default (a look at the
youngest generation every 700 new objects) the collector ran several times a unit: up to
a tenth of the API's CPU, a fifth of a rebuild's and of a consumer's."""

from __future__ import annotations

import gc

# The collector looks at its youngest generation after this many new objects.
GC_YOUNG_THRESHOLD = 20_000


def settle_collector() -> None:
    """Once the process has built what it works with (modules, routes, schemas, pools),
    keep all that out of the collector's way (``gc.freeze``) and collect the young
    generation less often. Only for a process of its own: not one a test shares."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)
