"""Synthetic test signals and writers (tones, noise, chirps) shared by the tests.

Import with ``from synth import tone, write_wav`` (tests/ is on sys.path while pytest runs;
``conftest`` is not a safe module name to import from because tests/e2e has its own).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

__all__ = ["tone", "noise", "chirp", "write_audio", "write_wav", "wav_bytes", "silence_flac"]


def tone(freq: float = 440.0, seconds: float = 1.0, sr: int = 22050, amp: float = 0.5) -> np.ndarray:
    """A sine tone, float32 shape (round(seconds * sr),)."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float = 1.0, sr: int = 22050, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    """Uniform white noise in [-amp, amp], float32 shape (n,)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-amp, amp, int(round(seconds * sr))).astype(np.float32)


def chirp(f0: float = 200.0, f1: float = 4000.0, seconds: float = 1.0, sr: int = 22050, amp: float = 0.5) -> np.ndarray:
    """A linear sweep from f0 to f1 Hz, float32 shape (n,)."""
    t = np.arange(int(round(seconds * sr))) / sr
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    return (amp * np.sin(phase)).astype(np.float32)


def write_audio(
    path: str | os.PathLike, y: np.ndarray, sr: int = 22050, *, format: str | None = None, subtype: str | None = None
) -> Path:
    """Write ``y`` (shape (n,) or (n, channels)) with soundfile; format from the suffix by default."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, format=format, subtype=subtype)
    return path


def write_wav(path: str | os.PathLike, y: np.ndarray, sr: int = 22050) -> Path:
    """16-bit PCM WAV."""
    return write_audio(path, y, sr, format="WAV", subtype="PCM_16")


def wav_bytes(y: np.ndarray, sr: int = 22050) -> bytes:
    """16-bit PCM WAV bytes of ``y``."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def silence_flac(path: str | os.PathLike, *, seconds: int, channels: int, sr: int) -> Path:
    """Digital silence as FLAC, written one second at a time: a few hundred KB on disk whatever its
    decoded size (the header bombs of tests/test_hostile.py and bench/hostile.py)."""
    import soundfile as sf

    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros((sr, channels), np.int16)
        for _ in range(seconds):
            f.write(block)
    return Path(path)
