"""Frozen configuration dataclasses with a JSON round trip.

One :class:`FeatureConfig` is saved inside every run directory and read back by the predictor, so
training and inference compute exactly the same features.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from soundkit.errors import ParameterError

__all__ = ["FeatureConfig", "TrainConfig", "RunConfig", "MODEL_FAMILIES"]

MODEL_FAMILIES = ("cnn", "crnn", "inception", "yamnet")

T = TypeVar("T", bound="_JsonConfig")


class _JsonConfig:
    """JSON round trip shared by the config dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        if not isinstance(data, dict):
            raise ParameterError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ParameterError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                _check_type(cls.__name__, f.name, data[f.name], str(f.type))
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:  # a check the type test above did not foresee
            if isinstance(exc, ParameterError):
                raise
            raise ParameterError(f"invalid {cls.__name__}: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"invalid {cls.__name__} JSON: {exc.msg}") from None
        return cls.from_dict(data)

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "None": (type(None),),
    "dict": (dict,), "list": (list,),
}  # fmt: skip


def _check_type(owner: str, name: str, value: Any, annotation: str) -> None:
    """ParameterError unless ``value`` fits the field's annotation (JSON types: int, float, bool,
    str, None, dict, list; "float" takes ints; bools are not numbers)."""
    allowed: tuple[type, ...] = ()
    for part in annotation.split("|"):
        base = part.strip().split("[")[0]
        if base == "Any":
            return
        allowed += _TYPES.get(base, ())
    if not allowed:
        return
    if isinstance(value, bool) and bool not in allowed:
        ok = False
    else:
        ok = isinstance(value, allowed)
    if not ok:
        kinds = " or ".join(part.strip().split("[")[0] for part in annotation.split("|"))
        raise ParameterError(f"{owner} field {name} must be {kinds}, got {type(value).__name__} {value!r:.40}")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ParameterError(message)


@dataclass(frozen=True)
class FeatureConfig(_JsonConfig):
    """How a clip becomes log-mel windows (the recipe's defaults).

    128 mel bands over 0-22050 Hz from a 1024-sample window and hop at 44.1 kHz; 128 frames (about
    2.97 s) make one 128x128 window. ``window_hop`` is the step between windows in frames.
    """

    sr: int = 44100
    n_fft: int = 1024
    hop_length: int = 1024
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 22050.0
    top_db: float = 80.0
    frames: int = 128
    window_hop: int = 64

    def __post_init__(self) -> None:
        _check(8000 <= self.sr <= 192000, f"sr must be within 8000..192000 Hz, got {self.sr}")
        _check(self.n_fft >= 64 and self.n_fft <= 16384, f"n_fft must be within 64..16384, got {self.n_fft}")
        _check(1 <= self.hop_length <= self.n_fft * 4, f"hop_length must be within 1..4*n_fft, got {self.hop_length}")
        _check(8 <= self.n_mels <= 512, f"n_mels must be within 8..512, got {self.n_mels}")
        _check(0 <= self.fmin < self.fmax, f"fmin must be >= 0 and below fmax, got fmin={self.fmin}, fmax={self.fmax}")
        _check(self.fmax <= self.sr / 2, f"fmax must be at most sr/2 = {self.sr / 2:g} Hz, got {self.fmax}")
        _check(self.top_db > 0, f"top_db must be positive, got {self.top_db}")
        _check(8 <= self.frames <= 4096, f"frames must be within 8..4096, got {self.frames}")
        _check(1 <= self.window_hop <= self.frames, f"window_hop must be within 1..frames, got {self.window_hop}")

    @property
    def window_seconds(self) -> float:
        """Duration of one window in seconds (about 2.97 s by default)."""
        return self.frames * self.hop_length / self.sr

    @property
    def key(self) -> str:
        """A short stable hash of the parameters that change the log-mel (for caches)."""
        import hashlib

        d = self.to_dict()
        for name in ("frames", "window_hop"):  # windowing does not change the cached log-mel
            d.pop(name)
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class TrainConfig(_JsonConfig):
    """How a model is trained. ``augment`` is a policy as a dict (see soundkit.augment).

    The defaults are the CNN settings measured on ESC-10 (official 5-fold CV; BENCHMARKS.md):
    batches of 16, 50 epochs of a cosine learning-rate schedule that runs to its end (``patience`` =
    ``epochs``) and keeps the last epoch's weights. With ``patience`` < ``epochs`` training may stop
    early and keeps the weights of the epoch with the lowest validation loss
    (``options["restore_best"]`` overrides either way).
    """

    model: str = "cnn"
    epochs: int = 50
    batch_size: int = 16
    learning_rate: float = 1e-3
    patience: int = 50
    validation_fraction: float = 0.15
    dropout: float = 0.5
    l1: float = 1e-6
    l2: float = 1e-4
    seed: int = 0
    test_fold: int | None = None
    class_weights: bool = True
    augment: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.model in MODEL_FAMILIES, f"unknown model {self.model!r}; choose one of {', '.join(MODEL_FAMILIES)}")
        _check(1 <= self.epochs <= 10000, f"epochs must be within 1..10000, got {self.epochs}")
        _check(1 <= self.batch_size <= 4096, f"batch_size must be within 1..4096, got {self.batch_size}")
        _check(0 < self.learning_rate < 1, f"learning_rate must be within (0, 1), got {self.learning_rate}")
        _check(self.patience >= 1, f"patience must be >= 1, got {self.patience}")
        _check(0 <= self.validation_fraction < 0.5, f"validation_fraction must be within [0, 0.5), got {self.validation_fraction}")
        _check(0 <= self.dropout < 1, f"dropout must be within [0, 1), got {self.dropout}")
        _check(self.l1 >= 0 and self.l2 >= 0, f"l1 and l2 must be >= 0, got l1={self.l1}, l2={self.l2}")
        _check(self.test_fold is None or self.test_fold >= 1, f"test_fold must be >= 1, got {self.test_fold}")


@dataclass(frozen=True)
class RunConfig(_JsonConfig):
    """What a run directory's config.json holds."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        if not isinstance(data, dict):
            raise ParameterError("config.json must hold a JSON object")
        return cls(
            features=FeatureConfig.from_dict(data.get("features", {})),
            train=TrainConfig.from_dict(data.get("train", {})),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read a config.json; ParameterError when it is unreadable or not a valid configuration."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ParameterError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        return cls.from_json(text)


def home(*, environ: Any = None) -> Path:
    """The data directory: $SOUNDKIT_HOME, else ./soundkit_data in the working directory.

    It holds the label store (soundkit.sqlite + audio/), runs/, and cache/. ``environ`` replaces
    os.environ (the app's hosted settings read theirs from one mapping).
    """
    import os

    env = os.environ if environ is None else environ
    return Path(env.get("SOUNDKIT_HOME") or "soundkit_data").expanduser()


def runs_dir() -> Path:
    return home() / "runs"


def cache_dir() -> Path:
    return home() / "cache"
