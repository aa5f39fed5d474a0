"""Fixtures for the browser tests: a real `streamlit run` server on a free localhost port and a
headless Debian Chromium driven by Playwright. Screenshots go to artifacts/ (git-ignored)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("SOUNDKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"streamlit did not become healthy at {url} within {timeout:.0f} s")


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
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
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
    """Run `streamlit run streamlit_app.py` on a free port with SOUNDKIT_HOME=home (plus ``env``);
    yields (url, process) once it is healthy and stops it afterwards."""
    port = _free_port()
    full_env = dict(os.environ, SOUNDKIT_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    weights = Path(os.environ.get("SOUNDKIT_SHARED") or ROOT.parent / "shared") / "weights"
    if (weights / "yamnet.tflite").is_file():  # the pretrained AudioSet model, offline
        full_env.setdefault("SOUNDKIT_WEIGHTS_DIR", str(weights))
    full_env.update(env or {})
    log_path = home / log_name
    home.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            ],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / log_name)


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
