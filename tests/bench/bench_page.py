"""Speed of the page at ``/`` in headless Chromium; prints figures, asserts nothing.

Run: ``python tests/bench/bench_page.py`` (figures recorded in docs/benchmarks.md). Needs
Playwright for Python and Debian's Chromium (``/usr/bin/chromium`` or ``CNNCALC_CHROMIUM``).

It starts ``uvicorn api.main:app`` (one analysis worker) on a free 127.0.0.1 port, waits until
it is warm (``/health``), then measures:

- first render: from navigation start to the table of every layer filled in
  (``window.cnncalcPage.firstRenderMs``), the first load of a URL in a fresh browser and the
  same URL loaded again (the service then answers from its cache);
- a size change on resnet50 (175 layers): the time the page takes to re-evaluate every
  formula of the table and write it (``lastRenderMs``), and the time until the next frame
  after that is painted;
- for comparison, the other way to do it: a round trip of ``POST /analyze`` with the sizes
  bound, from the page, uncached and cached.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, chromium_missing, start_server, stop_server  # noqa: E402

CHANGE = """async (v) => {
  const f = document.querySelector('#sizes input[name="H"]');
  const t0 = performance.now();
  f.value = String(v);
  f.dispatchEvent(new Event("input"));
  const sync = performance.now() - t0;
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return [window.cnncalcPage.lastRenderMs, sync, performance.now() - t0];
}"""

ROUND_TRIP = """async ([arch, h]) => {
  const t0 = performance.now();
  const r = await fetch("/analyze", {method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify({architecture: arch, bindings: {N: 1, H: h, W: 224}})});
  await r.json();
  return performance.now() - t0;
}"""


def stats(xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(0.9 * len(xs)))]
    return f"median {statistics.median(xs):6.1f} ms, p90 {p90:6.1f} ms, max {xs[-1]:6.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=40, help="size changes to time")
    ap.add_argument("--loads", type=int, default=5, help="cached page loads to time")
    args = ap.parse_args()
    why = chromium_missing()
    if why:
        print(f"skipped: {why}")
        return 0
    from playwright.sync_api import sync_playwright

    server, proc = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            tab = browser.new_page(viewport={"width": 1280, "height": 800})
            ready = "window.cnncalcPage && window.cnncalcPage.loads >= 1"
            print(f"Chromium {browser.version}, service {server.url} (1 analysis worker)")
            for name in ("resnet18", "resnet50"):
                first, again = [], []
                url = f"{server.url}/?arch={name}&N=1&H=224&W=224"
                tab.goto(url)
                tab.wait_for_function(ready, timeout=60000)
                first.append(tab.evaluate("window.cnncalcPage.firstRenderMs"))
                for _ in range(args.loads):
                    tab.goto(url)
                    tab.wait_for_function(ready, timeout=60000)
                    again.append(tab.evaluate("window.cnncalcPage.firstRenderMs"))
                print(f"first render {name:9s}: first load {first[0]:6.1f} ms; "
                      f"again: {stats(again)}")
            tab.goto(f"{server.url}/?arch=resnet50&N=1&H=224&W=224")
            tab.wait_for_function(ready, timeout=60000)
            tab.wait_for_timeout(500)
            render, sync, frame = [], [], []
            for k in range(args.changes):
                r, s, f = tab.evaluate(CHANGE, 200 + k)
                render.append(r)
                sync.append(s)
                frame.append(f)
                tab.wait_for_timeout(30)
            print(f"size change, resnet50 table: evaluate+write {stats(render)}")
            print(f"                          input event handled {stats(sync)}")
            print(f"                          next frame painted  {stats(frame)}")
            arch = json.loads((ROOT / "cnncalc" / "zoo" / "resnet50.json").read_text())
            trips = [tab.evaluate(ROUND_TRIP, [arch, 1000 + k]) for k in range(8)]
            cached = [tab.evaluate(ROUND_TRIP, [arch, 1000]) for _ in range(8)]
            print(f"for comparison, POST /analyze bound, uncached: {stats(trips)}")
            print(f"                                       cached: {stats(cached)}")
            browser.close()
    finally:
        stop_server(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
