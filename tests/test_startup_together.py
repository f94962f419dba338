"""Processes that start together on a fresh database (the API's workers under
``arledger api --workers N``, the consumers beside them) each make sure of the tables
they use; none of them fails because another was making the same table at that moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from infra.settings import Settings
from runtime.composition import Root


def test_api_workers_starting_together_on_a_fresh_database_all_start(settings: Settings) -> None:
    workers = 4
    together = threading.Barrier(workers)

    def start_one(_: int) -> str:
        root = Root(settings.model_copy(update={"api_workers": workers}))
        together.wait()
        services = root.services()
        services.close()
        return "started"

    with ThreadPoolExecutor(workers) as pool:
        assert list(pool.map(start_one, range(workers))) == ["started"] * workers
