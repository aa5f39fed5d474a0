"""End to end in a real browser: Playwright + Debian Chromium against `streamlit run`."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGES = ["classify", "label", "spectrogram", "augment", "train", "results"]


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the Streamlit script run has finished (no running indicator)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def test_every_page_loads(app_url, page, shot):
    # Runs first on a fresh server: a deep link must get the app's navigation, not Streamlit's
    # legacy pages/ mode (see app_support._ensure_navigation).
    for name in ["label", *[p for p in PAGES if p != "label"]]:
        page.goto(f"{app_url}/{name}")
        wait_idle(page)
        page.get_by_role("heading", name=name.capitalize()).first.wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Spectrogram" in nav and "streamlit app" not in nav.lower(), nav
        shot(page, f"empty_{name}")
