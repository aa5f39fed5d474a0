"""Driving the Label page's clip-by-clip flow with the keyboard only (shared by
tests/e2e/test_keyboard_browser.py and bench/keyboard.py).

``seed(home, n)`` fills a store with ``n`` short synthetic clips and three classes;
``open_flow(page, url)`` opens the Label page and turns the one-by-one view on (the only click);
``label_all(page, keys)`` presses each key and waits until the page shows the clip it leads to,
returning the seconds per key.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

CLASSES = ("bird", "car", "dog")
SR = 16000


def _wav(y: np.ndarray) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def seed(home: Path, n: int) -> list[int]:
    """``n`` 1-second tones (distinct pitches) and the classes bird, car, dog; the clip ids in order."""
    from soundkit.store import Store

    store = Store(home)
    for c in CLASSES:
        store.create_label(c, exist_ok=True)
    t = np.arange(SR) / SR
    ids = [store.add(_wav((0.4 * np.sin(2 * np.pi * (200 + 37 * k) * t)).astype(np.float32)),
                     name=f"clip{k:03d}.wav").id for k in range(n)]
    store.close()
    return ids


def wait_idle(page, timeout: float = 60_000) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def open_flow(page, url: str) -> None:
    """Open /label and turn "Label one by one" on; wait for the first clip."""
    page.goto(f"{url}/label")
    wait_idle(page)
    page.get_by_text("Label one by one, at keyboard speed").click()
    page.locator(".st-key-label_quick_now").get_by_text(re.compile(r"Clip 1 of \d+")).wait_for()
    wait_idle(page)
    page.locator(".skkeys").wait_for()
    page.evaluate("document.activeElement && document.activeElement.blur()")


def position(page) -> str:
    """The flow's status line ("Clip 3 of 12: **clip002.wav** · bird", or the "Done" line)."""
    return page.locator(".st-key-label_quick_now").inner_text()


def press(page, key: str, expect: str, timeout: float = 30_000) -> float:
    """Press ``key`` and wait until the status line contains ``expect``; seconds it took."""
    t = time.perf_counter()
    page.keyboard.press(key)
    page.locator(".st-key-label_quick_now").get_by_text(expect).first.wait_for(timeout=timeout)
    return time.perf_counter() - t


def label_all(page, n: int) -> list[float]:
    """Label clips 1..n in turn with 1, 2, 3, 1, ...; seconds per clip (key press to the next clip)."""
    times = []
    for i in range(n):
        nxt = f"Clip {i + 2} of" if i + 1 < n else "Done"
        times.append(press(page, str(i % 3 + 1), nxt))
    return times
