"""AppTest for every page of the Streamlit app: empty store, populated store, main interactions."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
PAGES = ["classify", "label", "spectrogram", "augment", "train", "results"]


@pytest.fixture
def app_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    return home


def open_page(page: str, *, timeout: float = 30) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    if page != "classify":
        at.switch_page(f"pages/{page}.py")
        at.run()
    return at


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_empty_store(app_home, page):
    at = open_page(page)
    assert not at.exception, at.exception
    assert at.title[0].value.lower() == page
