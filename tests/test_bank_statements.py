"""Bank statements in: a BACS export with exact, fuzzy, ambiguous and unknown lines is
matched to accounts and invoices; what is certain is recorded and allocated, the rest
waits for a person with its candidates; the same lines imported again change nothing."""

from __future__ import annotations

import pytest

from channels import bank_import, bank_lines
from channels.bank_csv import minor_units
from tests.pipeline import pipeline

HEADER = "Date,Amount,Reference,Payer\n"


@pytest.fixture
def bank_settings(settings):
    # A receipt may be up to 1.00 short of (or over) what it pays: a bank charge.
    return settings.model_copy(update={"bank_amount_tolerance": 100})


def _account(api, name, external_ref=None):
    body = {"name": name, "currency": "GBP", "payment_terms_days": 30}
    if external_ref:
        body["external_ref"] = external_ref
    return api.ok(api.post("/v1/accounts", body))["id"]


def _invoice(api, account, number, amount, due_on="2026-10-15"):
    return api.raise_invoice(account, number, amount, "2026-09-15", due_on)["id"]


def _import(api, content, **extra):
    body = {"content": content, "currency": "GBP", "filename": "nov.csv", **extra}
    return api.post("/v1/bank-statements", body)


def _book(api):
    """Accounts and invoices the statement pays, and a receipt recorded by hand."""
    acme = _account(api, "Acme Meeting Rooms Ltd", "ACME01")
    bright = _account(api, "Brightside Events Limited")
    castle = _account(api, "Castle Catering PLC")
    deltas = [_account(api, "Delta Hotels Ltd"), _account(api, "Delta Venues Ltd")]
    elm = _account(api, "Elm Offices Ltd")
    inv = {
        "INV-1001": _invoice(api, acme, "INV-1001", 1_200_00, "2026-10-01"),
        "INV-1002": _invoice(api, acme, "INV-1002", 300_00),
        "BS-2001": _invoice(api, bright, "BS-2001", 450_00, "2026-10-01"),
        "BS-2002": _invoice(api, bright, "BS-2002", 450_00),
        "CC-77": _invoice(api, castle, "CC-77", 99_50),
        "D0": _invoice(api, deltas[0], "INV-5000", 500_00),
        "D1": _invoice(api, deltas[1], "INV-5000", 500_00),
        "E-1": _invoice(api, elm, "E-1", 800_00),
    }
    by_hand = api.record_payment(elm, 800_00, received_on="2026-11-04")
    api.allocate(by_hand["id"], {"strategy": "oldest_first"})
    accounts = {"acme": acme, "bright": bright, "castle": castle, "deltas": deltas, "elm": elm}
    return accounts, inv


STATEMENT = HEADER + (
    "2026-11-02,1200.00,INV-1001,ACME MEETING ROOMS LTD\n"  # exact
    "2026-11-03,299.50,inv 1002 thanks,ACME MEETING RO\n"  # fuzzy: spacing, cut name, 50p short
    "2026-11-03,99.50,PAYMENT,CASTEL CATERING\n"  # fuzzy: a misspelt payer, the amount agrees
    "2026-11-04,450.00,BRIGHTSIDE,BRIGHTSIDE EVENTS\n"  # the account is sure, the invoice not
    "2026-11-05,500.00,INV-5000,DELTA\n"  # ambiguous: two accounts have an INV-5000
    "2026-11-05,77.77,XYZ REF,JOHN SMITH\n"  # unknown
    "2026-11-05,-25.00,BANK FEE,\n"  # money out
    "2026-11-04,800.00,E-1,ELM OFFICES\n"  # recorded by hand already
)


def _outstanding(api, invoice, position):
    return api.ok(api.get(f"/v1/invoices/{invoice}", min_position=position))["outstanding"]


def _balance(api, account, position):
    return api.ok(api.get(f"/v1/accounts/{account}/balance", min_position=position))


