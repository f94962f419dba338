"""The import screen, in a real browser against the real pipeline: a coordinator uploads
a billing system's export, sees what each row became (the refused ones first, with their
reasons), and uploading the same file again raises nothing twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.settings import Settings
from tests.desk import Browser, DeskHttp, hidden
from tests.pipeline import pipeline
from tests.support import AUDITOR_KEY, COORDINATOR_KEY, Api


def _book(api: Api) -> dict[str, str]:
    harbour = api.open_account("Harbour Cafe")["id"]
    quay = api.ok(
        api.post(
            "/v1/accounts",
            {"name": "Quay Books", "currency": "GBP", "payment_terms_days": 30,
             "external_ref": "CRM-0042"},
        )
    )  # fmt: skip
    # NOV-9 is on Harbour's books already, for another amount: the file's NOV-9 is refused.
    api.raise_invoice(harbour, "NOV-9", 300_00, "2026-10-01", "2026-10-31")
    return {"harbour": harbour, "quay": quay["id"], "position": str(quay["position"])}


def _export(ids: dict[str, str]) -> str:
    harbour = ids["harbour"]
    return (
        "account_id,account_ref,number,amount,currency,issued_on,due_on,description\n"
        f'{harbour},,NOV-1,"1,200.00",GBP,2026-11-01,2026-12-01,Room hire\n'
        f"{harbour},,NOV-2,twelve,GBP,2026-11-01,2026-12-01,Catering\n"  # no amount
        ",CRM-0042,NOV-3,45.50,GBP,2026-11-02,2026-12-02,Books\n"
        f"{harbour},,NOV-9,99.00,GBP,2026-11-03,2026-12-03,\n"  # a number used already
        f"{harbour},,NOV-4,10.00,GBP,2026-11-03,2026-12-03,Coffee\n"
    )


def test_a_coordinator_imports_a_file_of_invoices_and_again_changes_nothing(
    settings: Settings, chromium_driver: Any, tmp_path: Path
) -> None:
    with pipeline(settings) as p:
        ids = _book(p.api)
        p.wait_until_projected(int(ids["position"]))  # account_ref is read from it
        export = tmp_path / "november.csv"
        export.write_text(_export(ids))
        desk = Browser(chromium_driver, p.url)
        desk.sign_in(COORDINATOR_KEY)

        _upload(desk, export)
        desk.wait_text("3 raised")
        assert "0 already in the ledger" in desk.text and "2 refused" in desk.text
        refused = {
            str(r.get_attribute("data-line")): r.text for r in desk.all("tr[data-status=refused]")
        }
        assert sorted(refused) == ["3", "5"]
        assert "twelve" in refused["3"]
        assert "Duplicate invoice number" in refused["5"] and "NOV-9" in refused["5"]
        assert "used on Harbour Cafe for 300.00 GBP" in refused["5"]  # not its id, not pence
        raised = desk.all("tr[data-status=raised]")
        assert [r.get_attribute("data-line") for r in raised] == ["2", "4", "6"]
        assert "Harbour Cafe" in raised[0].text and "Quay Books" in raised[1].text  # by its ref
        _shot(desk, "imports-result")
        p.wait_until_projected()
        invoices = p.api.ok(p.api.get(f"/v1/accounts/{ids['harbour']}/invoices"))
        numbers = sorted(i["number"] for i in invoices["invoices"])
        assert numbers == ["NOV-1", "NOV-4", "NOV-9"]

        _upload(desk, export)
        desk.wait_text("3 already in the ledger")
        assert "0 raised" in desk.text and "2 refused" in desk.text
        statuses = [r.get_attribute("data-status") for r in desk.all("tbody tr[data-status]")]
        assert statuses == ["refused", "refused", "already", "already", "already"]

        # The account's page, from the row's link, shows the invoice raised.
        desk.follow(desk.find("tr[data-line='2'] a"))
        desk.wait_text("NOV-1")
        _unreadable_file(desk, tmp_path)
        _auditor(p.url, export)


def _upload(desk: Browser, export: Path) -> None:
    desk.open("/imports")
    desk.wait_text("What the file holds")
    desk.find("#file").send_keys(str(export))
    desk.follow(desk.find("#upload button[type=submit]"))


def _shot(desk: Browser, name: str) -> None:
    """The whole page: the window is grown again when its viewport came out shorter."""
    path = desk.shot(name)
    short = desk.driver.execute_script("return document.body.scrollHeight - window.innerHeight")
    if int(short) > 0:
        size = desk.driver.get_window_size()
        desk.driver.set_window_size(size["width"], size["height"] + int(short))
        desk.driver.save_screenshot(str(path))


def _unreadable_file(desk: Browser, tmp_path: Path) -> None:
    """A file the API refuses whole: the form again, with why, and nothing raised."""
    junk = tmp_path / "junk.csv"
    junk.write_text("account_id,number,amount\nx,1,2\n")
    _upload(desk, junk)
    desk.wait_text("has no column")
    alert = desk.find("main [role=alert]")
    assert "The file was not imported: nothing was raised" in alert.text
    assert "junk.csv has no column currency, issued_on, due_on" in alert.text
    assert desk.all("#upload") and not desk.all("tr[data-status]")
    assert desk.find("nav a[aria-current]").text == "Import"
    _shot(desk, "imports-refused-file")


def _auditor(base: str, export: Path) -> None:
    """An auditor is offered no upload, and a forged one is refused for the role."""
    auditor = DeskHttp(base, AUDITOR_KEY)
    page = auditor.get("/imports")
    assert page.status_code == 200 and "may not import invoices" in page.text
    assert 'method="post"' not in page.text.split("</header>")[1]
    tokens = {"csrf": hidden(page.text, "csrf"), "idem": "forged-import"}
    files = {"file": ("november.csv", export.read_bytes(), "text/csv")}
    refused = auditor.http.post("/imports", data=tokens, files=files)
    assert refused.status_code == 403
    auditor.close()
