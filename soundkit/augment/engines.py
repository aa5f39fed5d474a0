"""Time-stretch and pitch-shift engines: the Rubber Band program (via pyrubberband), else librosa."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import warnings

import numpy as np

from soundkit.errors import AudioError, ParameterError

ENGINES = ("rubberband", "librosa")


class EngineFallbackWarning(UserWarning):
    """The Rubber Band program is missing; librosa's effects are used instead."""


@functools.lru_cache(maxsize=8)
def _rubberband_on(path_env: str | None) -> str | None:
    """The rubberband executable found on ``path_env`` that answers --version, else None."""
    exe = shutil.which("rubberband", path=path_env)
    if exe is None:
        return None
    try:
        subprocess.run([exe, "--version"], capture_output=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return exe


def engine() -> str:
    """The time-stretch/pitch-shift engine in use: "rubberband" or, when the ``rubberband``
    program is not on PATH, "librosa" (with an :class:`EngineFallbackWarning`)."""
    path_env = os.environ.get("PATH")
    if _rubberband_on(path_env):
        return "rubberband"
    # One source line for every fallback warning, so the default filter shows it once per process
    # (pytest and the app still see each one).
    warnings.warn(
        "the rubberband program was not found on PATH; time-stretch and pitch-shift fall back to "
        "librosa's phase vocoder (install rubberband-cli for Rubber Band quality)",
        EngineFallbackWarning,
        stacklevel=1,
    )
    return "librosa"


def _resolve_engine(name: str) -> str:
    if name == "auto":
        return engine()
    if name == "rubberband" and not _rubberband_on(os.environ.get("PATH")):
        raise ParameterError("engine 'rubberband' was requested but the rubberband program is not on PATH")
    return name


def _stretch_shift(y: np.ndarray, sr: int, *, time_ratio: float, semitones: float, engine_name: str) -> np.ndarray:
    """Time-stretch by duration ratio ``time_ratio`` and shift by ``semitones`` in one pass.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n,)

    Returns
    -------
    np.ndarray, float32, shape (about round(n * time_ratio),)
    """
    if time_ratio == 1.0 and semitones == 0.0:
        return y
    if engine_name == "rubberband":
        import pyrubberband

        try:
            if time_ratio != 1.0:
                # pyrubberband's rate is a speed (--tempo): twice as fast = half as long.
                rbargs = {"--pitch": semitones} if semitones else None
                out = pyrubberband.time_stretch(y, sr, 1.0 / time_ratio, rbargs=rbargs)
            else:
                out = pyrubberband.pitch_shift(y, sr, semitones)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            raise AudioError(f"rubberband failed (time ratio {time_ratio:g}, {semitones:g} semitones): {exc}") from None
        return np.ascontiguousarray(out, dtype=np.float32)
    import librosa

    out = y
    if time_ratio != 1.0:
        out = librosa.effects.time_stretch(out, rate=1.0 / time_ratio)
    if semitones:
        out = librosa.effects.pitch_shift(out, sr=sr, n_steps=semitones)
    return np.ascontiguousarray(out, dtype=np.float32)

