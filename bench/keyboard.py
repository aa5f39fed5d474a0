"""Keyboard labeling speed: clips labelled per minute in the Label page's clip-by-clip flow, driven by
the keyboard only in a real Chromium against `streamlit run` (tests/e2e/keyflow.py drives it).

Each run: a fresh store with ``N_CLIPS`` 1-second clips and 3 classes; the flow opened (one click on
the toggle); then one number key per clip, each press waited on until the page shows the next clip
(what a person sees before pressing the next key). The figure is the app's ceiling: the time a person
spends listening and deciding comes on top.

``measure()`` returns the results dict; ``render(r)`` the BENCHMARKS.md section.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_CLIPS = 30
RUNS = 3


def measure() -> dict:
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]
    from appserver import CHROMIUM, CHROMIUM_ARGS, serve
    from keyflow import label_all, open_flow, seed
    from playwright.sync_api import sync_playwright

    runs = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for run in range(RUNS):
                with tempfile.TemporaryDirectory(prefix="sk-keys-") as tmp:
                    home = Path(tmp) / "home"
                    ids = seed(home, N_CLIPS)
                    with serve(home, log=Path(tmp) / "streamlit.log") as (url, _proc):
                        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                        page = ctx.new_page()
                        page.set_default_timeout(60_000)
                        open_flow(page, url)
                        t = time.perf_counter()
                        per_key = label_all(page, N_CLIPS)
                        seconds = time.perf_counter() - t
                        ctx.close()
                    from soundkit.store import Store

                    store = Store(home)
                    labelled = sum(store.get(i).label is not None for i in ids)
                    store.close()
                runs.append({"run": run, "clips": N_CLIPS, "labelled": labelled, "seconds": seconds,
                             "clips_per_minute": 60 * labelled / seconds,
                             "key_to_next_clip_s": sorted(per_key)})
        finally:
            browser.close()
    return {"runs": runs, "n_clips": N_CLIPS}


def render(r: dict) -> list[str]:
    """The BENCHMARKS.md section "Labeling at keyboard speed"."""
    runs = r["runs"]
    rate = statistics.median(x["clips_per_minute"] for x in runs)
    keys = sorted(s for x in runs for s in x["key_to_next_clip_s"])
    p95 = keys[min(len(keys) - 1, round(0.95 * (len(keys) - 1)))]
    ok = all(x["labelled"] == x["clips"] for x in runs)
    return ["## Labeling at keyboard speed", "",
            f"The Label page's clip-by-clip flow driven by the keyboard only (Playwright + Chromium against "
            f"`streamlit run`, bench/keyboard.py): {r['n_clips']} clips, one number key each, every press "
            "waited on until the page shows the next clip. "
            f"{len(runs)} runs; every clip {'ended with the label its key gave' if ok else 'NOT labelled in some run'}.", "",
            "| clips per minute (median of runs) | key to next clip, median | p95 | runs (clips/min) |",
            "|---|---|---|---|",
            f"| {rate:.0f} | {statistics.median(keys):.2f} s | {p95:.2f} s | "
            + ", ".join(f"{x['clips_per_minute']:.0f}" for x in runs) + " |", "",
            "This is the app's ceiling on a shared 2-core machine (server and browser on the same cores); a "
            "person's listening and deciding time comes on top. The same walk with a skip, a step back and "
            "two undos is the e2e test tests/e2e/test_keyboard_browser.py.", ""]
