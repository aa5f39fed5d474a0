"""The region editor on the wire: bytes the browser receives over Streamlit's websocket when the
Regions tab opens a long recording, and per region edit (add by a drag, move, relabel, delete), in a
real Chromium against `streamlit run` (tests/e2e/regionflow.py drives it). Recordings of 1 and 10
minutes (the store's longest clip) of 16 kHz noise with tones.

``measure()`` returns the results dict; ``render(r)`` the rows added to the BENCHMARKS.md section
"Region editor".
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECONDS = (60.0, 600.0)


def measure() -> dict:
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]
    from appserver import CHROMIUM, CHROMIUM_ARGS, serve
    from playwright.sync_api import sync_playwright
    from regionflow import edit_bytes, open_editor, seed, zoomed_edit_bytes

    from soundkit.store import Store

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for seconds in SECONDS:
                with tempfile.TemporaryDirectory(prefix="sk-redits-") as tmp:
                    home = Path(tmp) / "home"
                    rec_id = seed(home, seconds)
                    with serve(home, log=Path(tmp) / "streamlit.log") as (url, _proc):
                        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                        page = ctx.new_page()
                        page.set_default_timeout(120_000)
                        wire, opened = open_editor(page, url)
                        store = Store(home)
                        edits = edit_bytes(page, wire, store, rec_id, seconds)
                        zoomed, view = zoomed_edit_bytes(page, wire, store, rec_id)
                        store.close()
                        ctx.close()
                rows.append({"seconds": seconds, "open_bytes": opened, "edit_bytes": edits,
                             "median_edit_bytes": statistics.median(edits.values()),
                             "zoomed_edit_bytes": zoomed, "zoomed_view": list(view)})
        finally:
            browser.close()
    from soundkit_app.region_editor import REGIONS_JS

    return {"rows": rows, "commit": commit, "js_bytes": len(REGIONS_JS.read_bytes())}


def render(r: dict, before: dict | None = None) -> list[str]:
    """Rows for the "Region editor" section: bytes received on opening and per edit (and, when
    ``before`` holds the same measure of the code before the overview was sent once, those too)."""
    lines = ["Bytes the browser receives over the websocket (Chromium, `streamlit run`; "
             "tests/e2e/regionflow.py): opening the Regions tab on one recording, and each region edit "
             "(the median of add, move, relabel, delete; each until the app is idle again). The "
             "overview (envelope and spectrogram PNG) is sent once per recording and content hash and "
             "kept in the component's JavaScript; an edit's rerun sends the regions (a few hundred bytes "
             "of JSON) and the rest of the Label page again: most of what is left is the component's "
             f"element, which carries its {r.get('js_bytes', 0) / 1e3:.1f} kB of JavaScript on every run "
             "(an inline `js=`; a file path needs a package manifest), and the Clips tab's table"
             + (f" (before: commit {before['commit']}, where every edit re-sent the overview)" if before else "") + ":", "",
             "| recording | open the tab | per edit | add / move / relabel / delete | an add zoomed in (detail drawn) |"
             + (" per edit before | zoomed add before |" if before else ""),
             "|---|---|---|---|---|" + ("---|---|" if before else "")]
    old = {row["seconds"]: row for row in (before or {}).get("rows", [])}
    for row in r["rows"]:
        e = row["edit_bytes"]
        each = " / ".join(f"{e[k] / 1e3:.1f}" for k in ("add", "move", "relabel", "delete"))
        z = row.get("zoomed_edit_bytes")
        line = (f"| {row['seconds'] / 60:g} min | {row['open_bytes'] / 1e3:.0f} kB | "
                f"{row['median_edit_bytes'] / 1e3:.1f} kB | {each} kB | {'n/a' if z is None else f'{z / 1e3:.1f} kB'} |")
        if before:
            b = old.get(row["seconds"])
            line += (f" {b['median_edit_bytes'] / 1e3:.0f} kB ({b['median_edit_bytes'] / row['median_edit_bytes']:.0f}x more) |"
                     if b else " n/a |")
            bz = b.get("zoomed_edit_bytes") if b else None
            line += f" {bz / 1e3:.0f} kB ({bz / z:.0f}x more) |" if bz and z else " n/a |"
        lines.append(line)
    return lines + [""]
