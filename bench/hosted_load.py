"""Hosted load: a real `streamlit run` server in hosted mode on 127.0.0.1, real headless Chromium
sessions (Playwright, one browser context = one visitor = one websocket session and workspace).

- k visitors (k = 1, 4, 8) on the Classify page at the same time, each uploading ESC-10 clips one
  after another (a different clip every time, so Streamlit's cache never answers) and waiting for the
  pretrained YAMNet's answer ("Heard: ..."); latency = file handed to the uploader -> answer shown.
  Each request starts from a freshly loaded page (not timed), so earlier results never pile up.
- the same 8 visitors while a ninth trains the default CNN on the demo dataset (80 ESC-10 clips,
  copied with the Label page's button, started from the Train page): the training child belongs to
  the server's process tree.
- the server's process tree (psutil: the server and all its children, training included) is
  sampled every 0.2 s; the peak RSS sum is reported per phase.
- every request must end in an answer with no exception and no error on the page.

Run through ``python bench/run.py hosted_load`` (writes bench/results/hosted_load.json).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from appserver import CHROMIUM, CHROMIUM_ARGS, serve  # noqa: E402  (the browser tests' server)

LEVELS = (1, 4, 8)
REQUESTS_PER_VISITOR = 5


def _pctl(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(q * (len(v) - 1)))]


class TreeMemory:
    """Peak RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.every = every
        self.peak = 0.0
        self.max_children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> float:
        import psutil

        total = 0
        procs = [self.proc]
        try:
            procs += self.proc.children(recursive=True)
        except psutil.Error:
            pass
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        self.max_children = max(self.max_children, len(procs) - 1)
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            time.sleep(self.every)

    def reset(self) -> None:
        self.peak = self.sample()
        self.max_children = 0

    def start(self) -> TreeMemory:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


async def _idle(page, timeout: float = 120_000) -> None:
    await page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


async def _errors(page) -> int:
    return await page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()


async def _visitor(browser, url: str, clips: list[Path], out: dict) -> None:
    """One visitor: a workspace of its own, then one classification per clip."""
    ctx = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await ctx.new_page()
    page.set_default_timeout(300_000)
    try:
        await page.goto(f"{url}/")
        await page.wait_for_url(re.compile(r"[?&]ws="))
        await _idle(page)
        home_url = page.url
        for clip in clips:
            await page.goto(home_url)
            await _idle(page)
            await page.get_by_text("Heard:").count()
            t0 = time.perf_counter()
            await page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(clip))
            await page.get_by_text("Heard:").first.wait_for(timeout=300_000)
            out["latencies"].append(time.perf_counter() - t0)
            await _idle(page)
            out["errors"] += await _errors(page)
            out["answers"] += 1
    finally:
        await ctx.close()


async def _trainer(browser, url: str, log: dict) -> None:
    """The ninth visitor: copy the demo dataset, start training the default CNN, leave it running."""
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    page.set_default_timeout(300_000)
    try:
        await page.goto(f"{url}/label")
        await page.wait_for_url(re.compile(r"[?&]ws="))
        await _idle(page)
        await page.get_by_role("tab", name="Add clips", exact=True).click()
        await page.get_by_role("button", name="Copy the demo dataset").click()
        await page.get_by_text("Labelled").first.wait_for()
        await _idle(page, timeout=300_000)
        await page.get_by_test_id("stSidebarNav").get_by_role("link", name="Train").click()
        await page.get_by_role("button", name="Start training").wait_for()
        await _idle(page)
        await page.get_by_role("button", name="Start training").click()
        await page.get_by_text("Training cnn-").first.wait_for(timeout=120_000)
        log["started"] = True
        log["errors"] = await _errors(page)
    finally:
        await ctx.close()


def _wait_stage(root: Path, stages: tuple[str, ...], timeout: float = 600) -> str:
    import json

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        for status in root.glob("workspaces/*/runs/*/status.json"):
            try:
                st = json.loads(status.read_text())
            except (OSError, ValueError):
                continue
            if st.get("stage") in stages or st.get("state") != "running":
                return str(st.get("stage") if st.get("state") == "running" else st.get("state"))
        time.sleep(0.5)
    raise RuntimeError(f"training did not reach {stages} within {timeout:.0f} s")


def _training_state(root: Path) -> str:
    import json

    for status in root.glob("workspaces/*/runs/*/status.json"):
        try:
            st = json.loads(status.read_text())
        except (OSError, ValueError):
            continue
        return f"{st.get('state')}/{st.get('stage')}"
    return "none"


