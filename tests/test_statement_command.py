"""``arledger import-statement``: a bank statement file through the command line is
bounded as the API's ``POST /v1/bank-statements`` bounds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipeline import pipeline
from tests.support import run_cli

HEADER = "Date,Amount,Reference,Payer\n"


def test_a_statement_file_holding_a_nul_is_refused_whole_as_the_api_refuses_it(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    content = HEADER + "2026-11-02,100.00,INV-1,ACME\n2026-11-03,5.00,INV-\x002,ACME\n"
    file = tmp_path / "nov.csv"
    file.write_text(content, encoding="utf-8")
    with pipeline(settings, workers=False) as p:
        head = p.services.ledger.head_position()
        through_api = p.api.post("/v1/bank-statements", {"content": content, "currency": "GBP"})
        assert through_api.status_code == 422, through_api.text
        problem = through_api.json()["errors"][0]

        argv = ["import-statement", str(file), "--currency", "GBP"]
        status = run_cli(argv, settings, monkeypatch)

        out, err = capsys.readouterr()
        assert status == 2, (out, err)
        assert out == ""
        # Its one line on stderr (a handler an earlier test left may write there too).
        said = [line for line in err.splitlines() if line.startswith("arledger import-statement")]
        assert said == [f"arledger import-statement: {file}: {problem['message']}"], err
        assert f"U+0000 at offset {content.index(chr(0))}" in err
        assert p.services.ledger.head_position() == head
        with p.services.pool.connection() as conn:
            assert conn.execute("SELECT to_regclass('bank_lines')").fetchone() == (None,) or (
                conn.execute("SELECT count(*) FROM bank_lines").fetchone() == (0,)
            )


def test_a_statement_file_that_cannot_be_read_is_refused_whole_with_why_not_a_traceback(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "2026-11-02,100.00,INV-1,CAFÉ ACME\n").encode("latin-1"))
    bad_date = tmp_path / "dates.csv"
    bad_date.write_text(HEADER + "2026-13-02,1.00,INV-1,ACME\n", encoding="utf-8")
    with pipeline(settings, workers=False) as p:
        head = p.services.ledger.head_position()
        for file, why in (
            (latin, "the file is not text (UTF-8): export it as CSV"),
            (bad_date, "line 2"),
            (tmp_path / "missing.csv", "No such file or directory"),
        ):
            argv = ["import-statement", str(file), "--currency", "GBP"]
            assert run_cli(argv, settings, monkeypatch) == 2
            out, err = capsys.readouterr()
            said = [ln for ln in err.splitlines() if ln.startswith("arledger import-statement")]
            assert out == "" and len(said) == 1, err
            assert said[0].startswith(f"arledger import-statement: {file}: ")
            assert why in said[0]
        assert p.services.ledger.head_position() == head


def test_a_statement_the_ledger_cannot_match_yet_exits_3_and_imports_nothing(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "dec.csv"
    file.write_text(HEADER + "2026-12-01,100.00,INV-9,ACME\n", encoding="utf-8")
    # No consumer runs: the balances read model never reaches the account just opened.
    quick = settings.model_copy(update={"query_wait_ms": 200})
    with pipeline(quick, workers=False) as p:
        p.api.open_account("Behind Ltd")
        head = p.services.ledger.head_position()
        argv = ["import-statement", str(file), "--currency", "GBP"]
        assert run_cli(argv, quick, monkeypatch) == 3
        out, err = capsys.readouterr()
        said = [line for line in err.splitlines() if line.startswith("arledger import-statement")]
        assert out == "" and len(said) == 1, err
        assert said[0].startswith(f"arledger import-statement: {file}: nothing imported: ")
        assert "try again" in said[0]
        assert p.services.ledger.head_position() == head
