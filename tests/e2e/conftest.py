"""Fixtures for the browser tests: a real `streamlit run` server on a free localhost port and a
headless Debian Chromium driven by Playwright. Screenshots go to artifacts/ (git-ignored)."""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from appserver import CHROMIUM, CHROMIUM_ARGS, ROOT  # noqa: E402,F401 - the tests here import them from conftest too
from appserver import serve as _serve  # noqa: E402

ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("soundkit_home")


@pytest.fixture(scope="session")
def app_url(app_server):
    return app_server[0]


@pytest.fixture(scope="session")
def app_server(e2e_home):
    """Start `streamlit run streamlit_app.py` on a free port with SOUNDKIT_HOME in tmp; stop it after.

    Yields (url, process)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    with serve(e2e_home) as server:
        yield server


@pytest.fixture(scope="session")
def pw():
    """The one Playwright of the session (a second sync_playwright() cannot start beside it)."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(pw):
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser context (a new Streamlit session); its last view is saved to artifacts/."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        yield pg
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            pg.screenshot(path=str(ARTIFACTS / f"last_{request.node.name}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - a screenshot must never hide the test's own failure
            pass
        context.close()


@pytest.fixture(scope="session")
def shot():
    """shot(page, name): a full-page screenshot into artifacts/<name>.png (returns the path)."""
    ARTIFACTS.mkdir(exist_ok=True)

    def _shot(pg, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return _shot


# -- hosted mode (tests/e2e/test_hosted.py) ------------------------------------------------------


@contextlib.contextmanager
def serve(home: Path, *, env: dict[str, str] | None = None, log_name: str = "streamlit.log"):
    """:func:`appserver.serve` with its log in ``home/log_name``, copied to artifacts/ afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        with _serve(home, env=env, log=home / log_name) as server:
            yield server
    finally:
        if (home / log_name).exists():
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(home / log_name, ARTIFACTS / log_name)


@pytest.fixture(scope="session")
def hosted_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("soundkit_hosted")


@pytest.fixture(scope="session")
def hosted_server(hosted_root):
    """The same server in hosted mode (SOUNDKIT_HOSTED=1): a private workspace per visitor.

    Yields (url, process)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    with serve(hosted_root, env={"SOUNDKIT_HOSTED": "1", "SOUNDKIT_MAX_JOBS": "1"}, log_name="streamlit-hosted.log") as server:
        yield server
