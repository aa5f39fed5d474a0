"""A real ``streamlit run streamlit_app.py`` on a free localhost port, and the headless Chromium
settings to drive it: shared by the browser tests (tests/e2e) and the benchmarks that use the app
(bench/). Import with ``from appserver import serve, CHROMIUM, CHROMIUM_ARGS``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SOUNDKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Return once ``url``'s /_stcore/health answers 200; RuntimeError when the server exits or times out."""
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


@contextlib.contextmanager
def serve(home: Path, *, env: dict[str, str] | None = None, log: Path | None = None,
          timeout: float = 90) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run the app with SOUNDKIT_HOME=home (plus ``env``; YAMNet's weights from ../shared when there)
    in a session of its own; yield (url, process) once it is healthy; stop its process group after.

    ``log``: a file for the server's output (None: discarded)."""
    port = free_port()
    full_env = dict(os.environ, SOUNDKIT_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    weights = Path(os.environ.get("SOUNDKIT_SHARED") or ROOT.parent / "shared") / "weights"
    if (weights / "yamnet.tflite").is_file():  # the pretrained AudioSet model, offline
        full_env.setdefault("SOUNDKIT_WEIGHTS_DIR", str(weights))
    full_env.update(env or {})
    Path(home).mkdir(parents=True, exist_ok=True)
    with open(log, "wb") if log is not None else open(os.devnull, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            ],
            cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout)
        yield url, proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it and anything it started), SIGKILL after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
