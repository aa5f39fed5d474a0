"""What the region editor costs on the wire: bytes of the websocket frames from the Streamlit server
to the browser when the Regions tab opens a long recording and at each region edit (shared by
tests/e2e/test_regions_browser.py and bench/region_edits.py).

``seed(home, seconds)`` stores one recording of noise with a tone every 7 s; ``open_editor(page, url)``
counts every frame the page receives from then on and opens the editor; ``edit_bytes(page, store,
rec_id)`` adds a region by dragging, moves it, relabels it and deletes it, each waited on until the
store has it and the app is idle again, and returns the bytes received for each edit.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

SR = 16000


def seed(home: Path, seconds: float) -> int:
    """One ``seconds`` long 16 kHz recording (quiet noise, a 0.5 s tone every 7 s) and the label
    "bark"; returns its clip id."""
    import soundfile as sf

    from soundkit.store import Store

    home.mkdir(parents=True, exist_ok=True)
    path = home.parent / f"field-{int(seconds)}s.wav"
    rng = np.random.default_rng(0)
    y = (0.01 * rng.standard_normal(int(seconds * SR))).astype(np.float32)
    t = np.arange(SR // 2) / SR
    for k in range(0, len(y) - SR, 7 * SR):
        y[k : k + SR // 2] += (0.4 * np.sin(2 * np.pi * (400 + k % 3000) * t)).astype(np.float32)
    sf.write(path, y, SR, subtype="PCM_16")
    store = Store(home)
    store.create_label("bark", exist_ok=True)
    rec = store.add(path, name=path.name)
    store.close()
    path.unlink()
    return rec.id


class Wire:
    """Counts the bytes of every websocket frame the page receives (from its creation on)."""

    def __init__(self, page) -> None:
        self.received = 0
        self.frames = 0
        page.on("websocket", self._socket)

    def _socket(self, ws) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        self.received += len(payload) if isinstance(payload, (bytes, bytearray)) else len(payload.encode("utf-8"))
        self.frames += 1


def wait_idle(page) -> None:
    page.wait_for_timeout(400)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')


def open_editor(page, url: str) -> tuple[Wire, int]:
    """Count the page's frames, open /label's Regions tab; (the counter, bytes received until the
    editor has drawn its spectrogram and the app is idle)."""
    wire = Wire(page)
    page.goto(f"{url}/label")
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=180_000)
    page.get_by_role("tab", name="Regions").click()
    page.locator(".skreg-canvas").wait_for(timeout=180_000)
    wait_idle(page)
    return wire, wire.received


def until(cond, what: str, timeout: float = 60.0):
    """``cond()``'s first truthy value, polled every 0.1 s (AssertionError naming ``what`` after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def drag(page, canvas, x0: float, x1: float, y: float = 150, steps: int = 8) -> None:
    """A mouse drag on ``canvas`` from x0 to x1 (pixels from its left edge) at height y."""
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + x0, box["y"] + y)
    page.mouse.down()
    page.mouse.move(box["x"] + x1, box["y"] + y, steps=steps)
    page.mouse.up()


def edit_bytes(page, wire: Wire, store, rec_id: int, seconds: float) -> dict[str, int]:
    """{"add", "move", "relabel", "delete": bytes received from the edit until the app is idle}
    for four edits of one new region at 60% of the recording (the whole recording in view; other
    regions, if any, must lie elsewhere)."""
    canvas = page.locator(".skreg-canvas")
    root = page.locator(".skreg")
    px = canvas.bounding_box()["width"] / seconds
    a = 0.6 * seconds
    span = max(1.0, seconds / 40)  # a few dozen pixels wide at any length
    before = {g.id for g in store.regions(rec_id)}
    out = {}

    def mine():
        return [g for g in store.regions(rec_id) if g.id not in before]

    def step(name, act, done):
        n0 = wire.received
        act()
        got = until(done, f"the {name} in the store")
        wait_idle(page)
        out[name] = wire.received - n0
        return got

    page.locator(".skreg-label").fill("bark")
    (g,) = step("add", lambda: drag(page, canvas, a * px, (a + span) * px), mine)
    mid = (g.start + g.end) / 2
    step("move", lambda: drag(page, canvas, mid * px, (mid + span) * px),
         lambda: [r for r in mine() if r.start > g.start + span / 2])
    page.locator(".skreg-label").fill("dog")
    step("relabel", lambda: root.get_by_role("button", name="Set label", exact=True).click(),
         lambda: [r for r in mine() if r.label == "dog"])
    step("delete", lambda: root.get_by_role("button", name="Delete", exact=True).click(), lambda: not mine())
    return out


def zoomed_edit_bytes(page, wire: Wire, store, rec_id: int) -> tuple[int, tuple[float, float]]:
    """Zoom in three times (an eighth of the recording in view), wait until the finer detail is
    drawn, then add a region over 1-3 s of the view by a drag; (bytes received for that edit until
    the app is idle, the view (t0, t1))."""
    canvas = page.locator(".skreg-canvas")
    root = page.locator(".skreg")
    for _ in range(3):
        root.get_by_role("button", name="Zoom in", exact=True).click()
    until(lambda: root.get_attribute("data-detail") == "1", "the detail drawn")
    wait_idle(page)
    t0, t1 = map(float, root.get_attribute("data-view").split(","))
    px = canvas.bounding_box()["width"] / (t1 - t0)
    before = {g.id for g in store.regions(rec_id)}
    n0 = wire.received
    page.locator(".skreg-label").fill("bark")
    drag(page, canvas, 1.0 * px, 3.0 * px)
    until(lambda: [g for g in store.regions(rec_id) if g.id not in before], "the region in the store")
    wait_idle(page)
    return wire.received - n0, (t0, t1)
