"""The JSON Schema of every event type, for services that subscribe to the topic."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from contract.schemas import all_schemas
from ledger.errors import NotFound

router = APIRouter(prefix="/v1/schemas", tags=["events"])
_SCHEMAS = all_schemas()


@router.get("")
def list_schemas() -> dict[str, str]:
    """Every event type and where its schema is."""
    return {name: f"/v1/schemas/{name}" for name in _SCHEMAS}


@router.get("/{event_type}")
def get_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one event type, envelope and data."""
    if event_type not in _SCHEMAS:
        raise NotFound(f"no event type {event_type!r}; GET /v1/schemas lists them")
    return _SCHEMAS[event_type]