def test_a_statement_allocates_what_is_certain_and_queues_the_rest_with_candidates(
    bank_settings,
):
    with pipeline(bank_settings) as p:
        api = p.api
        accounts, inv = _book(api)
        reply = _import(api, STATEMENT)
        assert reply.status_code == 201, reply.text
        report = reply.json()
        assert [(ln["row"], ln["outcome"], ln["reason"]) for ln in report["lines"]] == [
            (2, "allocated", "reference"),
            (3, "allocated", "reference"),
            (4, "allocated", "amount"),
            (5, "exception", "allocation-unclear"),
            (6, "exception", "account-ambiguous"),
            (7, "exception", "no-match"),
            (8, "outgoing", None),
            (9, "already-in-ledger", None),
        ]
        assert report["counts"]["lines"] == 8 and report["counts"]["allocated"] == 3
        # What the import answers of each line is what the queue shows of it, to the field.
        path = "/v1/bank-statements/lines"
        listed = api.ok(api.get(path, statement_id=report["statement_id"]))["lines"]
        assert listed == report["lines"]
        at = report["position"]
        assert _outstanding(api, inv["INV-1001"], at)["amount"] == 0
        assert _outstanding(api, inv["INV-1002"], at)["amount"] == 50  # the bank's charge
        assert _outstanding(api, inv["CC-77"], at)["amount"] == 0
        received = _balance(api, accounts["acme"], at)["paid"]["amount"]
        assert received == 1_200_00 + 299_50
        assert _balance(api, accounts["elm"], at)["paid"]["amount"] == 800_00  # not twice
        # The account was sure, so the money is on it, waiting to be placed.
        assert _balance(api, accounts["bright"], at)["unallocated"]["amount"] == 450_00
        for delta in accounts["deltas"]:
            assert _balance(api, delta, at)["paid"]["amount"] == 0

        queue = api.ok(api.get("/v1/bank-statements/lines", outcome="exception"))["lines"]
        assert [ln["reason"] for ln in queue] == [
            "allocation-unclear",
            "account-ambiguous",
            "no-match",
        ]
        unclear, ambiguous, unknown = queue
        assert {i["number"] for i in unclear["candidates"][0]["invoices"]} == {"BS-2001", "BS-2002"}
        assert {c["account_id"] for c in ambiguous["candidates"]} == set(accounts["deltas"])
        assert ambiguous["payment_id"] is None and "choose the account" in ambiguous["action"]
        assert unknown["candidates"] == []

        # Paged, each full page says where the next begins; together they are the queue.
        first = api.ok(api.get(path, outcome="exception", limit=2))
        assert len(first["lines"]) == 2 and first["next_imported_after"]
        after = first["next_imported_after"]
        rest = api.ok(api.get(path, outcome="exception", limit=2, imported_after=after))
        paged = [ln["line_id"] for ln in first["lines"] + rest["lines"]]
        assert paged == [ln["line_id"] for ln in queue]
        assert rest["next_imported_after"] is None


