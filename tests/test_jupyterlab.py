"""JupyterLab in a real browser: run 02_explore and move the viewer's slider.

Starts ``jupyter lab`` on loopback with a token, opens the smoke run's
executed ``02_explore.ipynb`` (its parameters are the smoke profile's) in
headless Chromium, runs all cells, moves the slice slider and checks that the
displayed image changed.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from browser import browser_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(smoke_run, tmp_path):
    _, result = smoke_run
    port, token = _free_port(), secrets.token_hex(16)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={result.run_dir}", "--allow-root", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=open(tmp_path / "lab.log", "w"), stderr=subprocess.STDOUT, cwd=str(result.run_dir.parents[2]),
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail((tmp_path / "lab.log").read_text()[-2000:])
            time.sleep(0.5)
    yield url, token
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_viewer_slider_changes_the_image(lab, tmp_path):
    url, token = lab
    lab_dir = tmp_path
    with browser_page(offline=True, allow_hosts=(url,)) as page:
        page.goto(f"{url}/lab/tree/02_explore.ipynb?token={token}")
        page.wait_for_selector(".jp-NotebookPanel", timeout=60000)
        # Wait until the kernel has started and is idle before running all cells.
        page.wait_for_function("document.querySelector('.jp-StatusBar-Widget, #jp-main-statusbar')"
                               " && document.body.innerText.includes('| Idle')", timeout=90000)
        page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
        page.click("li[data-command='runmenu:run-all']")
        viewer = page.locator(".liverlib-viewer")
        try:
            viewer.wait_for(state="attached", timeout=240000)
        except Exception:
            page.screenshot(path=str(lab_dir / "lab-failure.png"), full_page=True)
            raise
        viewer.scroll_into_view_if_needed()
        image = viewer.locator("img").first
        page.wait_for_function("(el) => el.naturalWidth > 0", arg=image.element_handle(), timeout=60000)
        before = image.evaluate("el => el.src")
        handle = viewer.locator(".widget-slider:has-text('slice') .noUi-handle, .widget-slider:has-text('Slice') .noUi-handle").first
        handle.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("([el, old]) => el.src !== old && el.naturalWidth > 0",
                               arg=[image.element_handle(), before], timeout=30000)
        after = image.evaluate("el => el.src")
        assert after != before
        assert page.js_errors == [] or all("ResizeObserver" in e for e in page.js_errors)
