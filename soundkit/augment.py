"""Data augmentation: waveform transforms, spectrogram masks, policies and cached offline copies.

Transforms
----------
Every transform shares one call protocol (after audiomentations): ranges are validated in
``__init__`` (:class:`~soundkit.errors.ParameterError`), a probability ``p`` decides whether it
applies, parameters are drawn from an explicit ``np.random.Generator`` by :meth:`Transform.draw`
(never from global state, never from the audio itself) and applied by :meth:`Transform.apply`, so
a drawn parameter set fully determines the output (it is what the disk cache is keyed on).
Calling a transform does both and records what it drew in ``params_``.

- :class:`TimeStretch` -- duration ratio ``R`` as in ``rubberband -t R`` (R = 1.5: 50% longer).
- :class:`PitchShift` -- semitones as in ``rubberband -p S``.
- :class:`AddNoise` -- Gaussian or background-sound noise mixed at a signal-to-noise ratio.
- :class:`Gain`, :class:`Shift` (time shift, audiomentations' Shift with its stitch cross-fade).
- :class:`TimeMask`, :class:`FrequencyMask` -- SpecAugment-style masks on a log-mel (n_mels, T),
  applied on the fly by training (they have no waveform form to cache).
- :class:`Compose` chains waveform transforms.

Engines
-------
Time stretching and pitch shifting run the real Rubber Band command-line program through
pyrubberband (one subprocess per call; a stretch and a shift drawn together run as one
``rubberband -t R -p S`` call). When the ``rubberband`` program is not on ``PATH`` they fall back
to librosa's phase-vocoder effects with an :class:`EngineFallbackWarning`; :func:`engine` names
the engine in use and every report records it. pyrubberband's ``time_stretch(y, sr, rate)`` takes a
*speed* (``--tempo``): our duration ratio R is passed as ``rate = 1 / R``.

Policies and offline copies
---------------------------
A :class:`Policy` says how many augmented copies each training clip gets and which transforms
make them: one global chain, optionally overridden per class (class-conditional augmentation).
:func:`augment_clips` renders the copies in worker processes and caches them on disk as WAV files
keyed by (clip content hash, drawn parameters), so a second run renders nothing. A copy keeps its
source clip's label, fold and source, so it can never cross a train/test split.
:func:`policy_from_arg` turns a CLI argument (a name or a JSON file) into a policy.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from soundkit.errors import AudioError, DatasetError, ParameterError, SoundkitError

__all__ = [
    "ENGINES",
    "EngineFallbackWarning",
    "engine",
    "Transform",
    "TimeStretch",
    "PitchShift",
    "AddNoise",
    "Gain",
    "Shift",
    "TimeMask",
    "FrequencyMask",
    "Compose",
    "transform_from_dict",
    "SETS",
    "POLICY_NAMES",
    "Policy",
    "policy_from_arg",
    "augment_clips",
    "spec_augment",
    "mix_batch",
    "mixup_draw",
    "mix_rows",
    "preview",
    "is_augmented",
    "original_id",
    "leaked",
    "read_params",
]

log = logging.getLogger(__name__)

ENGINES = ("rubberband", "librosa")
#: Separator between an original clip id and the copy number in an augmented copy's id.
AUG_MARK = "#aug"
_CACHE_VERSION = 1

Progress = Callable[[dict], None]


# -- engine ------------------------------------------------------------------------------------------


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


# -- base ---------------------------------------------------------------------------------------------


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ParameterError(message)


def _number(value: Any, name: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    _check(math.isfinite(x), f"{name} must be finite, got {value!r}")
    return x


def _range(lo: Any, hi: Any, *, name: str, low: float, high: float, unit: str = "") -> tuple[float, float]:
    lo, hi = _number(lo, f"min_{name}"), _number(hi, f"max_{name}")
    _check(low <= lo <= high, f"min_{name} must be within {low:g}..{high:g}{unit}, got {lo:g}")
    _check(low <= hi <= high, f"max_{name} must be within {low:g}..{high:g}{unit}, got {hi:g}")
    _check(lo <= hi, f"min_{name} ({lo:g}) must not exceed max_{name} ({hi:g})")
    return lo, hi


def _choices(values: Any, *, name: str, low: float, high: float) -> tuple[float, ...] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ParameterError(f"{name} choices must be a list of numbers, got {values!r}")
    out = tuple(_number(v, name) for v in values)
    _check(len(out) > 0, f"{name} choices must not be empty")
    for v in out:
        _check(low <= v <= high, f"{name} choices must be within {low:g}..{high:g}, got {v:g}")
    return out


def _as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ParameterError(f"rng must be a numpy Generator or an integer seed, got {type(rng).__name__}")


class Transform:
    """Base of all transforms: probability, explicit random generator, recorded parameters.

    Subclasses set ``name`` and ``kind`` ("wave" or "spec"), validate their ranges in ``__init__``
    and implement ``_draw(rng) -> dict`` and ``_apply(x, sr, **params)``.

    Attributes
    ----------
    params_ : dict or None
        The parameters drawn by the last call (``{"applied": False}`` when ``p`` said no).
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "wave"

    def __init__(self, *, p: float = 1.0) -> None:
        p = _number(p, "p")
        _check(0.0 <= p <= 1.0, f"p must be within 0..1, got {p:g}")
        self.p = p
        self.params_: dict | None = None

    # protocol ---------------------------------------------------------------------------------------
    def draw(self, rng: np.random.Generator) -> dict:
        """Draw this transform's parameters; ``{"applied": False}`` when it does not apply."""
        applied = bool(rng.random() < self.p)  # always consumes one number: p does not shift later draws
        if not applied:
            return {"applied": False}
        return {"applied": True, **self._draw(rng)}

    def apply(self, x: np.ndarray, sr: int, params: dict) -> np.ndarray:
        """Apply drawn ``params`` to ``x`` (audio (n,) or spectrogram (..., n_mels, T))."""
        if not params.get("applied", False):
            return x
        kwargs = {k: v for k, v in params.items() if k != "applied"}
        return self._apply(x, sr, **kwargs)

    def __call__(self, x: np.ndarray, sr: int, *, rng: np.random.Generator | int) -> np.ndarray:
        """Draw parameters from ``rng``, record them in ``params_`` and apply them."""
        params = self.draw(_as_rng(rng))
        out = self.apply(x, sr, params)
        self.params_ = params
        return out

    # serialisation ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """``{"type": name, **constructor arguments}`` (JSON-ready)."""
        return {"type": self.name, **self._args(), "p": self.p}

    def _args(self) -> dict:
        raise NotImplementedError

    def _draw(self, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def _apply(self, x: np.ndarray, sr: int, **params: Any) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transform) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _uniform_or_choice(rng: np.random.Generator, lo: float, hi: float, choices: tuple[float, ...] | None, *, log_scale: bool = False) -> float:
    if choices is not None:
        return float(choices[int(rng.integers(len(choices)))])
    if log_scale:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


# -- waveform transforms --------------------------------------------------------------------------------