def test_a_person_works_the_exceptions_queue(bank_settings):
    with pipeline(bank_settings) as p:
        api = p.api
        accounts, inv = _book(api)
        _import(api, STATEMENT)
        unclear, ambiguous, unknown = api.ok(
            api.get("/v1/bank-statements/lines", outcome="exception")
        )["lines"]
        lines = "/v1/bank-statements/lines"

        head = p.services.ledger.head_position()
        elsewhere = api.post(
            f"{lines}/{unclear['line_id']}/resolution", {"account_id": accounts["deltas"][0]}
        )
        assert elsewhere.status_code == 409, elsewhere.text
        assert elsewhere.json()["type"] == "/v1/problems/bank-line-not-open"
        no_account = api.post(f"{lines}/{ambiguous['line_id']}/resolution", {})
        assert no_account.status_code == 422
        assert p.services.ledger.head_position() == head  # refused: nothing appended

        placed = api.ok(
            api.post(
                f"{lines}/{unclear['line_id']}/resolution",
                {"allocations": [{"invoice_id": inv["BS-2002"], "amount": _gbp(450_00)}]},
            )
        )
        assert placed["outcome"] == "resolved" and placed["resolved_by"] == "alice"
        chosen = api.ok(
            api.post(
                f"{lines}/{ambiguous['line_id']}/resolution",
                {"account_id": accounts["deltas"][1], "strategy": "oldest_first"},
            )
        )
        dismissed = api.ok(
            api.post(f"{lines}/{unknown['line_id']}/dismissal", {"note": "our own transfer"})
        )
        assert dismissed["outcome"] == "dismissed"

        at = chosen["position"]
        assert _outstanding(api, inv["BS-2002"], at)["amount"] == 0
        assert _outstanding(api, inv["BS-2001"], at)["amount"] == 450_00
        assert _outstanding(api, inv["D1"], at)["amount"] == 0
        assert _outstanding(api, inv["D0"], at)["amount"] == 500_00
        assert api.ok(api.get(lines, outcome="exception"))["lines"] == []
        again = api.post(f"{lines}/{unknown['line_id']}/dismissal", {"note": "again"})
        assert again.status_code == 409


def _gbp(minor):
    return {"amount": minor, "currency": "GBP"}


def test_the_same_lines_imported_again_change_nothing(bank_settings):
    with pipeline(bank_settings) as p:
        api = p.api
        acct = _account(api, "Fern Studios Ltd")
        first = _invoice(api, acct, "F-1", 100_00)
        _invoice(api, acct, "F-2", 100_00)
        _invoice(api, acct, "F-3", 250_00)
        early = HEADER + (
            "2026-11-02,100.00,F-1,FERN STUDIOS\n"
            "2026-11-03,10.00,F-3,FERN STUDIOS\n"
            "2026-11-03,10.00,F-3,FERN STUDIOS\n"  # the same twice in a day: two receipts
        )
        done = api.ok(_import(api, early))
        assert done["counts"]["allocated"] == 3
        head = p.services.ledger.head_position()

        again = _import(api, early)  # another Idempotency-Key: the file itself is known
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["statement_id"] == done["statement_id"]
        assert p.services.ledger.head_position() == head

        # The month's export overlaps the first: its dates day-first, its lines reordered.
        month = HEADER + (
            "03/11/2026,10.00,F-3,FERN STUDIOS\n"
            "02/11/2026,100.00,F-1,FERN STUDIOS\n"
            "03/11/2026,10.00,F-3,FERN STUDIOS\n"
            "09/11/2026,100.00,F-2,FERN STUDIOS\n"
        )
        later = api.ok(_import(api, month, date_format="dmy"))
        assert later["duplicate"] is False
        assert [ln["outcome"] for ln in later["lines"]] == ["already-imported"] * 3 + ["allocated"]
        assert later["counts"]["already-imported"] == 3
        balance = _balance(api, acct, later["position"])
        assert balance["paid"]["amount"] == 100_00 + 10_00 + 10_00 + 100_00
        assert _outstanding(api, first, later["position"])["amount"] == 0


def test_a_statement_that_cannot_be_read_is_refused_whole(bank_settings):
    with pipeline(bank_settings, workers=False) as p:
        api = p.api
        head = p.services.ledger.head_position()
        bad = HEADER + "2026-11-02,100.00,A,B\n2026-13-02,1.00,A,B\n2026-11-02,1.005,A,B\n"
        refused = _import(api, bad)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["type"] == "/v1/problems/bank-statement-malformed"
        assert "line 3" in problem["detail"] and "line 4" in problem["detail"]
        assert "more decimals than GBP" in problem["detail"]
        no_payer = _import(api, "date,amount,reference\n2026-11-02,1.00,A\n")
        assert "missing: payer" in no_payer.json()["detail"]
        assert p.services.ledger.head_position() == head


