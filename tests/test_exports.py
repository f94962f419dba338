"""The auditor's pack: the same period exported twice is byte-identical, the CLI and the
API give the same files, and standard tools (sha256sum, openssl, a stdlib Python script)
verify it; a changed event fails that verification."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from infra.integrity.signing import new_key_pair
from runtime.workers import settings_env
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, COORDINATOR_KEY, Api

ROOT = Path(__file__).resolve().parents[1]


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_pack_is_reproducible_and_verifies_with_standard_tools(
    settings, tmp_path: Path
) -> None:
    private, public = tmp_path / "checkpoint.key", tmp_path / "checkpoint.pub"
    new_key_pair(private, public)
    settings = settings.model_copy(update={"signing_key_file": private})
    with pipeline(settings) as p:
        _write_book(p.api)
        p.wait_until_projected()
        today = datetime.now(UTC).date().isoformat()

        env = {**os.environ, **settings_env(settings)}
        command = [sys.executable, "-m", "runtime.cli", "export", "--from", today, "--to", today]
        first = run([*command, "--out", str(tmp_path / "first")], ROOT, env)
        assert first.returncode == 0, first.stderr
        second = run([*command, "--out", str(tmp_path / "second")], ROOT, env)
        assert second.returncode == 0, second.stderr
        pack = files(tmp_path / "first")
        assert pack == files(tmp_path / "second")

        _served_pack_is_the_same(p, pack, today)

    out = tmp_path / "first"
    assert {
        "events.jsonl",
        "events.csv",
        "receivables.csv",
        "aged_debt.json",
        "debtor_days.json",
        "proof.json",
        "manifest.json",
        "README.md",
        "SHA256SUMS",
        "verify_export.py",
    } <= set(pack)
    assert pack["events.jsonl"].count(b"\n") == 9  # 2 opened, 2 raised, recorded, 3 allocated
    assert b"Auditee Ltd" in pack["receivables.csv"]
    _verifies_with_standard_tools(out, public)
    _tampered_pack_fails(out, tmp_path)


def _write_book(api: Api) -> None:
    """Two accounts: one invoice part paid and allocated, one invoice open."""
    account = api.open_account("Auditee Ltd")
    invoice = api.raise_invoice(account["id"], "AU-1", 500_00, "2026-01-05", "2026-02-04")
    payment = api.record_payment(account["id"], 200_00)
    api.allocate(
        payment["id"],
        {
            "allocations": [
                {"invoice_id": invoice["id"], "amount": {"amount": 200_00, "currency": "GBP"}}
            ]
        },
    )
    other = api.open_account("Second Client Ltd")
    api.raise_invoice(other["id"], "SC-1", 75_00, "2026-01-10", "2026-02-09")


def _served_pack_is_the_same(p: Any, pack: dict[str, bytes], today: str) -> None:
    """The API serves the same pack, zipped, to an auditor, byte for byte each time, and
    not to a coordinator."""
    auditor = Api(p.url, AUDITOR_KEY)
    zipped = auditor.http.get("/v1/exports", params={"from": today, "to": today})
    assert zipped.status_code == 200, zipped.text
    assert (
        zipped.content
        == auditor.http.get("/v1/exports", params={"from": today, "to": today}).content
    )
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        unzipped = {Path(n).name: archive.read(n) for n in archive.namelist()}
    assert unzipped == pack
    coordinator = Api(p.url, COORDINATOR_KEY)
    assert (
        coordinator.http.get("/v1/exports", params={"from": today, "to": today}).status_code == 403
    )


def _verifies_with_standard_tools(out: Path, public: Path) -> None:
    """sha256sum, the pack's own verifier and openssl all accept the pack."""
    assert run(["sha256sum", "-c", "SHA256SUMS"], out).returncode == 0
    checked = run([sys.executable, "verify_export.py"], out)
    assert checked.returncode == 0 and checked.stdout.startswith("OK 9 events"), checked.stdout
    signature = run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(public),
            "-rawin",
            "-in",
            "checkpoint_message.txt",
            "-sigfile",
            "checkpoint_signature.bin",
        ],
        out,
    )
    assert signature.returncode == 0, signature.stdout + signature.stderr


def _tampered_pack_fails(out: Path, tmp_path: Path) -> None:
    """One amount changed in a copy: its verifier says what no longer matches."""
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    events = (tampered / "events.jsonl").read_text()
    (tampered / "events.jsonl").write_text(
        events.replace('\\"amount\\":50000', '\\"amount\\":5000', 1)
    )
    assert (tampered / "events.jsonl").read_text() != events
    failed = run([sys.executable, "verify_export.py"], tampered)
    assert failed.returncode == 1
    assert "events.jsonl does not match its SHA256SUMS line" in failed.stdout
    assert "content does not match its hash" in failed.stdout
    assert "not the checkpoint's" in failed.stdout


def test_the_pack_s_debtor_days_are_the_debtor_days_report_s(settings) -> None:
    """The pack's ``debtor_days.json`` holds, for each currency, the figures the debtor-days
    report gives for the same period (its portfolio totals, ``total_figures``)."""
    today = datetime.now(UTC).date()
    day, month_ago = today.isoformat(), (today - timedelta(days=33)).isoformat()
    with pipeline(settings) as p:
        api = p.api
        harbour = api.open_account("Harbour Cafe")["id"]
        quay = api.open_account("Quay Books")["id"]
        rivage = api.open_account("Rivage SARL", currency="EUR")["id"]
        api.raise_invoice(
            harbour, "H-0", 300_00, month_ago, (today - timedelta(days=3)).isoformat()
        )
        api.raise_invoice(harbour, "H-1", 400_00, day, (today + timedelta(days=30)).isoformat())
        api.raise_invoice(quay, "Q-1", 250_00, month_ago, day)
        api.raise_invoice(rivage, "R-1", 90_00, day, day, currency="EUR")
        paid = api.record_payment(harbour, 150_00, received_on=day)
        api.allocate(paid["id"], {"strategy": "oldest_first"})  # H-0, 33 days after it
        p.wait_until_projected()

        auditor = Api(p.url, AUDITOR_KEY)
        zipped = auditor.http.get("/v1/exports", params={"from": day, "to": day})
        assert zipped.status_code == 200, zipped.text
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            (name,) = [n for n in archive.namelist() if n.endswith("debtor_days.json")]
            pack = json.loads(archive.read(name))

        for currency in ("GBP", "EUR"):
            period = {"currency": currency, "period_start": day, "period_end": day}
            report = api.ok(api.get("/v1/reports/debtor-days", **period))
            exported = {k: _decimal(v) for k, v in pack[currency].items()}
            reported = {k: _decimal(report[k]) for k in exported}
            assert exported == reported, currency
        assert pack["GBP"]["average_days_to_pay"] == "33.00"
        assert pack["GBP"]["collection_effectiveness_index"] is not None


def _decimal(value: object) -> Decimal | None:
    """A ratio as the pack writes it (text) or the report (a JSON number), comparable."""
    return None if value is None else Decimal(str(value))