class TimeStretch(Transform):
    """Change duration without changing pitch.

    Parameters
    ----------
    min_ratio, max_ratio : float
        Output/input duration ratio, within 0.5..2.0 (as ``rubberband -t R``: 1.5 is 50% longer).
        Drawn log-uniformly, so 0.8 and 1.25 are equally likely.
    choices : sequence of float, optional
        Draw from these ratios instead of the range.
    engine : {"auto", "rubberband", "librosa"}
    p : float
    """

    name = "time_stretch"

    def __init__(self, min_ratio: float = 0.8, max_ratio: float = 1.25, *, choices: Sequence[float] | None = None,
                 engine: str = "auto", p: float = 1.0) -> None:
        super().__init__(p=p)
        self.min_ratio, self.max_ratio = _range(min_ratio, max_ratio, name="ratio", low=0.5, high=2.0)
        self.choices = _choices(choices, name="time ratio", low=0.5, high=2.0)
        _check(engine in ("auto", *ENGINES), f"engine must be auto, rubberband or librosa, got {engine!r}")
        self.engine = engine

    def _args(self) -> dict:
        return {"min_ratio": self.min_ratio, "max_ratio": self.max_ratio,
                "choices": list(self.choices) if self.choices else None, "engine": self.engine}

    def _draw(self, rng: np.random.Generator) -> dict:
        r = _uniform_or_choice(rng, self.min_ratio, self.max_ratio, self.choices, log_scale=True)
        return {"time_ratio": round(r, 6), "engine": _resolve_engine(self.engine)}

    def _apply(self, y: np.ndarray, sr: int, *, time_ratio: float, engine: str) -> np.ndarray:
        return _stretch_shift(y, sr, time_ratio=time_ratio, semitones=0.0, engine_name=engine)


class PitchShift(Transform):
    """Change pitch without changing duration.

    Parameters
    ----------
    min_semitones, max_semitones : float
        Within -12..12 (as ``rubberband -p S``).
    choices : sequence of float, optional
    engine : {"auto", "rubberband", "librosa"}
    p : float
    """

    name = "pitch_shift"

    def __init__(self, min_semitones: float = -2.0, max_semitones: float = 2.0, *, choices: Sequence[float] | None = None,
                 engine: str = "auto", p: float = 1.0) -> None:
        super().__init__(p=p)
        self.min_semitones, self.max_semitones = _range(min_semitones, max_semitones, name="semitones", low=-12, high=12)
        self.choices = _choices(choices, name="semitones", low=-12, high=12)
        _check(engine in ("auto", *ENGINES), f"engine must be auto, rubberband or librosa, got {engine!r}")
        self.engine = engine

    def _args(self) -> dict:
        return {"min_semitones": self.min_semitones, "max_semitones": self.max_semitones,
                "choices": list(self.choices) if self.choices else None, "engine": self.engine}

    def _draw(self, rng: np.random.Generator) -> dict:
        s = _uniform_or_choice(rng, self.min_semitones, self.max_semitones, self.choices)
        return {"semitones": round(s, 4), "engine": _resolve_engine(self.engine)}

    def _apply(self, y: np.ndarray, sr: int, *, semitones: float, engine: str) -> np.ndarray:
        return _stretch_shift(y, sr, time_ratio=1.0, semitones=semitones, engine_name=engine)


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0


@functools.lru_cache(maxsize=32)
def _noise_clip(path: str, sr: int) -> np.ndarray:
    from soundkit import audio

    y, _ = audio.load(path, sr=sr)
    y.setflags(write=False)
    return y


