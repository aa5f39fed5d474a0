"""Ctrl-C and SIGTERM at any moment of a command, imports included: one line, the right status.

The process sends the signal to itself at a chosen point, the moment a given module starts to be
imported (a meta-path hook in a ``sitecustomize`` put first on PYTHONPATH), so no test here depends on
timing. The points are the ones a user hits: TensorFlow's protobuf descriptors (where a traceback was
once printed), Keras, and the audio stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from synth import noise, tone, write_wav

from soundkit import interrupts

ROOT = Path(__file__).resolve().parents[1]

HOOK = '''
import os, signal, sys

class _SignalOnImport:
    """Send SOUNDKIT_TEST_SIGNAL to this process when SOUNDKIT_TEST_SIGNAL_AT starts importing."""
    fired = False

    def find_spec(self, name, path=None, target=None):
        if name == os.environ.get("SOUNDKIT_TEST_SIGNAL_AT") and not self.fired:
            type(self).fired = True
            os.kill(os.getpid(), getattr(signal, os.environ["SOUNDKIT_TEST_SIGNAL"]))
        return None

sys.meta_path.insert(0, _SignalOnImport())
'''


@pytest.fixture(scope="module")
def hook_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hook")
    (d / "sitecustomize.py").write_text(HOOK)
    return d


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    for k in range(4):
        write_wav(root / "tone" / f"tone{k}.wav", tone(400 + 120 * k, 0.8, 22050))
        write_wav(root / "hiss" / f"hiss{k}.wav", noise(0.8, 22050, amp=0.3, seed=k))
    return root


def assert_one_line(stderr: str, line: str) -> None:
    """Progress before the signal may stand; after it, only ``line``, and never a traceback."""
    lines = stderr.strip().splitlines()
    assert lines and lines[-1] == line, stderr[-3000:]
    assert "Traceback" not in stderr and sum(x.startswith("error:") for x in lines) == 1, stderr[-3000:]


def signalled_run(args: list[str], *, at: str, sig: str, hook_dir: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook_dir), str(ROOT)]), "SOUNDKIT_HOME": str(home),
           "SOUNDKIT_TEST_SIGNAL_AT": at, "SOUNDKIT_TEST_SIGNAL": sig, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("SOUNDKIT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "soundkit", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)


@pytest.mark.parametrize(("at", "sig", "status"), [
    ("google.protobuf.descriptor_pool", "SIGINT", 130),
    ("keras", "SIGINT", 130),
    ("soundfile", "SIGINT", 130),
    ("google.protobuf.descriptor_pool", "SIGTERM", 143),
    ("keras", "SIGTERM", 143),
])
def test_a_signal_while_train_imports_ends_in_one_line(at, sig, status, hook_dir, folders, tmp_path):
    state = tmp_path / "status.json"
    proc = signalled_run(["train", str(folders), "--out", str(tmp_path / "run"), "--epochs", "50", "--status", str(state)],
                         at=at, sig=sig, hook_dir=hook_dir, home=tmp_path / "home")
    word = "interrupted" if sig == "SIGINT" else "terminated"
    assert proc.returncode == status, proc.stderr[-3000:]
    assert_one_line(proc.stderr, f"error: {word}")
    assert proc.stdout == ""
    assert json.loads(state.read_text())["state"] == "cancelled"
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.parametrize("at", ["soundkit.cli", "numpy", "soundfile"])
def test_a_signal_at_any_import_of_a_light_command_is_one_line(at, hook_dir, folders, tmp_path):
    proc = signalled_run(["import", str(folders), "--home", str(tmp_path / "home"), "--json"], at=at, sig="SIGINT",
                         hook_dir=hook_dir, home=tmp_path / "home")
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert_one_line(proc.stderr, "error: interrupted")
    assert proc.stdout == ""


def test_no_signal_no_change(hook_dir, folders, tmp_path):
    """The hook itself changes nothing when the module it waits for is never imported."""
    proc = signalled_run(["import", str(folders), "--home", str(tmp_path / "home"), "--json"], at="no.such.module",
                         sig="SIGINT", hook_dir=hook_dir, home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["added"] == 8


def test_children_lists_every_descendant():
    """_children() finds a grandchild too (what the handler stops before it raises)."""
    import time

    import psutil

    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code])
    mine: list[int] = [child.pid]
    try:
        for _ in range(100):
            mine = [child.pid, *(p.pid for p in psutil.Process(child.pid).children(recursive=True))]
            if len(mine) >= 2:
                break
            time.sleep(0.05)
        assert len(mine) >= 2
        assert set(mine) <= set(interrupts._children())  # the child and its grandchild
    finally:
        for pid in mine:  # only what this test started: never the session's other children
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        child.wait(timeout=10)