def test_a_statement_with_decimal_commas_is_read_as_its_format_says_never_guessed(
    bank_settings,
):
    with pipeline(bank_settings) as p:
        api = p.api
        body = {"name": "Rive Gauche SARL", "currency": "EUR", "payment_terms_days": 30}
        rive = api.ok(api.post("/v1/accounts", body))["id"]
        inv = api.raise_invoice(rive, "RG-1", 12_50, "2026-09-15", "2026-10-15", currency="EUR")
        statement = HEADER + (
            '2026-11-02,"12,50",RG-1,RIVE GAUCHE SARL\n'
            '2026-11-03,"1.012,50",RG-2,RIVE GAUCHE SARL\n'
        )
        head = p.services.ledger.head_position()
        # Read with the default "." the comma groups no thousands: refused, not €1,250.00.
        guessed = api.post(
            "/v1/bank-statements", {"content": statement, "currency": "EUR", "filename": "fr.csv"}
        )
        assert guessed.status_code == 422, guessed.text
        problem = guessed.json()
        assert problem["type"] == "/v1/problems/bank-statement-malformed"
        assert "line 2: amount '12,50' is ambiguous" in problem["detail"]
        assert p.services.ledger.head_position() == head

        read = api.ok(
            api.post(
                "/v1/bank-statements",
                {"content": statement, "currency": "EUR", "decimal_separator": ","},
            )
        )
        amounts = [ln["amount"] for ln in read["lines"]]
        assert amounts == [
            {"amount": 12_50, "currency": "EUR"},
            {"amount": 1_012_50, "currency": "EUR"},
        ]
        assert read["lines"][0]["outcome"] == "allocated"
        assert _outstanding(api, inv["id"], read["position"])["amount"] == 0


def test_amounts_are_read_in_the_currency_s_own_minor_units():
    assert minor_units("1,234.56", "GBP") == 123_456
    assert minor_units("(12.00)", "GBP") == -1_200
    assert minor_units("1,000", "JPY") == 1_000
    assert minor_units("1.234", "KWD") == 1_234
    with pytest.raises(ValueError, match="more decimals"):
        minor_units("10.5", "JPY")
    # A statement's own number format: a decimal comma, a point (or space) for thousands.
    assert minor_units("12,50", "EUR", decimal_separator=",") == 1_250
    assert minor_units("1.234,56", "EUR", decimal_separator=",") == 123_456
    assert minor_units("1 234,56", "EUR", decimal_separator=",") == 123_456
    # What the chosen format cannot read for sure is refused, never guessed.
    for text, separator in (("12,50", "."), ("1,23,456.00", "."), ("12.5", ","), ("1,2.5", ",")):
        with pytest.raises(ValueError):
            minor_units(text, "EUR", decimal_separator=separator)