def run(esc10: Path, weights: Path | None) -> dict:
    from playwright.async_api import async_playwright

    root = Path(tempfile.mkdtemp(prefix="bench-hosted-"))
    env = {"SOUNDKIT_HOSTED": "1", "SOUNDKIT_DEMO_DATASET": str(esc10), "SOUNDKIT_DEMO_PER_CLASS": "8"}
    if weights is not None:
        env["SOUNDKIT_WEIGHTS_DIR"] = str(weights)
    log_path = root / "streamlit.log"
    clips = sorted(esc10.glob("*/*.ogg"))
    mem = None
    result: dict = {"levels": {}, "requests_per_visitor": REQUESTS_PER_VISITOR}
    server = contextlib.ExitStack()
    try:
        url, proc = server.enter_context(serve(root, env=env, log=log_path, timeout=120))
        mem = TreeMemory(proc.pid).start()
        time.sleep(1)
        result["idle_tree_mb"] = mem.sample()
        next_clip = iter(clips)

        async def phase(k: int, *, train: bool) -> dict:
            out = {"latencies": [], "errors": 0, "answers": 0}
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                try:
                    if train:
                        tlog: dict = {}
                        await _trainer(browser, url, tlog)
                        out["trainer_errors"] = tlog.get("errors", 0)
                        # classify while the child is past its start (features or epochs)
                        out["training_stage_at_start"] = _wait_stage(root, ("features", "train"))
                    mem.reset()
                    batches = [[next(next_clip) for _ in range(REQUESTS_PER_VISITOR)] for _ in range(k)]
                    t0 = time.perf_counter()
                    await asyncio.gather(*[_visitor(browser, url, b, out) for b in batches])
                    out["wall_s"] = time.perf_counter() - t0
                    out["load_avg"] = os.getloadavg()[0]
                    out["peak_tree_mb"] = mem.peak
                    out["max_children"] = mem.max_children
                    if train:
                        out["training_state_at_end"] = _training_state(root)
                finally:
                    await browser.close()
            lat = out.pop("latencies")
            out.update(n=len(lat), p50_s=statistics.median(lat), p95_s=_pctl(lat, 0.95), max_s=max(lat))
            return out

        # warm-up: YAMNet loads once per server (not timed)
        asyncio.run(phase(1, train=False))
        for k in LEVELS:
            print(f"hosted_load: {k} visitor(s)", file=sys.stderr, flush=True)
            result["levels"][str(k)] = asyncio.run(phase(k, train=False))
        print("hosted_load: 8 visitors while a ninth trains", file=sys.stderr, flush=True)
        result["levels"]["8+train"] = asyncio.run(phase(8, train=True))
        # let the training finish (its peak memory still counts)
        mem.reset()
        _wait_stage(root, ("done",), timeout=1800)
        result["after_training_peak_mb"] = mem.peak
        result["training_final"] = _training_state(root)
        result["server_log_errors"] = sum(
            1 for line in log_path.read_text(errors="replace").splitlines() if "Traceback" in line
        )
        result["peak_tree_mb"] = max(v["peak_tree_mb"] for v in result["levels"].values())
        result["peak_tree_mb"] = max(result["peak_tree_mb"], result["after_training_peak_mb"])
    finally:
        if mem is not None:
            mem.stop()
        server.close()
        shutil.rmtree(root, ignore_errors=True)
    return result


def render(r: dict, targets: list[str]) -> list[str]:
    """The BENCHMARKS.md section."""
    lines = ["## Hosted load (`streamlit run` in hosted mode, real Chromium sessions)", "",
             "Each visitor is a headless Chromium context (its own websocket session and private workspace) on the "
             "Classify page, uploading a different ESC-10 clip each time and waiting for the pretrained YAMNet's answer "
             f"({r['requests_per_visitor']} requests per visitor, each from a freshly loaded page). Latency: file handed "
             "to the uploader -> answer shown. Memory: the server's whole process tree (psutil, children included, so "
             "the training child counts), sampled every 0.2 s. The browsers run on the same 2 cores.", "",
             "| visitors classifying | requests | p50 | p95 | max | all answered, no error | peak RSS of the server tree |",
             "|---|---|---|---|---|---|---|"]
    for key, v in r["levels"].items():
        label = f"{key[:-6]} + a ninth training the CNN" if key.endswith("+train") else key
        ok = v["answers"] == v["n"] and v["errors"] == 0
        lines.append(f"| {label} | {v['n']} | {v['p50_s']:.2f} s | {v['p95_s']:.2f} s | {v['max_s']:.2f} s | "
                     f"{'yes' if ok else 'NO'} | {v['peak_tree_mb']:.0f} MB |")
    t = r["levels"].get("8+train", {})
    base = r["levels"].get("1", {})
    trained_in_phase = str(t.get("training_state_at_end", "")).startswith("done")
    lines += ["", f"Idle server: {r['idle_tree_mb']:.0f} MB. The ninth visitor copied the demo dataset (80 ESC-10 clips) "
              "and trained the default CNN (50 epochs) from the Train page; the classifying started once its child "
              f"was {t.get('training_stage_at_start', '?')}, and the training "
              + ("ended within the phase (its peak is in the last row)." if trained_in_phase else
                 f"went on after it (peak until it ended: {r['after_training_peak_mb']:.0f} MB).")
              + f" Tracebacks in the server log: {r['server_log_errors']}."]
    loads = [v.get("load_avg") for v in r["levels"].values() if v.get("load_avg")]
    if loads:
        lines.append(f"The machine was shared with other work: 1-minute load average {min(loads):.0f} to {max(loads):.0f} "
                     "on its 2 cores at the end of the phases, so the latencies above are upper bounds; the memory figures "
                     "do not depend on it.")
    if base and t:
        lines.append(f"p50 at 8 visitors during training / p50 of one visitor alone: {t['p50_s'] / base['p50_s']:.1f}x.")
    lines.append("")
    peak = r["peak_tree_mb"]
    targets.append(f"| Hosted: 8 classifying + 1 training, server tree < 2.7 GB | {peak:.0f} MB | "
                   f"{'yes' if peak < 2.7 * 1024 else 'NO'} |")
    return lines
