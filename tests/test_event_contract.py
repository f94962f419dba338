"""The published event contract, pinned: every event type's JSON Schema as `GET
/v1/schemas/{type}` serves it is compared with the golden file. A change to an event's
shape fails here until it is made on purpose: bump the event's schema version, keep an
upcast for the events already stored, and write the golden file again with
``ARLEDGER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_event_contract.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ledger.schemas import all_schemas

GOLDEN = Path(__file__).parent / "golden" / "event-schemas.json"


def test_the_published_event_schemas_change_only_on_purpose() -> None:
    published = json.loads(json.dumps(all_schemas(), sort_keys=True, default=str))
    if os.environ.get("ARLEDGER_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(published, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    added = sorted(set(published) - set(golden))
    removed = sorted(set(golden) - set(published))
    changed = sorted(t for t in set(published) & set(golden) if published[t] != golden[t])
    assert not (removed or changed), (
        f"event types removed: {removed}; changed: {changed}. A published event changes "
        "only with a new schema version and an upcast; then update the golden file."
    )
    assert not added, f"new event types {added}: add them to the golden file on purpose"
