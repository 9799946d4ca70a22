"""Page timings in headless Chromium; runs in the project venv (Playwright), any server.

Usage: ``python ui_browser.py SPEC.json``. The spec is a list of pages::

    [{"name": "cairn-first", "url": "http://127.0.0.1:5051/ui/runs?experiment=bench",
      "ready": "() => document.querySelectorAll('table#runs tbody tr').length > 0",
      "response": ["runs/search", "metrics.acc"],   # optional: wait for this XHR too
      "repeats": 7}]

Each repeat opens a fresh browser context (empty cache, no cookies), starts the clock,
navigates, and stops it when ``ready`` holds in the page (and, with ``response``, once a
response whose URL and request body contain those strings has arrived). Bytes are what
the network delivered for the page by then and by its ``load`` event, whichever is later
(the Resource Timing ``transferSize`` of the document and of every request: headers and
compressed bodies), so a page's deferred scripts count even when rows show before them.
One untimed load per page comes first (the server's own first-request costs) unless the
page says ``"warmup": false`` (a cold server). Prints one JSON object:
``{"pages": {name: {"seconds": [...], "bytes": [...]}}}``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright


def load(browser: Browser, page_spec: dict[str, Any]) -> tuple[float, int]:
    """Seconds until the page is ready, and the bytes received until then."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = {"response": page_spec.get("response") is None}
    want = page_spec.get("response") or ["", ""]

    def on_response(response: Any) -> None:
        if want[0] in response.url and want[1] in (response.request.post_data or ""):
            seen["response"] = True

    page.on("response", on_response)
    timeout = float(page_spec.get("timeout", 120)) * 1000
    start = time.perf_counter()
    page.goto(page_spec["url"], wait_until="commit", timeout=timeout)
    while not seen["response"]:
        page.wait_for_timeout(5)  # lets Playwright deliver events; bounded below
        if time.perf_counter() - start > timeout / 1000:
            raise TimeoutError(f"{page_spec['name']}: no response matching {want}")
    page.wait_for_function(page_spec["ready"], timeout=timeout, polling="raf")
    seconds = time.perf_counter() - start
    page.wait_for_load_state("load", timeout=timeout)
    total = page.evaluate(
        """() => performance.getEntriesByType('navigation')
              .concat(performance.getEntriesByType('resource'))
              .reduce((n, e) => n + (e.transferSize || 0), 0)"""
    )
    context.close()
    return seconds, int(total)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        for page_spec in spec:
            if page_spec.get("warmup", True):
                load(browser, page_spec)  # untimed
            seconds, sizes = [], []
            for _ in range(int(page_spec.get("repeats", 5))):
                s, b = load(browser, page_spec)
                seconds.append(s)
                sizes.append(b)
            out[page_spec["name"]] = {"seconds": seconds, "bytes": sizes}
        browser.close()
    sys.stdout.write(json.dumps({"pages": out}) + "\n")


if __name__ == "__main__":
    main()