def test_a_line_the_ledger_cannot_take_waits_for_a_person_and_the_file_goes_on(bank_settings):
    with pipeline(bank_settings) as p:
        api = p.api
        acct = _account(api, "Fern Studios Ltd")
        invoices = [_invoice(api, acct, f"F-{n}", 100_00) for n in (1, 2, 3, 4)]
        largest = _invoice(api, acct, "F-5", 10**15)  # the largest amount the ledger takes
        long_reference = f"F-2 {'X' * 200}"  # longer than a payment's reference may be
        statement = HEADER + (
            "2026-11-02,100.00,F-1,FERN STUDIOS\n"
            f"2026-11-03,100.00,{long_reference},FERN STUDIOS\n"
            "2026-11-03,10000000000000.01,F-5,FERN STUDIOS\n"  # a penny more than it takes
            "2026-11-04,100.00,F-4,FERN STUDIOS\n"
        )
        done = api.ok(_import(api, statement))
        shown = [(ln["row"], ln["outcome"], ln["reason"]) for ln in done["lines"]]
        assert shown == [
            (2, "allocated", "reference"),
            (3, "exception", "reference-too-long"),
            (4, "exception", "ledger-refused"),
            (5, "allocated", "reference"),
        ]
        long_line, refused_line = done["lines"][1], done["lines"][2]
        assert long_line["reference"] == long_reference  # the line keeps what the bank wrote
        assert "204 characters" in long_line["evidence"][0]
        assert long_line["payment_id"] is None and long_line["account_id"] is None
        [candidate] = long_line["candidates"]  # the match it would have been, to confirm
        assert candidate["account_id"] == acct
        assert candidate["invoices"][0]["number"] == "F-2"
        assert "reference names invoice F-2" in candidate["evidence"]
        assert "the ledger refused it" in refused_line["evidence"][-1]
        assert "exceeds the largest amount" in refused_line["evidence"][-1]
        [candidate] = refused_line["candidates"]  # what the match would have paid, unpaid
        assert candidate["account_id"] == acct
        assert candidate["invoices"][0]["invoice_id"] == largest
        assert candidate["invoices"][0]["outstanding"]["amount"] == 10**15
        assert refused_line["payment_id"] is None
        assert (done["counts"]["reference-too-long"], done["counts"]["ledger-refused"]) == (1, 1)
        at = done["position"]
        outstanding = [_outstanding(api, i, at)["amount"] for i in invoices]
        assert outstanding == [0, 100_00, 100_00, 0]
        assert _balance(api, acct, at)["paid"]["amount"] == 200_00
        queue = api.ok(api.get("/v1/bank-statements/lines", outcome="exception"))["lines"]
        assert [ln["row"] for ln in queue] == [3, 4]

        head = p.services.ledger.head_position()
        again = _import(api, statement)  # the same file: nothing twice
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert p.services.ledger.head_position() == head

        # The coordinator places the long line: its payment keeps the reference's start.
        placed = api.ok(
            api.post(
                f"/v1/bank-statements/lines/{long_line['line_id']}/resolution",
                {"account_id": acct, "strategy": "oldest_first"},
            )
        )
        assert placed["outcome"] == "resolved"
        payment = api.ok(api.get(f"/v1/payments/{placed['payment_id']}"))
        assert payment["reference"] == long_reference[:200]
        assert _outstanding(api, invoices[1], placed["position"])["amount"] == 0


def test_an_import_cut_short_between_the_ledger_and_its_lines_resumes_without_duplicates(
    bank_settings, monkeypatch
):
    # Two lines a transaction; the second's lines are lost after their payments are saved.
    monkeypatch.setattr(bank_import, "LINES_PER_SAVE", 2)
    settle_many = bank_lines.settle_many
    calls = []

    def cut(conn, settled):
        calls.append(len(settled))
        if len(calls) == 2:
            raise RuntimeError("the process died")
        settle_many(conn, settled)

    monkeypatch.setattr(bank_lines, "settle_many", cut)
    with pipeline(bank_settings) as p:
        api = p.api
        acct = _account(api, "Fern Studios Ltd")
        invoices = [_invoice(api, acct, f"F-{n}", n * 10_00) for n in range(1, 6)]
        statement = HEADER + "".join(
            f"2026-11-0{n},{n * 10}.00,F-{n},FERN STUDIOS\n" for n in range(1, 6)
        )
        assert _import(api, statement).status_code == 500
        monkeypatch.setattr(bank_lines, "settle_many", settle_many)

        resumed = api.ok(_import(api, statement))

        assert [ln["outcome"] for ln in resumed["lines"]] == [
            "allocated",
            "allocated",
            "already-in-ledger",  # its payment, saved before the cut, is taken as it is
            "already-in-ledger",
            "allocated",
        ]
        at = resumed["position"]
        assert _balance(api, acct, at)["paid"]["amount"] == 150_00  # each line once
        assert [_outstanding(api, i, at)["amount"] for i in invoices] == [0] * 5
