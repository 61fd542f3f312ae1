"""The README's pictures, taken from the running dashboard in headless Chromium (Debian's).

    python docs/images/screenshots.py [--artifacts-dir artifacts] [--data-dir data] [--query "..."] [--prefix ""]

Starts `streamlit run` on a free loopback port, types a query, and writes text-search.png and
evaluation.png (with --prefix before the names) next to this file; stops the server after.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts-dir", default="artifacts")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--query", default="black leather ankle boots for women")
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MULTIMODAL_ARTIFACTS": args.artifacts_dir, "MULTIMODAL_DATA": args.data_dir}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import expect, sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(url)
            box = page.get_by_label("What are you looking for?")
            box.wait_for(timeout=120_000)
            box.fill(args.query)
            box.press("Enter")
            expect(page.get_by_text("match").first).to_be_visible(timeout=120_000)
            # the cards' photos arrive after their text: wait until every one is decoded
            page.wait_for_function("() => { const i = [...document.querySelectorAll('[data-testid=stImage] img')];"
                                   " return i.length > 0 && i.every(x => x.complete && x.naturalWidth > 0); }", timeout=120_000)
            time.sleep(2)
            page.screenshot(path=str(HERE / f"{args.prefix}text-search.png"))
            page.get_by_role("link", name="Evaluation").click()
            expect(page.get_by_text("How good is the search?")).to_be_visible(timeout=120_000)
            time.sleep(4)
            page.screenshot(path=str(HERE / f"{args.prefix}evaluation.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"wrote {HERE / (args.prefix + 'text-search.png')} and evaluation.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
