"""Driving the desk in tests: a real headless Chromium for the users' days, and a plain
HTTP client for what a browser would never send (forged or token-less POSTs)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

# Screenshots of each screen, kept as artefacts of the run.
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "desk"
WAIT_SECONDS = 20.0
# What Chromium says of a node while one page gives way to the next: the old page's node
# is stale (or "not in the document") and the new page may not have its <main> yet.
BETWEEN_PAGES = (NoSuchElementException, StaleElementReferenceException)
# What Chromium may say instead of "stale" of a node the next page has replaced.
NOT_IN_DOCUMENT = "does not belong to the document"


def between_pages(error: WebDriverException) -> bool:
    """The element asked for is gone or not there yet: one page is giving way to the next."""
    return isinstance(error, BETWEEN_PAGES) or NOT_IN_DOCUMENT in (error.msg or "")


class Browser:
    """One signed-in user's browser on the desk at ``base``."""

    def __init__(self, driver: webdriver.Chrome, base: str) -> None:
        self.driver, self.base = driver, base.rstrip("/")
        driver.delete_all_cookies()

    def sign_in(self, key: str) -> None:
        self.open("/signin")
        self.driver.find_element(By.ID, "api_key").send_keys(key)
        self.driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        self.wait_for(lambda: "/signin" not in self.driver.current_url, "signing in")

    def open(self, path: str) -> None:
        """Go to ``path`` and wait for its page (not a browser error page) to be there."""
        self.driver.get(self.base + path)
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.driver.find_elements(By.TAG_NAME, "main"):
            source = self.driver.page_source[:2000]
            assert time.monotonic() < deadline, f"{path} showed no page: {source}"
            time.sleep(0.2)
            if "<main" not in source:
                self.driver.get(self.base + path)

    @property
    def text(self) -> str:
        """The page's main text; empty while one page is giving way to the next."""
        try:
            return str(self.driver.find_element(By.TAG_NAME, "main").text)
        except WebDriverException as e:
            if between_pages(e):
                return ""
            raise

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def click(self, css: str, link_text: str | None = None) -> None:
        """Click ``css`` (or the link called ``link_text`` inside it), finding it again
        if a live region was refreshed under it or the page was still coming in."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                found = self.find(css)
                (found.find_element(By.LINK_TEXT, link_text) if link_text else found).click()
                return
            except WebDriverException as e:
                if not between_pages(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def follow(self, target: WebElement) -> None:
        """Click ``target`` and wait for the next page to replace this one. Chromium may
        report the old page's node as not in the document rather than stale while the
        new page comes in: both mean it is gone."""
        old = self.find("main")
        target.click()

        def gone() -> bool:
            try:
                old.is_enabled()
            except (StaleElementReferenceException, WebDriverException):
                return True
            return False

        self.wait_for(gone, "the next page")

    def fill(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def choose(self, css: str, value: str) -> None:
        self.driver.execute_script(
            "arguments[0].value = arguments[1];arguments[0].dispatchEvent(new Event('change'));",
            self.find(css),
            value,
        )

    def wait_for(self, check: Callable[[], Any], what: str, seconds: float = WAIT_SECONDS) -> None:
        """Wait until ``check`` holds; a check that meets a page in between is not yet."""
        deadline = time.monotonic() + seconds

        def holds() -> bool:
            try:
                return bool(check())
            except WebDriverException as e:
                if between_pages(e):
                    return False
                raise

        while not holds():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.text}"
            time.sleep(0.1)

    def wait_text(self, text: str, seconds: float = WAIT_SECONDS) -> None:
        self.wait_for(lambda: text in self.text, repr(text), seconds)

    def shot(self, name: str) -> Path:
        """A full-page screenshot of the current screen, kept under test-artifacts/."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        height = self.driver.execute_script("return document.body.scrollHeight")
        width = self.driver.get_window_size()["width"]
        self.driver.set_window_size(width, min(max(int(height) + 40, 600), 4000))
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


class DeskHttp:
    """The desk over plain HTTP, signed in with ``key``: pages, their forms' tokens, and
    POSTs shaped however a test likes."""

    def __init__(self, base: str, key: str | None) -> None:
        self.http = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
        self.set_cookie = ""
        if key is None:
            return
        page = self.http.get("/signin")
        nonce = hidden(page.text, "csrf")
        answer = self.http.post("/signin", data={"api_key": key, "csrf": nonce})
        assert answer.status_code == 303, answer.text
        self.set_cookie = next(
            v for v in answer.headers.get_list("set-cookie") if v.startswith("arledger_desk=")
        )

    @classmethod
    def anonymous(cls, base: str) -> DeskHttp:
        return cls(base, None)

    @classmethod
    def with_cookie(cls, base: str, cookie: str) -> DeskHttp:
        desk = cls(base, None)
        desk.http.cookies.set("arledger_desk", cookie)
        return desk

    def get(self, path: str, **params: Any) -> httpx.Response:
        # httpx drops a URL's own query when given params, even empty ones.
        return self.http.get(path, params=params) if params else self.http.get(path)

    def post(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, data=data)

    def close(self) -> None:
        self.http.close()


def hidden(html: str, name: str) -> str:
    """The value of the first hidden input called ``name`` on a page."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field on the page"
    return found.group(1)
