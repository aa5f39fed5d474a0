"""Loading and validating audio from a path, bytes or a file-like object.

Decoding is done by libsndfile (through soundfile: WAV, FLAC, OGG/Vorbis, MP3), with librosa's
audioread fallback for other containers when a path is given; resampling by soxr. Every failure is an
:class:`~soundkit.errors.AudioError` whose one-line message names the file.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from soundkit.errors import AudioError, ParameterError

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_MAX_SECONDS",
    "Source",
    "load",
    "probe_seconds",
    "resample",
    "is_silent",
    "to_wav_bytes",
    "save_wav",
]

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".oga", ".aiff", ".aif")
DEFAULT_MAX_SECONDS = 600.0
#: Peak amplitude below which a clip counts as silent (about -80 dBFS).
SILENCE_PEAK = 1e-4

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


def _name_of(source: Source, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or "<audio bytes>"


def _read_bytes(source: Source, label: str) -> bytes | None:
    """Bytes for in-memory sources; None for paths (read by the decoder directly)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        return None
    try:
        return source.read()  # type: ignore[union-attr]
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem
        raise AudioError(f"{label}: cannot be read ({exc})") from None


def probe_seconds(source: Source, *, name: str | None = None) -> float | None:
    """Duration in seconds from the header alone, or None where the header does not say."""
    import soundfile as sf

    label = _name_of(source, name)
    data = _read_bytes(source, label)
    try:
        info = sf.info(io.BytesIO(data) if data is not None else os.fspath(source))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001
        return None
    if info.samplerate <= 0 or info.frames <= 0:
        return None
    return info.frames / info.samplerate


def load(
    source: Source,
    *,
    sr: int | None = 44100,
    mono: bool = True,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    reject_silent: bool = False,
    name: str | None = None,
) -> tuple[np.ndarray, int]:
    """Decode, validate, mix down and resample audio.

    Parameters
    ----------
    source : path, bytes or binary file-like
        The audio. Paths are decoded in place; bytes are never written to disk.
    sr : int or None
        Target sample rate; None keeps the file's own rate.
    mono : bool
        Average the channels into one.
    max_seconds : float or None
        Longest accepted duration (checked from the header before decoding where possible).
    reject_silent : bool
        Raise for a clip whose peak amplitude is below about -80 dBFS.
    name : str, optional
        How to call the source in error messages (an upload's file name, say).

    Returns
    -------
    y : np.ndarray, float32, shape (n,) if mono else (channels, n)
    sr : int

    Raises
    ------
    AudioError
        Missing, empty, undecodable, zero-length, non-finite, over-long (or silent) audio.
    """
    if sr is not None and not (1000 <= sr <= 384000):
        raise ParameterError(f"sr must be within 1000..384000 Hz, got {sr}")
    if max_seconds is not None and max_seconds <= 0:
        raise ParameterError(f"max_seconds must be positive, got {max_seconds}")
    label = _name_of(source, name)
    data = _read_bytes(source, label)
    if data is None:
        path = Path(os.fspath(source))  # type: ignore[arg-type]
        if not path.exists():
            raise AudioError(f"{label}: no such file")
        if path.is_dir():
            raise AudioError(f"{label}: is a directory, not an audio file")
        if path.stat().st_size == 0:
            raise AudioError(f"{label}: file is empty")
    elif len(data) == 0:
        raise AudioError(f"{label}: file is empty")

    y, native_sr = _decode(source if data is None else data, label, max_seconds)
    if y.size == 0 or y.shape[-1] == 0:
        raise AudioError(f"{label}: contains no audio samples")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{label}: contains NaN or infinite samples")
    seconds = y.shape[-1] / native_sr
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(f"{label}: is {seconds:.1f} s long; the limit is {max_seconds:g} s")
    if mono and y.ndim == 2:
        y = y.mean(axis=0)
    if sr is not None and sr != native_sr:
        y = resample(y, orig_sr=native_sr, target_sr=sr)
    else:
        sr = native_sr
    y = np.ascontiguousarray(y, dtype=np.float32)
    if reject_silent and is_silent(y):
        raise AudioError(f"{label}: is silent (peak below -80 dBFS)")
    return y, int(sr)


def _decode(source: Source | bytes, label: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """(channels, n) or (n,) float32 and the native rate."""
    import soundfile as sf

    def handle():
        return io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)  # type: ignore[arg-type]

    try:
        with sf.SoundFile(handle()) as f:  # one open: the header check and the decode share it
            if max_seconds is not None and f.samplerate > 0 and f.frames / f.samplerate > max_seconds + 1:
                raise AudioError(f"{label}: is {f.frames / f.samplerate:.1f} s long; the limit is {max_seconds:g} s")
            y = f.read(dtype="float32", always_2d=True)
            native_sr = f.samplerate
        return y.T, int(native_sr)
    except AudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile could not decode it; try audioread
        first_error = exc
    return _decode_fallback(source, label, first_error)


def _decode_fallback(source: Source | bytes, label: str, first_error: Exception) -> tuple[np.ndarray, int]:
    """Containers libsndfile does not read (m4a, ...) through librosa/audioread (ffmpeg)."""
    tmp = None
    try:
        if isinstance(source, bytes):
            # audioread needs a path; a private temporary file, removed at once.
            fd, tmp = tempfile.mkstemp(prefix="soundkit-", suffix=".audio")
            with os.fdopen(fd, "wb") as fh:
                fh.write(source)
            path = tmp
        else:
            path = os.fspath(source)  # type: ignore[arg-type]
        import warnings

        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, native_sr = librosa.load(path, sr=None, mono=False)
    except Exception:  # noqa: BLE001
        reason = str(first_error).splitlines()[0] if str(first_error) else type(first_error).__name__
        reason = re.sub(r"^Error opening .*?: ", "", reason)  # drop libsndfile's "<_io.BytesIO object at 0x...>"
        raise AudioError(f"{label}: cannot be decoded as audio ({reason})") from None
    finally:
        if tmp:
            os.unlink(tmp)
    y = np.asarray(y, dtype=np.float32)
    return (y if y.ndim == 2 else y[np.newaxis, :]), int(native_sr)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality)."""
    if orig_sr == target_sr:
        return y
    import soxr

    if y.ndim == 1:
        return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)
    return soxr.resample(y.T, orig_sr, target_sr, quality="HQ").T.astype(np.float32, copy=False)


def is_silent(y: np.ndarray, *, peak: float = SILENCE_PEAK) -> bool:
    """True when no sample exceeds ``peak`` in absolute value."""
    return y.size == 0 or float(np.max(np.abs(y))) < peak


def to_wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit PCM WAV bytes for playback widgets and downloads."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(y, dtype=np.float32).T, -1.0, 1.0), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def save_wav(path: str | os.PathLike, y: np.ndarray, sr: int) -> Path:
    """Write a WAV atomically (temporary file in the same folder, then rename)."""
    from soundkit.fileio import write_atomic

    return write_atomic(path, to_wav_bytes(y, sr))
