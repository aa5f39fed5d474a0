"""Screenshots of the pages issue #16 touched, at 1280 and 1920 px, in headless Chromium.

    python tests/e2e/screenshots.py HOME OUT_DIR

HOME is a soundkit data directory (a label store and trained runs: a ``train --cv-first`` run and a
plain one); the app is started on it with ``streamlit run`` on a free localhost port. Not a test:
it writes ``OUT_DIR/<page>-<view>-<width>.png`` for a person to look at (docs/screenshots/).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from appserver import CHROMIUM, CHROMIUM_ARGS, serve  # noqa: E402


def idle(page) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=120_000)
    page.wait_for_timeout(1500)


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(1200)


def main(home: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with serve(home, timeout=180) as (url, _proc), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for width in (1280, 1920):
            page = browser.new_context(viewport={"width": width, "height": 2000}).new_page()
            page.set_default_timeout(120_000)

            def shot(name: str, *, full: bool = True, pg=page, w=width) -> None:
                pg.screenshot(path=str(out / f"{name}-{w}.png"), full_page=full)

            page.goto(f"{url}/results")
            idle(page)
            shot("results-per-class")
            tab(page, "Misclassified")
            shot("results-misclassified")
            tab(page, "Tested clips")
            shot("results-tested")
            tab(page, "Compare runs")
            shot("results-compare")
            page.get_by_label("Run", exact=True).click()  # the cross-validated run
            page.get_by_role("option", name="yamnet-small-cv").first.click()
            idle(page)
            shot("results-cv", full=False)
            page.goto(f"{url}/train")
            idle(page)
            shot("train")
            page.goto(f"{url}/label")
            idle(page)
            shot("label-clips", full=False)
            tab(page, "Add clips")
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
                files=[{"name": "broken.wav", "mimeType": "audio/wav", "buffer": b"not audio"}])
            page.wait_for_timeout(1500)
            page.get_by_role("button", name="Add to dataset").click()
            page.wait_for_timeout(4000)
            idle(page)
            tab(page, "Add clips")
            shot("label-upload", full=False)
            page.goto(f"{url}/augment")
            idle(page)
            slider = page.get_by_role("slider").first
            slider.focus()
            for _ in range(50):  # 1.00 -> 1.50
                slider.press("ArrowRight")
            idle(page)
            page.wait_for_timeout(3000)
            shot("augment")
            page.context.close()
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
