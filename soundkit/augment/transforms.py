"""Transforms sharing one call protocol: waveform transforms, spectrogram masks, Compose, and the
Augment page's fixed-settings preview."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from soundkit.augment.engines import ENGINES, _resolve_engine, _stretch_shift, engine
from soundkit.errors import AudioError, ParameterError

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
        (noise RMS = clip RMS / 10^(SNR/20)); a silent clip is left unchanged.
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
        n *= clean_rms / 10.0 ** (snr_db / 20.0) / _rms(n)  # the noise RMS that gives snr_db
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
    """Shift in time by a number of seconds (within -10..10), as audiomentations' Shift does.

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
        n = round(shift_s * sr)
        if n == 0:
            return y
        return _shift(np.asarray(y, dtype=np.float32), n, rollover=self.rollover, fade=int(sr * SHIFT_FADE_S))


#: Length of the cross-fade at a shift's stitch (audiomentations' default fade_duration).
SHIFT_FADE_S = 0.005


def _shift(y: np.ndarray, n: int, *, rollover: bool, fade: int) -> np.ndarray:
    """``y`` (..., t) moved ``n`` samples later (earlier if negative), faded over ``fade`` samples.

    Samples pushed past one end come back at the other with ``rollover``, else the gap is silent.
    The new start of the signal fades in and, with rollover, its old end fades out (at the stitch).
    """
    z = np.roll(y, n, axis=-1)
    t = z.shape[-1]
    if not rollover:
        if n > 0:
            z[..., :n] = 0.0
        else:
            z[..., n:] = 0.0
    if fade <= 0:
        return z
    fade_in, fade_out = _crossfade(fade)
    # The stitch: where the signal's first sample landed (n > 0) or where its last one ended (n < 0).
    start = n % t if rollover else min(max(n if n > 0 else t + n, 0), t)
    lo, hi = start, min(start + fade, t)  # fade in after the stitch
    if n > 0 or rollover:
        z[..., lo:hi] *= fade_in[: hi - lo]
    lo = max(start - fade, 0)  # fade out before the stitch
    if n < 0 or rollover:
        z[..., lo:start] *= fade_out[fade - (start - lo):]
    return z


def _crossfade(n: int) -> tuple[np.ndarray, np.ndarray]:
    """An equal-energy (within about 1%) fade-in / fade-out pair of ``n`` samples with smooth ends
    (Signalsmith's cheap energy-preserving cross-fade, as audiomentations uses)."""
    x = np.linspace(0.0, 1.0, n, dtype=np.float32)
    a = x * (1 - x)
    b = a * (1 + 1.4186 * a)
    return (b + x) ** 2, (b + 1 - x) ** 2


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


