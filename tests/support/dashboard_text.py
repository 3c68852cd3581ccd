"""The dashboard in headless Debian Chromium (playwright, no downloaded browser): a page on it, and the text of one
element of a decoder's panel once it holds what a test waits for."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def dashboard_page(url: str) -> Iterator:
    """A page on the dashboard at ``url``; a page error or a console error meanwhile fails the test at the end."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Debian's chromium is needed for the dashboard browser test (`make test` installs it)")
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(f"{url}/")
            yield page
        finally:
            browser.close()
    assert problems == [], problems


def panel_text(url: str, decoder_id: str, selector: str, holding: str, timeout_ms: int = 60_000) -> str:
    """The text of ``selector`` in decoder ``decoder_id``'s panel of the dashboard at ``url``, once it contains
    ``holding``."""
    with dashboard_page(url) as page:
        css = f'section[data-decoder-id="{decoder_id}"] {selector}'
        page.wait_for_function("([css, text]) => { const e = document.querySelector(css);"
                               " return e !== null && e.textContent.includes(text); }",
                               arg=[css, holding], timeout=timeout_ms)
        return page.text_content(css)
