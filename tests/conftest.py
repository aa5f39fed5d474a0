"""Shared fixtures and synthetic-audio helpers for soundkit's tests.

Real data (ESC-10, the ESC-50 metadata, YAMNet weights) is read from ``$SOUNDKIT_SHARED`` (default:
the ``shared`` folder next to the repository root) and never copied into the repository; tests that
need it skip with a reason when it is absent.

Synthetic-audio helpers live in tests/synth.py (``from synth import tone, write_wav``: importing
from ``conftest`` is unsafe because tests/e2e has its own conftest) and are re-exported here:

- ``tone(freq, seconds, sr, amp)``, ``noise(seconds, sr, amp, seed)``, ``chirp(f0, f1, seconds, sr)``
  return float32 arrays of shape (n,);
- ``write_wav(path, y, sr)`` / ``write_audio(path, y, sr, format=..., subtype=...)`` write a file;
- ``wav_bytes(y, sr)`` returns WAV bytes;
Fixtures: ``shared_dir``, ``esc10_dir``, ``esc50_csv``, ``yamnet_path``, ``yamnet_class_map``,
  ``tmp_home`` (SOUNDKIT_HOME in tmp), ``make_wav`` (factory writing tones into tmp_path),
  ``class_folders`` (a tiny folder-per-class dataset of tones).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from synth import chirp, noise, tone, wav_bytes, write_audio, write_wav  # noqa: F401 (re-exported helpers)

ROOT = Path(__file__).resolve().parents[1]


# -- shared data ----------------------------------------------------------------------------------


def shared_path() -> Path:
    return Path(os.environ.get("SOUNDKIT_SHARED") or ROOT.parent / "shared")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    p = shared_path()
    if not p.is_dir():
        pytest.skip(f"shared data folder {p} not found (set SOUNDKIT_SHARED)")
    return p


@pytest.fixture(scope="session")
def esc10_dir(shared_dir) -> Path:
    p = shared_dir / "data" / "ESC-10"
    if not p.is_dir():
        pytest.skip(f"ESC-10 not found at {p}")
    return p


@pytest.fixture(scope="session")
def esc50_csv(shared_dir) -> Path:
    p = shared_dir / "data" / "esc50-meta" / "esc50.csv"
    if not p.is_file():
        pytest.skip(f"ESC-50 metadata not found at {p}")
    return p


@pytest.fixture(scope="session")
def yamnet_path(shared_dir) -> Path:
    p = shared_dir / "weights" / "yamnet.tflite"
    if not p.is_file():
        pytest.skip(f"YAMNet weights not found at {p}")
    return p


@pytest.fixture(scope="session")
def yamnet_class_map(shared_dir) -> Path:
    p = shared_dir / "weights" / "yamnet_class_map.csv"
    if not p.is_file():
        pytest.skip(f"YAMNet class map not found at {p}")
    return p


# -- temporary data directory and synthetic files -------------------------------------------------


@pytest.fixture
def tmp_home(tmp_path, monkeypatch) -> Path:
    """A fresh SOUNDKIT_HOME in tmp (not created yet)."""
    home = tmp_path / "soundkit_home"
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    return home


@pytest.fixture
def make_wav(tmp_path):
    """make_wav(name, freq=440, seconds=1, sr=22050, amp=0.5) -> path of a tone WAV under tmp_path."""

    def _make(
        name: str = "tone.wav", freq: float = 440.0, seconds: float = 1.0, sr: int = 22050, amp: float = 0.5
    ) -> Path:
        return write_wav(tmp_path / name, tone(freq, seconds, sr, amp), sr)

    return _make


@pytest.fixture
def class_folders(tmp_path) -> Path:
    """A folder-per-class dataset: 3 classes ("high", "low", "noise") x 4 clips of 0.5 s at 22.05 kHz."""
    root = tmp_path / "classes"
    for k in range(4):
        write_wav(root / "high" / f"h{k}.wav", tone(3000 + 100 * k, 0.5))
        write_wav(root / "low" / f"l{k}.wav", tone(200 + 20 * k, 0.5))
        write_wav(root / "noise" / f"n{k}.wav", noise(0.5, seed=k))
    return root
