"""Reconciliation runs read back as recorded (``GET /v1/reconciliations/{id}`` and the
list of runs) as CSV and XLSX: the same sheets as the run's own reply, less the payouts,
which the run's event does not record."""

from __future__ import annotations

from typing import Any

from api.tabular import Column, Document, Row, Sheet
from api.tabular_layouts import COUNTS, STRIPE_FINDINGS, ident, money, text
from api.tabular_write import day, moment

BANK_KEYS = {"kind", "reference", "line_id", "row", "amount", "payer", "account_id"}
# A bank import's findings: the statement file, then each line left for a person.
BANK_FINDINGS = [
    text("Kind", "kind"),
    text("Reference", "reference"),
    text("Line ID", "line_id", 38),
    Column("Row", "row", "int"),
    Column("Currency", lambda r: (r.get("amount") or {}).get("currency"), width=9),
    money("Amount", "amount"),
    text("Payer", "payer"),
    text("Account ID", "account_id", 38),
    Column("Other", lambda r: _other(r, BANK_KEYS), "json", 40),
]


def _other(row: Row, shown: set[str]) -> dict[str, Any] | None:
    """What else a finding records (the statement file's name and SHA-256, say)."""
    rest = {k: v for k, v in row.items() if k not in shown and v is not None}
    return rest or None


def _title(body: dict[str, Any]) -> str:
    return "Stripe reconciliation" if body["channel"] == "stripe" else "Bank reconciliation"


def recorded_run(body: dict[str, Any]) -> Document:
    """Counts by kind (what was listed too), then each finding recorded (the CSV)."""
    counts = [{"kind": k, "count": n} for k, n in sorted(body["counts"].items())]
    counts += [{"kind": f"listed: {k}", "count": n} for k, n in sorted(body["listed"].items())]
    findings = STRIPE_FINDINGS if body["channel"] == "stripe" else BANK_FINDINGS
    return Document(
        _title(body),
        "-".join(["reconciliation", body["channel"], body["from"], body["to"]]),
        [
            ("Run", body["run_id"]),
            ("Channel", body["channel"]),
            ("From", day(body["from"])),
            ("To", day(body["to"])),
            ("Recorded at (UTC)", moment(body["recorded_at"])),
            ("By", body["actor"]),
            ("Position", body["position"]),
        ],
        [Sheet("Counts", COUNTS, counts), Sheet("Findings", findings, body["findings"])],
    )


def runs(body: dict[str, Any], channel: str | None) -> Document:
    columns = [
        ident("Run ID", "run_id"),
        text("Channel", "channel"),
        Column("From", "from", "date"),
        Column("To", "to", "date"),
        Column("Recorded at (UTC)", "recorded_at", "datetime"),
        text("By", "actor"),
        Column("Findings recorded", "findings_recorded", "int"),
        Column("Counts", "counts", "json", 40),
        Column("Position", "position", "int"),
    ]
    return Document(
        "Reconciliation runs",
        "-".join(["reconciliations", *([channel] if channel else [])]),
        [("Channel", channel or "all"), ("Next page before", body.get("next_before"))],
        [Sheet("Runs", columns, body["runs"])],
    )
