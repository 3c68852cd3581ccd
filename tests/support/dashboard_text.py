"""The text of one element of a decoder's dashboard panel, read in headless Debian Chromium (playwright, no
downloaded browser) once it holds what a test waits for."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def panel_text(url: str, decoder_id: str, selector: str, holding: str, timeout_ms: int = 60_000) -> str:
    """The text of ``selector`` in decoder ``decoder_id``'s panel of the dashboard at ``url``, once it contains
    ``holding``; a page error or a console error fails the test."""
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
            css = f'section[data-decoder-id="{decoder_id}"] {selector}'
            page.wait_for_function("([css, text]) => { const e = document.querySelector(css);"
                                   " return e !== null && e.textContent.includes(text); }",
                                   arg=[css, holding], timeout=timeout_ms)
            text = page.text_content(css)
        finally:
            browser.close()
    assert problems == [], problems
    return text
