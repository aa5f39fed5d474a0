"""The Listen page end to end: real Chromium with a fake microphone playing a WAV file of known
sounds (a low tone, then a high tone, looped by Chromium) against `streamlit run`, with the tiny
hand-weighted run (tests/tiny_run.py) in the server's data directory. The page must list those
events, in order."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from appserver import CHROMIUM, CHROMIUM_ARGS, ROOT  # noqa: E402
from synth import tone, write_wav  # noqa: E402

ARTIFACTS = ROOT / "artifacts"

SR = 48000


def sequence_wav(path: Path) -> Path:
    gap = np.zeros(SR, np.float32)
    y = np.concatenate([gap, tone(300, 1.5, SR, 0.5), gap, gap, tone(6000, 1.5, SR, 0.5), gap, gap, gap])
    return write_wav(path, y, SR)


@pytest.fixture(scope="module")
def mic_browser(pw, tmp_path_factory):
    """A second Chromium of the session's Playwright, whose microphone plays a known WAV."""
    wav = sequence_wav(tmp_path_factory.mktemp("mic") / "sequence.wav")
    args = CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                            f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required"]
    b = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
    try:
        yield b
    finally:
        b.close()


def _event_labels(page) -> list[str]:
    tables = page.locator('[data-testid="stTable"]')
    if not tables.count():
        return []
    rows = tables.last.locator("tbody tr")
    out = []
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("td, th").all_inner_texts()]
        out += [c for c in cells if c in ("low", "high", "unknown")][:1]
    return out


def test_listen_page_shows_the_fake_microphone_events_in_order(app_url, e2e_home, mic_browser):
    from tiny_run import make_run

    make_run(e2e_home / "runs" / "tiny-tones")
    context = mic_browser.new_context(viewport={"width": 1400, "height": 1100}, permissions=["microphone"])
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{app_url}/listen")
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
        page.get_by_role("button", name="Start listening").click()
        t0 = time.monotonic()
        labels: list[str] = []
        while time.monotonic() - t0 < 90 and len(labels) < 3:
            page.wait_for_timeout(1000)
            labels = _event_labels(page)
        page.screenshot(path=str(ARTIFACTS / "listen.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert len(labels) >= 3, f"events on the page: {labels}"
        assert labels[:3] == ["low", "high", "low"], labels
        heard = page.get_by_text(re.compile(r"s heard · \d+ windows")).inner_text()
        assert float(heard.split(" s heard")[0]) > 5
        page.get_by_role("button", name="Stop listening").click()
        page.get_by_role("button", name="Start listening").wait_for()
    finally:
        context.close()
