"""End to end in a real headless Chromium against `streamlit run` on localhost.

Uses Debian's /usr/bin/chromium (installed by `make test` where apt is available);
Playwright only drives it, it downloads no browser of its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def server(toy_build, tmp_path):
    config, _, _ = toy_build
    port = _free_port()
    env = {**os.environ, "MULTIMODAL_ARTIFACTS": str(config.artifacts_dir), "MULTIMODAL_DATA": str(config.data_dir)}
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + (tmp_path / "streamlit.log").read_text(errors="replace")[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_open_a_page_by_its_address_type_a_query_see_results_switch_pages_and_screenshot(server, tmp_path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # First visit after the start, by the page's own address: Streamlit would run pages/*.py as
        # old-style pages and list the files ("streamlit app", ...); `ui.through_navigation` reruns.
        page.goto(f"{server}/evaluation")
        expect(page.get_by_text("How good is the search?")).to_be_visible(timeout=90_000)
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_text("Text search")).to_be_visible(timeout=30_000)
        assert "streamlit app" not in nav.inner_text().lower()
        page.goto(server)
        box = page.get_by_label("What are you looking for?")
        box.wait_for(timeout=90_000)
        box.fill("black sneakers for men")
        box.press("Enter")
        expect(page.get_by_text("category: Sneaker").first).to_be_visible(timeout=90_000)
        expect(page.get_by_text("match").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "text_search.png"), full_page=True)
        page.get_by_role("button", name="More like this").first.click()
        expect(page.get_by_text("More like:").first).to_be_visible(timeout=60_000)
        expect(page.get_by_text("What the model sees").first).to_be_visible()
        expect(page.get_by_text("similarity").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "more_like_this.png"), full_page=True)
        page.get_by_role("link", name="Evaluation").click()
        expect(page.get_by_text("How good is the search?")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(tmp_path / "evaluation.png"), full_page=True)
        browser.close()
    assert (tmp_path / "text_search.png").stat().st_size > 10_000
    assert (tmp_path / "evaluation.png").stat().st_size > 10_000
    assert (tmp_path / "more_like_this.png").stat().st_size > 10_000
