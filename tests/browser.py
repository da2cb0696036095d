"""Headless Chromium (Debian's package) driven by Playwright, network off."""

from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    return path


@contextmanager
def browser_page(*, offline: bool, allow_hosts: tuple[str, ...] = ()):
    """A Playwright page; with ``offline`` every non-file request is refused and recorded."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        blocked: list[str] = []
        errors: list[str] = []

        def route(r):
            url = r.request.url
            if url.startswith(("file:", "data:", "blob:", "about:")) or any(h in url for h in allow_hosts):
                r.continue_()
            else:
                blocked.append(url)
                r.abort()

        if offline:
            context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.blocked_requests = blocked
        page.js_errors = errors
        try:
            yield page
        finally:
            context.close()
            browser.close()
