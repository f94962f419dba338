"""A reconciliation report as JSON, for the API and the command line alike."""

from __future__ import annotations

from typing import Any

from channels.reconcile import Report


def report_json(report: Report, run_id: str, position: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "channel": "stripe",
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "listed": report.listed,
        "counts": report.counts(),
        "findings": [f.as_json() for f in report.findings],
        "payouts": report.payouts,
        "position": position,
    }