class AddNoise(Transform):
    """Mix noise in at a signal-to-noise ratio drawn in dB.

    Parameters
    ----------
    min_snr_db, max_snr_db : float
        Within -20..60 dB (lower: more noise). The noise RMS is set from the clip's RMS
        (audiomentations' ``calculate_desired_noise_rms``); a silent clip is left unchanged.
    sounds : folder or sequence of audio paths, optional
        Background recordings (looped and cut at a random offset); default: Gaussian white noise.
    p : float
    """

    name = "add_noise"

    def __init__(self, min_snr_db: float = 10.0, max_snr_db: float = 30.0, *,
                 sounds: str | os.PathLike | Sequence[str | os.PathLike] | None = None, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.min_snr_db, self.max_snr_db = _range(min_snr_db, max_snr_db, name="snr_db", low=-20, high=60, unit=" dB")
        self.sounds_arg = None if sounds is None else (os.fspath(sounds) if isinstance(sounds, (str, os.PathLike)) else [os.fspath(s) for s in sounds])
        self.sounds: tuple[str, ...] = ()
        if sounds is not None:
            from soundkit.audio import AUDIO_EXTENSIONS

            if isinstance(sounds, (str, os.PathLike)):
                folder = Path(sounds)
                if not folder.is_dir():
                    raise ParameterError(f"noise sounds folder {folder} does not exist")
                files = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
            else:
                files = [os.fspath(s) for s in sounds]
                for f in files:
                    if not Path(f).is_file():
                        raise ParameterError(f"noise sound {f} does not exist")
            if not files:
                raise ParameterError(f"no audio files in noise sounds {sounds}")
            self.sounds = tuple(files)

    def _args(self) -> dict:
        return {"min_snr_db": self.min_snr_db, "max_snr_db": self.max_snr_db, "sounds": self.sounds_arg}

    def _draw(self, rng: np.random.Generator) -> dict:
        snr = round(float(rng.uniform(self.min_snr_db, self.max_snr_db)), 3)
        if self.sounds:
            return {"snr_db": snr, "noise": self.sounds[int(rng.integers(len(self.sounds)))],
                    "offset": round(float(rng.random()), 6)}
        return {"snr_db": snr, "noise": "gaussian", "noise_seed": int(rng.integers(2**31))}

    def _apply(self, y: np.ndarray, sr: int, *, snr_db: float, noise: str, noise_seed: int = 0, offset: float = 0.0) -> np.ndarray:
        from audiomentations.core.utils import calculate_desired_noise_rms

        clean_rms = _rms(y)
        if clean_rms == 0.0:
            return y
        if noise == "gaussian":
            n = np.random.default_rng(noise_seed).standard_normal(y.shape[-1])
        else:
            src = _noise_clip(noise, sr)
            if src.size == 0 or _rms(src) == 0.0:
                return y
            start = int(offset * src.size)
            reps = int(np.ceil((start + y.shape[-1]) / src.size))
            n = np.tile(src, reps)[start : start + y.shape[-1]].astype(np.float64)
        n *= calculate_desired_noise_rms(clean_rms, snr_db) / _rms(n)
        return (y + n).astype(np.float32)


class Gain(Transform):
    """Multiply by a gain drawn in dB (within -40..40).

    Note that soundkit's log-mel is relative to each clip's maximum, so gain alone barely changes
    the features; it matters combined with noise, and for models fed raw levels.
    """

    name = "gain"

    def __init__(self, min_gain_db: float = -6.0, max_gain_db: float = 6.0, *, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.min_gain_db, self.max_gain_db = _range(min_gain_db, max_gain_db, name="gain_db", low=-40, high=40, unit=" dB")

    def _args(self) -> dict:
        return {"min_gain_db": self.min_gain_db, "max_gain_db": self.max_gain_db}

    def _draw(self, rng: np.random.Generator) -> dict:
        return {"gain_db": round(float(rng.uniform(self.min_gain_db, self.max_gain_db)), 4)}

    def _apply(self, y: np.ndarray, sr: int, *, gain_db: float) -> np.ndarray:
        return (y * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


class Shift(Transform):
    """Shift in time by a number of seconds (within -10..10), via audiomentations' Shift.

    Parameters
    ----------
    min_seconds, max_seconds : float
    rollover : bool
        Samples pushed past one end come back at the other (else the gap is silent); the stitch is
        cross-faded over 5 ms.
    p : float
    """

    name = "shift"

    def __init__(self, min_seconds: float = -0.5, max_seconds: float = 0.5, *, rollover: bool = True, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.min_seconds, self.max_seconds = _range(min_seconds, max_seconds, name="seconds", low=-10, high=10, unit=" s")
        self.rollover = bool(rollover)

    def _args(self) -> dict:
        return {"min_seconds": self.min_seconds, "max_seconds": self.max_seconds, "rollover": self.rollover}

    def _draw(self, rng: np.random.Generator) -> dict:
        return {"shift_s": round(float(rng.uniform(self.min_seconds, self.max_seconds)), 6)}

    def _apply(self, y: np.ndarray, sr: int, *, shift_s: float) -> np.ndarray:
        if round(shift_s * sr) == 0:
            return y
        from audiomentations import Shift as _AmShift

        # A fixed range and p=1 make audiomentations' own draw deterministic: the shift is ours.
        t = _AmShift(min_shift=shift_s, max_shift=shift_s, shift_unit="seconds", rollover=self.rollover, p=1.0)
        return np.asarray(t(samples=np.ascontiguousarray(y, dtype=np.float32), sample_rate=sr), dtype=np.float32)


# -- spectrogram masks -----------------------------------------------------------------------------------


class _Mask(Transform):
    kind = "spec"
    axis: ClassVar[int] = -1
    unit: ClassVar[str] = "width"

    def __init__(self, max_width: int = 16, *, n_masks: int = 2, fill: str = "min", p: float = 1.0) -> None:
        super().__init__(p=p)
        _check(isinstance(max_width, (int, np.integer)) and 1 <= max_width <= 1024, f"max_width must be an integer within 1..1024, got {max_width!r}")
        _check(isinstance(n_masks, (int, np.integer)) and 1 <= n_masks <= 16, f"n_masks must be an integer within 1..16, got {n_masks!r}")
        _check(fill in ("min", "mean"), f"fill must be 'min' or 'mean', got {fill!r}")
        self.max_width, self.n_masks, self.fill = int(max_width), int(n_masks), fill

    def _args(self) -> dict:
        return {"max_width": self.max_width, "n_masks": self.n_masks, "fill": self.fill}

    def _draw(self, rng: np.random.Generator) -> dict:
        widths = rng.integers(0, self.max_width + 1, size=self.n_masks)
        starts = rng.random(self.n_masks)
        return {"masks": [[round(float(s), 6), int(w)] for s, w in zip(starts, widths, strict=True)]}

    def _apply(self, S: np.ndarray, sr: int, *, masks: list) -> np.ndarray:
        S = np.array(S, dtype=np.float32, copy=True)
        n = S.shape[self.axis]
        value = float(S.min()) if self.fill == "min" else float(S.mean())
        for start, width in masks:
            width = min(int(width), n)
            a = int(start * (n - width + 1))
            idx = [slice(None)] * S.ndim
            idx[self.axis] = slice(a, a + width)
            S[tuple(idx)] = value
        return S


class TimeMask(_Mask):
    """SpecAugment time masks: ``n_masks`` bands of 0..max_width frames set to the minimum (or
    mean) of a spectrogram shaped (..., n_mels, T)."""

    name = "time_mask"
    axis = -1


class FrequencyMask(_Mask):
    """SpecAugment frequency masks: ``n_masks`` bands of 0..max_width mel bins of a spectrogram
    shaped (..., n_mels, T)."""

    name = "frequency_mask"
    axis = -2


# -- composition ---------------------------------------------------------------------------------------------


class Compose(Transform):
    """Apply transforms in order (all waveform or all spectrogram).

    A time stretch directly followed by a pitch shift, both on Rubber Band, run as one
    ``rubberband -t R -p S`` call.
    """

    name = "compose"

    def __init__(self, transforms: Sequence[Transform], *, p: float = 1.0) -> None:
        super().__init__(p=p)
        transforms = list(transforms)
        for t in transforms:
            _check(isinstance(t, Transform), f"Compose takes transforms, got {t!r}")
        kinds = {t.kind for t in transforms}
        _check(len(kinds) <= 1, "Compose cannot mix waveform transforms and spectrogram masks")
        self.transforms = transforms
        self.kind = kinds.pop() if kinds else "wave"  # type: ignore[misc]

    def to_dict(self) -> dict:
        return {"type": self.name, "transforms": [t.to_dict() for t in self.transforms], "p": self.p}

    def _draw(self, rng: np.random.Generator) -> dict:
        return {"transforms": [t.draw(rng) for t in self.transforms]}

    def _apply(self, x: np.ndarray, sr: int, *, transforms: list) -> np.ndarray:
        _check(len(transforms) == len(self.transforms), "Compose parameters do not match its transforms")
        i = 0
        while i < len(self.transforms):
            t, params = self.transforms[i], transforms[i]
            nxt = self.transforms[i + 1] if i + 1 < len(self.transforms) else None
            if (isinstance(t, TimeStretch) and isinstance(nxt, PitchShift) and params.get("applied")
                    and transforms[i + 1].get("applied") and params["engine"] == transforms[i + 1]["engine"] == "rubberband"):
                x = _stretch_shift(x, sr, time_ratio=params["time_ratio"], semitones=transforms[i + 1]["semitones"],
                                   engine_name="rubberband")
                i += 2
                continue
            x = t.apply(x, sr, params)
            i += 1
        return x

    def __len__(self) -> int:
        return len(self.transforms)


_TYPES: dict[str, type[Transform]] = {
    cls.name: cls for cls in (TimeStretch, PitchShift, AddNoise, Gain, Shift, TimeMask, FrequencyMask)
}


def transform_from_dict(d: dict) -> Transform:
    """Build a transform from ``{"type": ..., **arguments}`` (what :meth:`Transform.to_dict` gives)."""
    if not isinstance(d, dict) or "type" not in d:
        raise ParameterError(f"a transform must be a JSON object with a 'type', got {d!r}")
    args = dict(d)
    kind = args.pop("type")
    if kind == "compose":
        items = args.pop("transforms", [])
        if not isinstance(items, list):
            raise ParameterError("compose 'transforms' must be a list")
        return Compose([transform_from_dict(t) for t in items], **args)
    cls = _TYPES.get(kind)
    if cls is None:
        raise ParameterError(f"unknown transform type {kind!r}; choose one of {', '.join(sorted(_TYPES))}")
    try:
        return cls(**args)
    except TypeError as exc:
        raise ParameterError(f"bad arguments for transform {kind!r}: {exc}") from None


# -- policies ------------------------------------------------------------------------------------------------

#: Named transform sets; "a+b" concatenates sets. Stretch/pitch ranges follow the recipe's
#: deformations (Salamon & Bello 2017: speeds 0.81..1.23, shifts of up to 2-3.5 semitones).
SETS: dict[str, list[dict]] = {
    "none": [],
    "stretch": [{"type": "time_stretch", "min_ratio": 0.8, "max_ratio": 1.25}],
    "pitch": [{"type": "pitch_shift", "min_semitones": -2.5, "max_semitones": 2.5}],
    "noise": [{"type": "add_noise", "min_snr_db": 10.0, "max_snr_db": 30.0}],
    "gain": [{"type": "gain", "min_gain_db": -6.0, "max_gain_db": 6.0}],
    "shift": [{"type": "shift", "min_seconds": -0.5, "max_seconds": 0.5}],
    # the recipe's own discrete deformations: rubberband -t {1/1.23 .. 1/0.81} -p {-2,-1,1,2}
    "recipe": [
        {"type": "time_stretch", "choices": [0.81, 0.93, 1.07, 1.23]},
        {"type": "pitch_shift", "choices": [-2.0, -1.0, 1.0, 2.0]},
    ],
}
_SPEC_MASKS = [{"type": "time_mask", "max_width": 16, "n_masks": 2}, {"type": "frequency_mask", "max_width": 12, "n_masks": 2}]
#: Named policies accepted by :func:`policy_from_arg` (plus any "a+b" combination of :data:`SETS`).
POLICY_NAMES = ("none", "stretch", "pitch", "stretch+pitch", "recipe", "noise", "gain", "shift", "specaugment", "full", "mixup", "stretch+pitch+mixup", "recipe+mixup")
_COPIES = {"recipe": 4}
#: Beta(alpha, alpha) of mixup in the named policies ("mixup", "stretch+pitch+mixup", ...).
MIXUP_ALPHA = 0.2


def _set_specs(name: str) -> list[dict]:
    """Transform specs of a set name such as "stretch+pitch"."""
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"an augmentation set must be a name, got {name!r}")
    specs: list[dict] = []
    for part in name.strip().split("+"):
        part = part.strip()
        if part not in SETS:
            raise ParameterError(f"unknown augmentation set {part!r}; choose from {', '.join(SETS)} (joined with '+')")
        specs.extend(dict(s) for s in SETS[part])
    return specs


class Policy:
    """How training clips are augmented.

    Parameters
    ----------
    name : str
    copies : int
        Augmented copies rendered per training clip (0..32).
    transforms : str or list of dict
        The global chain: a set name ("stretch+pitch") or transform specs.
    per_class : dict {label: str or list of dict}, optional
        Class-conditional chains overriding the global one ("none" or [] gives that class no copies).
    spec : list of dict, optional
        Spectrogram masks for training to apply on the fly (see :func:`spec_augment`).
    mixup : float
        mixup (Zhang et al. 2018) during training: every training example is blended with another
        one, ``lam * x_i + (1 - lam) * x_j`` and the same for the one-hot targets, with
        ``lam ~ Beta(mixup, mixup)`` (0, the default, is off; at most 10), drawn afresh every epoch
        (the YAMNet head gathers its frames once, so there it is drawn once). See :func:`mix_batch`.
    """

    def __init__(self, *, name: str = "custom", copies: int = 2, transforms: str | list[dict] = "none",
                 per_class: dict[str, str | list[dict]] | None = None, spec: list[dict] | None = None,
                 mixup: float = 0.0) -> None:
        _check(isinstance(name, str), f"policy name must be a string, got {name!r}")
        _check(isinstance(copies, (int, np.integer)) and not isinstance(copies, bool) and 0 <= copies <= 32,
               f"copies must be an integer within 0..32, got {copies!r}")
        self.name, self.copies = name, int(copies)
        self.mixup = _number(mixup, "mixup")
        _check(0.0 <= self.mixup <= 10.0, f"mixup must be within 0..10 (the Beta distribution's alpha; 0 is off), got {mixup!r}")
        self.transforms = transforms
        self.per_class = dict(per_class) if per_class else None
        self.spec = list(spec) if spec else []
        self._global = self._build(transforms, where="transforms")
        self._by_class = {label: self._build(v, where=f"per_class[{label!r}]") for label, v in (self.per_class or {}).items()}
        masks = [transform_from_dict(s) for s in self.spec]
        for m in masks:
            _check(m.kind == "spec", f"spec must hold spectrogram masks only, got {m.name!r}")
        self._spec = Compose(masks) if masks else None

    @staticmethod
    def _build(value: str | list[dict], *, where: str) -> Compose | None:
        specs = _set_specs(value) if isinstance(value, str) else value
        if not isinstance(specs, list):
            raise ParameterError(f"policy {where} must be a set name or a list of transforms, got {value!r}")
        ts = [transform_from_dict(s) for s in specs]
        for t in ts:
            _check(t.kind == "wave", f"policy {where} holds {t.name!r}, a spectrogram mask: put it under 'spec'")
        return Compose(ts) if ts else None

    def compose_for(self, label: str) -> Compose | None:
        """The waveform chain for clips of ``label`` (None: no copies for that class)."""
        if self.copies == 0:
            return None
        if self.per_class is not None and label in self._by_class:
            return self._by_class[label]
        return self._global

    def spec_compose(self) -> Compose | None:
        """The spectrogram masks (None when the policy has none)."""
        return self._spec

    @property
    def is_identity(self) -> bool:
        """True when the policy neither renders copies, masks spectrograms nor mixes examples."""
        renders = self.copies > 0 and (self._global is not None or any(c is not None for c in self._by_class.values()))
        return not renders and self._spec is None and self.mixup == 0

    @property
    def engine(self) -> str | None:
        """The stretch/shift engine this policy will use, or None when it uses neither."""
        chains = [self._global, *self._by_class.values()]
        if any(c is not None and any(isinstance(t, (TimeStretch, PitchShift)) for t in c.transforms) for c in chains):
            return engine()
        return None

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"name": self.name, "copies": self.copies, "transforms": self.transforms}
        if self.per_class is not None:
            d["per_class"] = dict(self.per_class)
        if self.spec:
            d["spec"] = list(self.spec)
        if self.mixup:
            d["mixup"] = self.mixup
        return json.loads(json.dumps(d))  # a deep, JSON-clean copy

    @classmethod
    def from_dict(cls, d: dict | None) -> Policy:
        """A policy from its dict (None or {} is the "none" policy)."""
        if d is None or d == {}:
            return cls(name="none", copies=0)
        if not isinstance(d, dict):
            raise ParameterError(f"an augmentation policy must be a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - {"name", "copies", "transforms", "per_class", "spec", "mixup"})
        if unknown:
            raise ParameterError(f"unknown augmentation policy field(s): {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def named(cls, name: str, *, copies: int | None = None) -> Policy:
        """A named policy: "none", "stretch", "pitch", "stretch+pitch", "recipe", "noise", "gain",
        "shift", "specaugment" (masks only), "full" (stretch+pitch+noise+shift with masks), or any
        "+"-joined combination of :data:`SETS`; a "+mixup" part adds mixup (:data:`MIXUP_ALPHA`) to
        any of them, and "mixup" alone renders no copies."""
        name = name.strip()
        parts = [p.strip() for p in name.split("+")]
        if "mixup" in parts and name != "mixup":
            rest = "+".join(p for p in parts if p != "mixup")
            base = cls.named(rest, copies=copies) if rest else cls(name="none", copies=0)
            return cls(**{**base.to_dict(), "name": name, "mixup": MIXUP_ALPHA})
        if name == "mixup":
            return cls(name=name, copies=0, mixup=MIXUP_ALPHA)
        if name == "none":
            return cls(name="none", copies=0)
        if name == "specaugment":
            return cls(name=name, copies=0, spec=_SPEC_MASKS)
        if name == "full":
            return cls(name=name, copies=2 if copies is None else copies, transforms="stretch+pitch+noise+shift", spec=_SPEC_MASKS)
        _set_specs(name)  # validates
        return cls(name=name, copies=_COPIES.get(name, 2) if copies is None else copies, transforms=name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policy) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Policy({json.dumps(self.to_dict(), sort_keys=True)})"


def policy_from_arg(s: str | os.PathLike | dict | Policy | None) -> Policy:
    """A policy from a CLI argument: a name (see :meth:`Policy.named`), a JSON file holding a
    policy (or a run's config.json, whose ``train.augment`` is used), a dict, or None ("none")."""
    if s is None:
        return Policy.named("none")
    if isinstance(s, Policy):
        return s
    if isinstance(s, dict):
        return Policy.from_dict(s)
    text = os.fspath(s).strip()
    path = Path(text).expanduser()
    if text.endswith(".json") or path.is_file():
        if not path.is_file():
            raise ParameterError(f"augmentation policy file {path} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParameterError(f"{path}: not a JSON augmentation policy ({exc})") from None
        if isinstance(data, dict) and isinstance(data.get("train"), dict) and "augment" in data["train"]:
            data = data["train"]["augment"]
        return Policy.from_dict(data)
    try:
        return Policy.named(text)
    except ParameterError:
        raise ParameterError(
            f"unknown augmentation policy {text!r}; use one of {', '.join(POLICY_NAMES)}, a '+' combination of "
            f"{', '.join(k for k in SETS if k != 'none')}, or a JSON file"
        ) from None


def spec_augment(W: np.ndarray, policy: Policy | dict | None, *, rng: np.random.Generator | int) -> np.ndarray:
    """Apply a policy's spectrogram masks to each window independently.

    Parameters
    ----------
    W : np.ndarray, shape (n_windows, n_mels, frames) or (n_mels, frames)
    policy : Policy, dict or None
    rng : np.random.Generator or int

    Returns
    -------
    np.ndarray, same shape (a new array; ``W`` itself when the policy has no masks)
    """
    pol = policy if isinstance(policy, Policy) else Policy.from_dict(policy)
    masks = pol.spec_compose()
    if masks is None:
        return W
    rng = _as_rng(rng)
    if W.ndim == 2:
        return masks(W, 0, rng=rng)
    return np.stack([masks(w, 0, rng=rng) for w in W]) if len(W) else W


def mixup_draw(n: int, alpha: float, *, rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
    """mixup's random part for ``n`` examples: ``(lam, partners)``.

    ``lam_i ~ Beta(alpha, alpha)`` folded to ``max(lam, 1 - lam)`` (each example keeps the larger
    share of itself), float32; ``partners`` a random permutation of ``range(n)``.
    """
    _check(alpha > 0, f"mixup alpha must be > 0, got {alpha!r}")
    rng = _as_rng(rng)
    lam = rng.beta(alpha, alpha, size=n).astype(np.float32)
    return np.maximum(lam, 1 - lam), rng.permutation(n)


def mix_rows(X: np.ndarray, Y: np.ndarray, lam: np.ndarray, partners: np.ndarray, rows: slice | np.ndarray = slice(None),
             *, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Blend ``rows`` of (X, Y, weights) with their partners: ``lam * x_i + (1 - lam) * x_p(i)``.

    Only the rows asked for are computed, so training can blend batch by batch from one draw per
    epoch (:func:`mixup_draw`) without a second copy of the epoch's examples.
    """
    _check(len(X) == len(Y) and Y.ndim == 2, "mixup needs X (n, ...) and targets Y (n, n_classes)")
    lam, p = lam[rows], partners[rows]
    lx = lam.reshape((len(lam),) + (1,) * (X.ndim - 1))
    Xm = lx * X[rows] + (1 - lx) * X[p]
    Ym = lam[:, None] * Y[rows] + (1 - lam[:, None]) * Y[p]
    wm = None if weights is None else lam * weights[rows] + (1 - lam) * weights[p]
    return Xm.astype(np.float32, copy=False), Ym.astype(np.float32, copy=False), wm


def mix_batch(X: np.ndarray, Y: np.ndarray, alpha: float, *, rng: np.random.Generator | int,
              weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """mixup: blend every example with a randomly drawn partner from the same set
    (:func:`mixup_draw`, then :func:`mix_rows` on all rows); targets and sample weights are blended
    with the same ``lam_i``.

    Parameters
    ----------
    X : np.ndarray, shape (n, ...)
        Examples (log-mel windows, embeddings, ...).
    Y : np.ndarray, shape (n, n_classes)
        One-hot (or soft) targets.
    alpha : float
        > 0.
    rng : np.random.Generator or int
    weights : np.ndarray, shape (n,), optional

    Returns
    -------
    (X, Y, weights) : new arrays (weights None when not given)
    """
    lam, partners = mixup_draw(len(X), alpha, rng=rng)
    return mix_rows(X, Y, lam, partners, weights=weights)


# -- preview (the app's Augment page) --------------------------------------------------------------------------


def preview(y: np.ndarray, sr: int, *, time_ratio: float = 1.0, semitones: float = 0.0, noise_snr_db: float | None = None,
            gain_db: float = 0.0, shift_s: float = 0.0, seed: int = 0) -> tuple[np.ndarray, dict, str]:
    """Apply fixed augmentation settings to one clip (the Augment page, the CLI).

    Parameters
    ----------
    y : np.ndarray, float32, shape (n,)
    sr : int
    time_ratio : float
        Output/input duration, 0.5..2.0 (``rubberband -t``).
    semitones : float
        -12..12 (``rubberband -p``).
    noise_snr_db : float, optional
        Gaussian noise at this SNR (-20..60 dB); None adds none.
    gain_db : float
    shift_s : float
    seed : int
        Seeds the noise.

    Returns
    -------
    y_aug : np.ndarray, float32, shape (about round(n * time_ratio),)
    params : dict
        What was applied: time_ratio, semitones, noise_snr_db, gain_db, shift_s, engine,
        seconds_in, seconds_out and the per-transform ``transforms`` list.
    engine : str
        "rubberband" or "librosa".
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ParameterError(f"preview expects non-empty mono audio of shape (n,), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise AudioError("preview got audio with NaN or infinite samples")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer, got {sr!r}")
    ts: list[Transform] = []
    time_ratio, semitones = _number(time_ratio, "time_ratio"), _number(semitones, "semitones")
    _check(0.5 <= time_ratio <= 2.0, f"time_ratio must be within 0.5..2.0, got {time_ratio:g}")
    _check(-12 <= semitones <= 12, f"semitones must be within -12..12, got {semitones:g}")
    stretch = TimeStretch(time_ratio, time_ratio)  # validates 0.5..2.0 even when 1
    shift_pitch = PitchShift(semitones, semitones)
    if time_ratio != 1.0:
        ts.append(stretch)
    if semitones != 0.0:
        ts.append(shift_pitch)
    if noise_snr_db is not None:
        ts.append(AddNoise(noise_snr_db, noise_snr_db))
    if _number(gain_db, "gain_db") != 0.0:
        ts.append(Gain(gain_db, gain_db))
    if _number(shift_s, "shift_s") != 0.0:
        ts.append(Shift(shift_s, shift_s))
    eng = engine()
    chain = Compose(ts)
    out = chain(y, int(sr), rng=np.random.default_rng(seed))
    params = {
        "engine": eng, "time_ratio": time_ratio, "semitones": semitones, "noise_snr_db": noise_snr_db,
        "gain_db": float(gain_db), "shift_s": float(shift_s), "seed": seed,
        "seconds_in": y.size / sr, "seconds_out": out.size / sr,
        "transforms": [{"type": t.name, **p} for t, p in zip(ts, chain.params_["transforms"], strict=True)],
    }
    return out, params, eng


# -- offline copies -------------------------------------------------------------------------------------------------


def is_augmented(clip_or_id: Any) -> bool:
    """True for an augmented copy (its id carries ``#aug``)."""
    cid = getattr(clip_or_id, "id", clip_or_id)
    return AUG_MARK in str(cid)


def original_id(clip_or_id: Any) -> str:
    """The id of the clip an augmented copy was made from (an original's own id)."""
    return str(getattr(clip_or_id, "id", clip_or_id)).split(AUG_MARK, 1)[0]


def leaked(train: Sequence[Any], test: Sequence[Any]) -> list[Any]:
    """Training clips derived from (or sharing a source recording with) a test clip.

    An empty list means the split is clean; training can raise on anything else.
    """
    test_ids = {original_id(c) for c in test}
    test_sources = {(c.label, c.source) for c in test}
    test_folds = {c.fold for c in test if c.fold is not None}
    return [
        c for c in train
        if original_id(c) in test_ids or (c.label, c.source) in test_sources
        or (is_augmented(c) and c.fold is not None and c.fold in test_folds)
    ]


def _cache_key(digest: str, params: dict) -> str:
    blob = json.dumps({"v": _CACHE_VERSION, "clip": digest, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def _render(src: str, chain_spec: dict, params: dict, out: str, meta: dict) -> str:
    """Worker: load ``src``, apply ``params`` with the chain, write the WAV (+ its JSON sidecar)."""
    from soundkit import audio

    y, sr = audio.load(src, sr=None)
    chain = transform_from_dict(chain_spec)
    z = chain.apply(y, sr, params)
    peak = float(np.max(np.abs(z))) if z.size else 0.0
    scale = 1.0
    if peak > 0.999:  # keep the WAV unclipped; the log-mel is relative to the clip's maximum anyway
        scale = 0.999 / peak
        z = z * np.float32(scale)
    if z.size == 0:
        raise AudioError(f"{src}: augmentation produced no samples")
    from soundkit.runs import write_atomic

    out_path = Path(out)
    write_atomic(out_path.with_suffix(".json"), json.dumps({**meta, "params": params, "sr": sr,
                                                                   "seconds": z.size / sr, "scale": scale}, sort_keys=True))
    audio.save_wav(out_path, z, sr)
    return out


def read_params(path: str | os.PathLike) -> dict | None:
    """The recorded parameters of a cached augmented WAV (its JSON sidecar), or None."""
    p = Path(path).with_suffix(".json")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def augment_clips(
    clips: Sequence[Any],
    policy: Policy | dict | None,
    *,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[Any]:
    """Render ``policy.copies`` augmented copies of each clip, cached on disk.

    Parameters
    ----------
    clips : sequence of datasets.Clip
        Training clips only: copies inherit their clip's fold, so pass nothing you test on.
    policy : Policy, dict or None
    cache_dir : folder, optional
        Where copies live, as ``<key[:2]>/<key>.wav`` + ``.json`` (parameters, engine, source);
        default ``config.cache_dir() / "augment"``. ``key`` hashes the clip's content and the
        drawn parameters, so a second run with the same seed renders nothing.
    seed : int
        Parameters of copy k of a clip come from ``(seed, clip content hash, k)``: independent of
        clip order and of the other clips.
    workers : int, optional
        Worker processes; default up to all cores when more than 8 copies need rendering.
    progress : callable(dict), optional
        Receives {"stage": "augment", "done", "total", "message"}.

    Returns
    -------
    list of datasets.Clip
        Only the new copies, in clip order then copy order: same label, fold and source as the
        original, ``path`` the cached WAV, ``id`` = ``f"{original.id}#aug{k}"``.
    """
    from soundkit.features import content_hash

    pol = policy if isinstance(policy, Policy) else Policy.from_dict(policy)
    if pol.copies == 0 or not clips:
        return []
    if cache_dir is None:
        from soundkit.config import cache_dir as _cache_dir

        cache_dir = _cache_dir() / "augment"
    root = Path(cache_dir)
    out: list[Any] = []
    todo: list[tuple[str, dict, dict, str, dict]] = []
    for clip in clips:
        if is_augmented(clip):
            raise DatasetError(f"{clip.id}: is already an augmented copy; augment original clips only")
        chain = pol.compose_for(clip.label)
        if chain is None:
            continue
        try:
            digest = content_hash(Path(clip.path).read_bytes())
        except OSError as exc:
            raise AudioError(f"{clip.path}: cannot be read ({exc.strerror})") from None
        spec = chain.to_dict()
        for k in range(pol.copies):
            rng = np.random.default_rng([int(seed), int(digest[:15], 16), k])
            params = chain.draw(rng)
            key = _cache_key(digest, params)
            path = root / key[:2] / f"{key}.wav"
            if not path.is_file():
                meta = {"source_path": str(clip.path), "source_id": clip.id, "label": clip.label, "clip_hash": digest,
                        "copy": k, "seed": seed, "policy": pol.name, "chain": spec}
                todo.append((str(clip.path), spec, params, str(path), meta))
            out.append(replace(clip, path=path, id=f"{clip.id}{AUG_MARK}{k}"))
    total = len(out)
    done = total - len(todo)

    def report(message: str = "") -> None:
        if progress:
            progress({"stage": "augment", "done": done, "total": total, "message": message})

    if todo:
        log.info("augmenting %d copies (engine: %s)", len(todo), pol.engine or "none needed")
    report(f"{done} cached, {len(todo)} to render")
    n_workers = workers if workers is not None else (min(os.cpu_count() or 1, 8) if len(todo) > 8 else 1)
    if n_workers <= 1 or len(todo) <= 1:
        for task in todo:
            _render(*task)
            done += 1
            report()
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        ctx = mp.get_context("spawn")  # never fork a process that may hold TensorFlow threads
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
            futures = [pool.submit(_render, *task) for task in todo]
            try:
                for fut in as_completed(futures):
                    fut.result()
                    done += 1
                    report()
            except BrokenProcessPool:
                raise SoundkitError(f"an augmentation worker process died after {done} of {total} copies "
                                    "(out of memory?); finished copies stay cached, run again or use fewer workers") from None
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    return out


# -- augmentation study ------------------------------------------------------------------------------------------

STUDY_METHOD = (
    "Each augmentation set is cross-validated on the same folds (copies of training clips only). "
    "Class-conditional policy, evaluated without test-fold information: for each test fold f, every class "
    "gets the set with the best pooled accuracy for that class on the other folds' test results (fold f's "
    "labels and predictions are never used for f's choice; ties go to the earlier set in --sets), then a "
    "model is trained on the training folds with that per-class policy and tested on fold f. The policy "
    "saved for later training picks per class on all folds."
)
STUDY_METHOD_NESTED = (
    "Each augmentation set is cross-validated on the same folds (copies of training clips only). "
    "Class-conditional policy, nested: for each test fold f, every set is cross-validated again inside the "
    "other folds alone (fold f's clips are in no model that informs f's choice), every class gets the set "
    "with the best pooled accuracy there (ties go to the earlier set in --sets), then a model is trained on "
    "the training folds with that per-class policy and tested on fold f. The policy saved for later training "
    "picks per class on all folds."
)


def _counts(reports: dict[int, Any], labels: Sequence[str]) -> dict[int, dict[str, tuple[int, int]]]:
    """{fold: {label: (correct, support)}} from evaluation Reports."""
    out: dict[int, dict[str, tuple[int, int]]] = {}
    for f, r in reports.items():
        out[f] = {}
        for label in labels:
            n = int(r.support.get(label, 0))
            out[f][label] = (int(round(r.per_class_accuracy.get(label, 0.0) * n)), n)
    return out


def _pooled(counts: dict[int, dict[str, tuple[int, int]]], label: str, folds: Iterable[int]) -> float | None:
    c = sum(counts[f][label][0] for f in folds)
    n = sum(counts[f][label][1] for f in folds)
    return c / n if n else None


def _choose(per_set: dict[str, dict], label: str, folds: Sequence[int]) -> str:
    best, best_acc = next(iter(per_set)), -1.0
    for name, counts in per_set.items():
        acc = _pooled(counts, label, folds)
        if acc is not None and acc > best_acc + 1e-12:
            best, best_acc = name, acc
    return best


def _summary(reports: dict[int, Any], labels: Sequence[str], seconds: float) -> tuple[dict, dict]:
    counts = _counts(reports, labels)
    accs = {f: float(r.accuracy) for f, r in reports.items()}
    vals = np.array(list(accs.values()))
    return counts, {
        "mean_accuracy": float(vals.mean()),
        "std_accuracy": float(vals.std()),
        "fold_accuracy": {str(f): a for f, a in accs.items()},
        "per_class_accuracy": {label: _pooled(counts, label, reports) for label in labels},
        "fold_per_class_accuracy": {str(f): {label: _pooled(counts, label, [f]) for label in labels} for f in reports},
        "seconds": round(seconds, 2),
    }


def study(
    dataset: Any,
    *,
    sets: Sequence[str] = ("none", "stretch", "pitch", "stretch+pitch"),
    copies: int = 2,
    features: Any = None,
    config: Any = None,
    folds: Sequence[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    conditional: bool = True,
    nested: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Cross-validate each augmentation set and derive a class-conditional policy.

    Parameters
    ----------
    dataset : datasets.Dataset
    sets : sequence of str
        Set names (see :data:`SETS`; "a+b" combines); "none" is the baseline.
    copies : int
        Augmented copies per training clip for every set.
    features : FeatureConfig, optional
    config : TrainConfig, optional
        Its ``augment`` is replaced by each set's policy.
    folds : sequence of int, optional
        Test folds (default all). The class-conditional evaluation needs at least two.
    cache_dir : path, optional
        Cache root (features and augmented copies are shared by all sets).
    conditional : bool
        Also train and test the class-conditional policy fold by fold.
    nested : bool
        Choose fold f's per-class sets by cross-validating every set inside the other folds (no
        model that informs the choice has seen fold f; about ``len(folds) - 1`` times the cost of
        the study). Default: choose from the other folds' results of the main cross-validation,
        whose models had fold f in their training data.
    progress : callable(dict), optional
        Training's progress events, with "set" added.

    Returns
    -------
    dict
        {"engine", "method", "labels", "folds", "copies", "sets": {set: {"mean_accuracy",
        "std_accuracy", "fold_accuracy", "per_class_accuracy", "fold_per_class_accuracy", "seconds"}},
        "class_conditional":
        {"choices": {fold: {label: set}}, "mean_accuracy", "std_accuracy", "fold_accuracy",
        "per_class_accuracy", "fold_per_class_accuracy", "policy"} or None, "policy" (the
        class-conditional policy chosen on all folds, to train with), "table": [{"label", <set>: acc, ...,
        "class_conditional", "chosen"}]}; per-class accuracies are pooled over the test folds.
    """
    import time

    from soundkit import training
    from soundkit.config import FeatureConfig, TrainConfig

    features = features if features is not None else FeatureConfig()
    config = config if config is not None else TrainConfig()
    names = [s.strip() for s in sets]
    _check(len(names) >= 1 and len(set(names)) == len(names), f"sets must be distinct names, got {', '.join(names)}")
    for name in names:
        _set_specs(name)
    _check(isinstance(copies, int) and 1 <= copies <= 32, f"copies must be within 1..32, got {copies!r}")
    dataset = dataset.with_folds(seed=config.seed)
    folds = list(dataset.folds if folds is None else folds)
    labels = dataset.labels
    _check(not (nested and conditional and len(dataset.folds) < 3),
           f"a nested class-conditional choice needs at least 3 folds; this dataset has {len(dataset.folds)}")
    eng = next((e for n in names if (e := Policy(transforms=n).engine) is not None), None)

    def relay(tag: str) -> Progress | None:
        if progress is None:
            return None
        return lambda event: progress({**event, "set": tag})

    def policy_for(name: str) -> dict | None:
        return None if name == "none" else Policy(name=name, copies=copies, transforms=name).to_dict()

    per_set_counts: dict[str, dict] = {}
    results: dict[str, dict] = {}
    for name in names:
        t0 = time.monotonic()
        cv = training.cross_validate(dataset, features=features, config=config.replace(augment=policy_for(name)),
                                     folds=folds, cache_dir=cache_dir, progress=relay(name))
        per_set_counts[name], results[name] = _summary(cv.reports, labels, time.monotonic() - t0)
        log.info("augment study: %s mean accuracy %.3f", name, results[name]["mean_accuracy"])

    final = Policy(name="class-conditional", copies=copies, transforms="none",
                   per_class={label: _choose(per_set_counts, label, folds) for label in labels})
    cond: dict[str, Any] | None = None
    if conditional and len(folds) >= 2:
        t0 = time.monotonic()
        choices: dict[int, dict[str, str]] = {}
        reports: dict[int, Any] = {}
        for f in folds:
            others = [g for g in folds if g != f]
            evidence = per_set_counts
            if nested:
                inner = type(dataset)(dataset.root, [c for c in dataset.clips if c.fold != f], dataset.layout,
                                      dataset.official_folds, dict(dataset.meta))
                evidence = {}
                for name in names:
                    cv = training.cross_validate(inner, features=features, config=config.replace(augment=policy_for(name)),
                                                 folds=others, cache_dir=cache_dir, progress=relay(f"{name}, without fold {f}"))
                    evidence[name] = _counts(cv.reports, labels)
            choices[f] = {label: _choose(evidence, label, others) for label in labels}
            pol = Policy(name="class-conditional", copies=copies, transforms="none", per_class=choices[f])
            cv = training.cross_validate(dataset, features=features, config=config.replace(augment=pol.to_dict()),
                                         folds=[f], cache_dir=cache_dir, progress=relay("class-conditional"))
            reports[f] = cv.reports[f]
        _, summary = _summary(reports, labels, time.monotonic() - t0)
        cond = {"choices": {str(f): c for f, c in choices.items()}, **summary}
    elif conditional:
        log.warning("augment study: the class-conditional policy needs at least 2 folds to be evaluated")
    table = []
    for label in labels:
        row: dict[str, Any] = {"label": label}
        row.update({name: results[name]["per_class_accuracy"][label] for name in names})
        if cond is not None:
            row["class_conditional"] = cond["per_class_accuracy"][label]
        row["chosen"] = final.per_class[label]  # type: ignore[index]
        table.append(row)
    return {
        "engine": eng,
        "method": STUDY_METHOD_NESTED if nested else STUDY_METHOD,
        "nested": bool(nested),
        "dataset": str(dataset.root),
        "labels": labels,
        "folds": folds,
        "copies": copies,
        "model": config.model,
        "epochs": config.epochs,
        "sets": results,
        "class_conditional": None if cond is None else {**cond, "policy": final.to_dict()},
        "policy": final.to_dict(),
        "table": table,
    }


def save_study(result: dict, out: str | os.PathLike) -> Path:
    """Write ``study.json`` and the derived ``policy.json`` (usable as ``--augment FILE``) into ``out``."""
    from soundkit.runs import write_atomic

    out = Path(out)
    write_atomic(out / "policy.json", json.dumps(result["policy"], indent=2) + "\n")
    write_atomic(out / "study.json", json.dumps(result, indent=2) + "\n")
    return out


# -- command line (registered in soundkit.cli.COMMANDS) --------------------------------------------------------


def add_augment_args(p: Any) -> None:
    """Arguments of ``python -m soundkit augment FILE --time-ratio R --semitones S --out OUT.wav``."""
    p.add_argument("file", metavar="FILE", help="input audio file")
    p.add_argument("--time-ratio", type=float, default=1.0, metavar="R",
                   help="output/input duration, 0.5..2.0, as rubberband -t (1.5: 50%% longer)")
    p.add_argument("--semitones", type=float, default=0.0, metavar="S", help="pitch shift, -12..12, as rubberband -p")
    p.add_argument("--noise-snr", type=float, default=None, metavar="DB", help="add Gaussian noise at this SNR (dB)")
    p.add_argument("--gain-db", type=float, default=0.0, help="gain in dB")
    p.add_argument("--shift-s", type=float, default=0.0, help="time shift in seconds (rolled over)")
    p.add_argument("--seed", type=int, default=0, help="seed for the noise")
    p.add_argument("--out", required=True, metavar="OUT.wav", help="output WAV file (written atomically)")
    p.add_argument("--json", action="store_true", help='print {"engine", "seconds_in", "seconds_out", ...}')


def run_augment(args: Any) -> tuple[dict, str]:
    """Do ``augment``; returns (JSON result, one-line summary)."""
    from soundkit import audio

    out = Path(args.out)
    if out.suffix.lower() != ".wav":
        raise ParameterError(f"--out must name a .wav file, got {out}")
    y, sr = audio.load(args.file, sr=None)
    z, params, eng = preview(y, sr, time_ratio=args.time_ratio, semitones=args.semitones, noise_snr_db=args.noise_snr,
                             gain_db=args.gain_db, shift_s=args.shift_s, seed=args.seed)
    peak = float(np.max(np.abs(z))) if z.size else 0.0
    if peak > 0.999:  # rescale rather than clip
        z = z * np.float32(0.999 / peak)
        params["rescaled_from_peak"] = round(peak, 4)
    audio.save_wav(out, z, sr)
    result = {"engine": eng, "seconds_in": params.pop("seconds_in"), "seconds_out": params.pop("seconds_out"),
              "sr": sr, "file": str(args.file), "out": str(out), **{k: v for k, v in params.items() if k != "engine"}}
    text = (f"{out}: {result['seconds_in']:.2f} s -> {result['seconds_out']:.2f} s, time ratio {args.time_ratio:g}, "
            f"{args.semitones:+g} semitones ({eng})")
    return result, text


def add_study_args(p: Any) -> None:
    """Arguments of ``python -m soundkit augment-study DATASET --sets none,stretch,pitch,stretch+pitch``."""
    from soundkit.config import MODEL_FAMILIES, TrainConfig

    p.add_argument("dataset", metavar="DATASET", help="dataset directory")
    p.add_argument("--sets", default="none,stretch,pitch,stretch+pitch",
                   help="comma-separated augmentation sets; '+' combines (%(default)s)")
    p.add_argument("--copies", type=int, default=2, help="augmented copies per training clip (default 2)")
    p.add_argument("--model", default="cnn", choices=MODEL_FAMILIES, help="model family (default: cnn)")
    p.add_argument("--epochs", type=int, default=None, help=f"most epochs per fold (default {TrainConfig().epochs})")
    p.add_argument("--batch-size", type=int, default=None, help=f"batch size (default {TrainConfig().batch_size})")
    p.add_argument("--folds", default=None, metavar="1,2,...", help="test folds to run (default all)")
    p.add_argument("--labels", default=None, metavar="a,b,c", help="use these labels only")
    p.add_argument("--limit-per-class", type=int, default=None, metavar="N", help="at most N clips per label")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--no-conditional", action="store_true", help="do not train/test the class-conditional policy")
    p.add_argument("--nested", action="store_true",
                   help="choose each test fold's per-class sets by cross-validation inside the other folds "
                        "(no model behind the choice saw the test fold; about (folds - 1) times the cost)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where study.json and policy.json go (default $SOUNDKIT_HOME/runs/augment-study-<time>)")
    p.add_argument("--json", action="store_true", help="print the study as JSON")


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def run_study(args: Any, *, progress: Progress | None = None) -> tuple[dict, str]:
    """Do ``augment-study``; returns (JSON result, a per-class table as text)."""
    from datetime import UTC, datetime

    from soundkit import datasets
    from soundkit.config import TrainConfig, cache_dir, runs_dir

    ds = datasets.load(args.dataset)
    if args.labels or args.limit_per_class:
        ds = ds.select(_csv(args.labels), limit_per_class=args.limit_per_class)
    changes: dict[str, Any] = {"model": args.model, "seed": args.seed}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    folds = None
    if args.folds:
        try:
            folds = [int(f) for f in _csv(args.folds) or []]
        except ValueError:
            raise ParameterError(f"--folds must be comma-separated integers, got {args.folds!r}") from None
    result = study(ds, sets=_csv(args.sets) or [], copies=args.copies, config=TrainConfig(**changes), folds=folds,
                   cache_dir=cache_dir(), conditional=not args.no_conditional, nested=args.nested, progress=progress)
    out = Path(args.out) if args.out else runs_dir() / f"augment-study-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    save_study(result, out)
    result["out"] = str(out)
    return result, study_text(result)


def study_text(result: dict) -> str:
    """The study's per-class accuracy table as plain text."""
    cols = [*result["sets"], *(["class_conditional"] if result.get("class_conditional") else [])]
    width = max(len(r["label"]) for r in result["table"])
    head = f"{'label':<{width}}  " + "  ".join(f"{c:>13}" for c in cols) + "  chosen"

    def cell(v: float | None) -> str:
        return f"{v:>13.1%}" if v is not None else f"{'-':>13}"

    lines = [head] + [f"{r['label']:<{width}}  " + "  ".join(cell(r.get(c)) for c in cols) + f"  {r['chosen']}"
                      for r in result["table"]]
    means = {c: (result["sets"][c] if c in result["sets"] else result["class_conditional"])["mean_accuracy"] for c in cols}
    lines.append(f"{'mean':<{width}}  " + "  ".join(cell(means[c]) for c in cols))
    lines.append(f"engine: {result['engine']}; written to {result.get('out', '-')}")
    return "\n".join(lines)
