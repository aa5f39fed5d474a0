"""The clip-by-clip labeling flow driven by the keyboard only, in a real Chromium against `streamlit
run` (its own server and store): number keys label, Space plays and pauses, → skips, ← goes back,
U and Ctrl+Z undo; the labels in the store afterwards are exactly the ones the keys gave. The rate
(clips labelled per minute) goes to artifacts/keyboard_rate.json; bench/keyboard.py measures it for
BENCHMARKS.md."""

from __future__ import annotations

import json
import time

import pytest
from conftest import ARTIFACTS, CHROMIUM, serve
from keyflow import CLASSES, open_flow, press, seed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N = 12


@pytest.fixture(scope="module")
def keyboard_server(tmp_path_factory):
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    home = tmp_path_factory.mktemp("soundkit_keys")
    ids = seed(home, N)
    with serve(home, log_name="streamlit-keys.log") as (url, _proc):
        yield url, home, ids


def _paused(page) -> bool:
    return page.evaluate("document.querySelector('.st-key-label_quick_player audio').paused")


def test_label_clips_with_the_keyboard_only(keyboard_server, page):
    from soundkit.store import Store

    url, home, ids = keyboard_server
    open_flow(page, url)
    assert _paused(page)
    page.keyboard.press(" ")
    page.wait_for_function("!document.querySelector('.st-key-label_quick_player audio').paused", timeout=10_000)
    page.keyboard.press(" ")
    page.wait_for_function("document.querySelector('.st-key-label_quick_player audio').paused", timeout=10_000)

    t0 = time.perf_counter()
    expected: list[str | None] = []
    for i in range(4):  # clips 1-4: bird, car, dog, bird
        press(page, str(i % 3 + 1), f"Clip {i + 2} of")
        expected.append(CLASSES[i % 3])
    press(page, "ArrowRight", "Clip 6 of")  # clip 5 skipped: stays unlabelled
    expected.append(None)
    press(page, "2", "Clip 7 of")  # clip 6: car ...
    press(page, "u", "Clip 6 of")  # ... undone: unlabelled again, the flow back on it
    assert "unlabelled" in page.locator(".st-key-label_quick_now").inner_text()
    press(page, "3", "Clip 7 of")  # clip 6: dog
    press(page, "ArrowLeft", "Clip 6 of")
    assert "dog" in page.locator(".st-key-label_quick_now").inner_text()
    press(page, "ArrowRight", "Clip 7 of")
    expected.append("dog")
    press(page, "1", "Clip 8 of")  # clip 7: bird, then Ctrl+Z undoes it
    press(page, "Control+z", "Clip 7 of")
    times = label_all_from(page, start=7, n=N)
    expected += [CLASSES[(k - 7) % 3] for k in range(7, N + 1)]
    elapsed = time.perf_counter() - t0

    store = Store(home)
    got = [store.get(i).label for i in ids]
    assert got == expected, (got, expected)
    labelled = sum(lab is not None for lab in got)
    page.get_by_text(f"the dataset: {labelled} labelled, {N - labelled} unlabelled").wait_for(timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "keyboard_rate.json").write_text(json.dumps({
        "clips": N, "labelled": labelled, "seconds": elapsed, "clips_per_minute": 60 * labelled / elapsed,
        "seconds_per_label_key": sorted(times)[len(times) // 2]}))


def label_all_from(page, *, start: int, n: int) -> list[float]:
    """Label clips start..n with 1, 2, 3, ... (waiting for each next clip); seconds per key."""
    times = []
    for k in range(start, n + 1):
        nxt = f"Clip {k + 1} of" if k < n else "Done"
        times.append(press(page, str((k - start) % 3 + 1), nxt))
    return times

