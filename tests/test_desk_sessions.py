"""Signing in and out of the desk, and what a session and a form guarantee: a refresh or
a double click records once, a revoked key's session stops, money in its own decimals."""

from __future__ import annotations

from infra.settings import Settings
from tests.desk import DeskHttp, hidden
from tests.pipeline import pipeline
from tests.support import ADMIN_KEY, Api


def test_a_session_is_a_signed_http_only_cookie_that_sign_out_and_revocation_end(
    settings: Settings,
) -> None:
    with pipeline(settings, workers=False) as p:
        admin = Api(p.url, ADMIN_KEY)
        issued = admin.ok(admin.post("/v1/api-keys", {"role": "coordinator", "actor": "bea"}))
        anonymous = DeskHttp.anonymous(p.url)
        assert anonymous.get("/payments").headers["location"] == "/signin?next=/payments"
        page = anonymous.get("/signin")
        wrong = anonymous.post(
            "/signin", {"api_key": "not-a-key", "csrf": hidden(page.text, "csrf")}
        )
        assert wrong.status_code == 401 and "not valid" in wrong.text

        desk = DeskHttp(p.url, issued["secret"])
        cookie = desk.set_cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=36000" in cookie
        assert desk.get("/accounts").status_code == 200
        forged = desk.http.cookies.get("arledger_desk", "") + "0"
        assert DeskHttp.with_cookie(p.url, forged).get("/accounts").status_code == 303

        admin.ok(admin.post(f"/v1/api-keys/{issued['id']}/revoke", {}))
        gone = desk.get("/accounts")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")

        again = DeskHttp(p.url, ADMIN_KEY)
        page = again.get("/accounts")
        assert again.post("/signout", {"csrf": hidden(page.text, "csrf")}).status_code == 303
        assert again.get("/accounts").status_code == 303
        admin.close()


def test_a_resubmitted_form_records_once_and_money_shows_in_its_own_decimals(
    settings: Settings,
) -> None:
    with pipeline(settings) as p:
        kwd = p.api.open_account("Gulf Trading WLL", currency="KWD")["id"]
        p.api.raise_invoice(kwd, "GT-1", 1_234_567, "2026-01-01", "2026-01-31", currency="KWD")
        jpy = p.api.open_account("Sato Shoten KK", currency="JPY")["id"]
        p.api.raise_invoice(jpy, "SS-1", 738_000, "2026-01-01", "2026-01-31", currency="JPY")
        p.wait_until_projected()
        desk = DeskHttp(p.url, ADMIN_KEY)
        page = desk.get(f"/accounts/{kwd}")
        assert "1,234.567 KWD" in page.text
        assert "738,000 JPY" in desk.get(f"/accounts/{jpy}").text

        form = {
            "csrf": hidden(page.text, "csrf"),
            "idem": hidden(page.text, "idem"),
            "action": "contact",
            "channel": "call",
            "outcome": "left a voicemail",
        }
        first = desk.post(f"/accounts/{kwd}", form)
        second = desk.post(f"/accounts/{kwd}", form)  # a double click, or a refresh
        assert first.status_code == second.status_code == 303
        position = int(second.headers["location"].split("min_position=")[1].split("&")[0])
        trail = p.api.ok(p.api.get(f"/v1/accounts/{kwd}/audit-trail", min_position=position,
                                   type="arledger.account.contact_logged"))  # fmt: skip
        assert [e["data"]["outcome"] for e in trail["entries"]] == ["left a voicemail"]
        shown = desk.get(second.headers["location"])
        assert "Contact logged" in shown.text and shown.text.count("left a voicemail") == 1
        desk.close()
