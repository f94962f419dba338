"""The projections this service runs, by name."""

from __future__ import annotations

from projections import balances
from projections.writer import Projection

BALANCES = Projection(name=balances.NAME, schema=balances.SCHEMA, apply=balances.apply)

PROJECTIONS: dict[str, Projection] = {BALANCES.name: BALANCES}
