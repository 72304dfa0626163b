"""Playwright for Python driving Debian's Chromium (/usr/bin/chromium, no browser download) against a live
Metalyard: fixtures for a browser page that records every console error (the test fails on any), screenshots
under the run's artifacts (`--artifacts DIR`, by default <the run's pytest basetemp>/artifacts), the pictures of
docs/portal.md only when asked where (`--screenshots-output DIR`; the documented command passes docs/images/portal),
and an axe-core check (axe-playwright-python's bundled axe-core) that fails on any serious or critical violation."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 15_000  # the longest a page or an element may take to appear, except the install itself
BLOCKING_IMPACTS = ("serious", "critical")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements.txt")


@dataclass
class Browsing:
    """One browser context (one signed-in person) and what it saw go wrong."""

    page: Any
    artifacts: Path  # this test's own folder under the run's artifacts
    docs_output: Path | None  # where the pictures of the docs go, when the run was asked for them
    console_errors: list[str] = field(default_factory=list)
    axe_violations: list[str] = field(default_factory=list)
    checked_pages: set[str] = field(default_factory=set)

    def shot(self, name: str, *, docs: bool = False) -> Path:
        """A full-page screenshot under the test's artifacts; a `docs` picture is also copied to --screenshots-output."""
        path = self.artifacts / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        if docs and self.docs_output is not None:
            self.docs_output.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.docs_output / f"{name}.png")
        return path

    def check_accessibility(self) -> None:
        """axe-core on the page as it is now; each distinct page is checked once per test."""
        from axe_playwright_python.sync_playwright import Axe

        key = self.page.url.split("?")[0]
        if key in self.checked_pages:
            return
        self.checked_pages.add(key)
        results = Axe().run(self.page)
        for violation in results.response["violations"]:
            if violation["impact"] in BLOCKING_IMPACTS:
                targets = [", ".join(map(str, node["target"])) for node in violation["nodes"][:3]]
                self.axe_violations.append(f"{self.page.url}: {violation['id']} ({violation['impact']}): {violation['help']} at {targets}")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    # The test's ORM calls run beside Playwright's event loop. Set for these tests only: left in the
    # environment, later subprocesses inherit it (`check --deploy` then reports async.E001).
    was_set = "DJANGO_ALLOW_ASYNC_UNSAFE" in os.environ
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if not was_set:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def artifacts_root(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's artifacts: --artifacts, or a folder of the run's own temporary directory (pytest keeps the last
    three runs')."""
    chosen = config.getoption("artifacts")
    return Path(chosen).resolve() if chosen else tmp_path_factory.getbasetemp() / "artifacts"


@pytest.fixture
def browse(chromium: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`browse()` opens a fresh context (a person); at teardown the test fails on any console error or
    serious/critical axe-core violation seen in any of them."""
    opened: list[Browsing] = []
    artifacts = artifacts_root(request.config, tmp_path_factory) / request.node.name
    docs_output = request.config.getoption("screenshots_output")

    def open_context() -> Browsing:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        browsing = Browsing(page=page, artifacts=artifacts,
                            docs_output=Path(docs_output).resolve() if docs_output else None)
        page.on("console", lambda message: message.type == "error" and browsing.console_errors.append(f"{page.url}: {message.text}"))
        page.on("pageerror", lambda error: browsing.console_errors.append(f"{page.url}: {error}"))
        opened.append(browsing)
        return browsing

    yield open_context
    for browsing in opened:
        browsing.page.context.close()
    errors = [e for b in opened for e in b.console_errors]
    violations = [v for b in opened for v in b.axe_violations]
    assert not errors, f"browser console errors: {errors} (screenshots: {artifacts})"
    assert not violations, "axe-core serious/critical violations:\n" + "\n".join(violations)


def sign_in(browsing: Browsing, base_url: str, username: str, password: str) -> None:
    page = browsing.page
    page.goto(f"{base_url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")
