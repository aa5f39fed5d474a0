"""Serving a trained run: clip in, top-k labels and a per-window timeline out.

:meth:`Predictor.load` reads a run directory (``config.json`` for the FeatureConfig the model was
trained with, ``labels.json`` for the output order, and the model). With ``model.tflite`` present the
model runs through LiteRT (``ai_edge_litert``) and TensorFlow is never imported; otherwise
``model.keras`` is loaded with Keras (imported lazily, on first use).

A clip is cut into the same log-mel windows training used (:func:`soundkit.features.clip_log_mel`
and :func:`soundkit.features.windows` with the run's FeatureConfig); all windows go through the model
in one call, and the clip's probabilities are the mean over its windows that hold sound (the pooling
training's evaluation uses, so served and reported accuracy agree). Families whose input is not a
log-mel window (``KIND != "logmel"``, e.g. YAMNet embeddings) supply their own ``clip_inputs`` hook.

The interface holds only NumPy arrays, floats and strings: no TensorFlow types.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundkit.config import FeatureConfig, RunConfig
from soundkit.errors import AudioError, ModelError, ParameterError, SoundkitError

__all__ = ["Segment", "Prediction", "Predictor", "LiteRTModel", "predict_files"]

log = logging.getLogger(__name__)

#: Most windows sent through the model at once (bounds memory for clips of several minutes).
MAX_BATCH = 64


@dataclass(frozen=True)
class Segment:
    """One window of the timeline: seconds from the clip's start, its top label and probability."""

    start: float
    end: float
    label: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    """What :meth:`Predictor.predict` returns.

    Attributes
    ----------
    top : list of (label, probability)
        The ``top_k`` most probable labels, most probable first.
    probabilities : np.ndarray, float32, shape (n_classes,)
        Clip probabilities in the run's label order: the mean over the windows that hold sound
        (:func:`soundkit.evaluation.pool_windows`, exactly as training evaluates a clip).
    timeline : list of Segment
        One entry per window, in time order.
    window_probabilities : np.ndarray, float32, shape (n_windows, n_classes)
    labels : list of str
        The run's labels (the order of the probability columns).
    unknown : bool
        The run's open-set check (:mod:`soundkit.openset`) says the clip is none of its classes.
    unknown_score : float or None
        The open-set score (higher: more like a known class); None without a calibration.
    """

    top: list[tuple[str, float]]
    probabilities: np.ndarray
    timeline: list[Segment]
    window_probabilities: np.ndarray
    labels: list[str] = field(default_factory=list)
    unknown: bool = False
    unknown_score: float | None = None
    #: Which windows hold any sound (False: silence or padding), shape (n_windows,); None: all do.
    window_sounding: np.ndarray | None = None

    @property
    def label(self) -> str:
        """The most probable label, or "unknown" when the open-set check rejected the clip."""
        return "unknown" if self.unknown else self.top[0][0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {"label", "top": [{"label", "probability"}], "probabilities" {label: p},
        "timeline": [{"start", "end", "label", "probability"}]}, plus "unknown" and "unknown_score"
        when an open-set check was applied."""
        return {
            "label": self.label,
            **({"unknown": self.unknown, "unknown_score": round(self.unknown_score, 6)} if self.unknown_score is not None else {}),
            "top": [{"label": lab, "probability": round(float(p), 6)} for lab, p in self.top],
            "probabilities": {lab: round(float(p), 6) for lab, p in zip(self.labels, self.probabilities, strict=True)},
            "timeline": [
                {"start": round(s.start, 4), "end": round(s.end, 4), "label": s.label,
                 "probability": round(s.probability, 6)}
                for s in self.timeline
            ],
        }


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence native code writing to file descriptor 2 for a moment (LiteRT announces its XNNPACK
    delegate with an INFO line that no TF_CPP_MIN_LOG_LEVEL setting reaches)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LiteRTModel:
    """A ``.tflite`` classifier run with ``ai_edge_litert`` (no TensorFlow).

    Calling it with a batch ``X`` of shape (n, *input_shape) returns probabilities of shape
    (n, n_classes) from a single interpreter call (chunks of :data:`MAX_BATCH` for longer batches);
    the input tensor is resized only when the batch size changes. Calls are serialised with a lock, so one instance can serve several threads.
    """

    def __init__(self, path: str | os.PathLike, *, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        threads = num_threads or min(4, os.cpu_count() or 1)
        try:
            with _quiet_native_stderr():
                self._it = Interpreter(model_path=str(self.path), num_threads=threads)
                self._it.allocate_tensors()
        except Exception as exc:  # noqa: BLE001 - a damaged file is the run's problem
            raise ModelError(f"{self.path}: cannot be loaded as a LiteRT model ({exc})") from None
        inputs, outputs = self._it.get_input_details(), self._it.get_output_details()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(f"{self.path}: expected one input tensor, found {len(inputs)}")
        self._in = inputs[0]
        self._out_index = outputs[0]["index"]
        sig = self._in.get("shape_signature", self._in["shape"])
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in self._in["shape"][1:])
        self._dynamic_batch = int(sig[0]) == -1
        self._batch = int(self._in["shape"][0])
        self._lock = threading.Lock()

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if tuple(X.shape[1:]) != self.input_shape:
            raise ModelError(f"{self.path}: expects inputs of shape (n, {', '.join(map(str, self.input_shape))}), got {X.shape}")
        with self._lock:
            if not self._dynamic_batch and len(X) != self._batch:
                # A model exported with a fixed batch size: one call per window.
                return np.concatenate([self._run(X[i : i + 1]) for i in range(len(X))])
            if len(X) <= MAX_BATCH:
                return self._run(X)
            # A long clip: chunks of MAX_BATCH windows (the last one padded) bound the memory
            # and keep one tensor allocation.
            out = []
            for i in range(0, len(X), MAX_BATCH):
                chunk = X[i : i + MAX_BATCH]
                n = len(chunk)
                if n < MAX_BATCH:
                    chunk = np.concatenate([chunk, np.repeat(chunk[-1:], MAX_BATCH - n, axis=0)])
                out.append(self._run(chunk)[:n])
            return np.concatenate(out)

    def _run(self, X: np.ndarray) -> np.ndarray:
        if len(X) != self._batch:
            self._it.resize_tensor_input(self._in["index"], list(X.shape), strict=False)
            self._it.allocate_tensors()
            self._batch = len(X)
        self._it.set_tensor(self._in["index"], X)
        self._it.invoke()
        return np.array(self._it.get_tensor(self._out_index), dtype=np.float32)


class _KerasModel:
    """model.keras behind the same call protocol as :class:`LiteRTModel` (loaded through
    :func:`soundkit.models.load_model`, which imports Keras)."""

    def __init__(self, path: Path) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from soundkit.models import load_model  # the one place that deserialises .keras files

        self._model = load_model(path)
        self.path = path
        self.input_shape = tuple(int(d) for d in self._model.input_shape[1:])
        self._lock = threading.Lock()

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        with self._lock:
            return np.concatenate([np.asarray(self._model(X[i : i + MAX_BATCH], training=False), dtype=np.float32)
                                   for i in range(0, len(X), MAX_BATCH)])


def _family(name: str) -> Any | None:
    """The model family module (cheap to import: Keras only inside its functions), or None."""
    try:
        from soundkit import models
    except ImportError:
        return None
    getter = getattr(models, "family", None)
    if getter is None:
        return None
    try:
        return getter(name)
    except SoundkitError:
        return None


class Predictor:
    """A run directory ready to classify clips. Build with :meth:`load`.

    Attributes
    ----------
    run_dir : Path
    labels : list of str
        Output order of the model.
    features : FeatureConfig
        The run's feature recipe (also the sample rate clips are resampled to).
    family : str
        Model family name ("cnn", "inception", "yamnet").
    kind : str
        "logmel" or the family's own input kind.
    backend : str
        "litert" or "keras".
    """

    def __init__(self, run_dir: Path, *, labels: list[str], features: FeatureConfig, family: str, kind: str,
                 backend: str, model: Callable[[np.ndarray], np.ndarray], family_module: Any | None = None) -> None:
        self.run_dir = run_dir
        self.labels = labels
        self.features = features
        self.family = family
        self.kind = kind
        self.backend = backend
        self._model = model
        self._family_module = family_module
        #: soundkit.openset.OpenSet or None: the calibrated "unknown" check predict() applies
        self.open_set: Any = None

    @classmethod
    def load(cls, run_dir: str | os.PathLike, *, backend: str | None = None, open_set: Any = "auto") -> Predictor:
        """Read a run directory.

        Parameters
        ----------
        run_dir : path
        backend : {"litert", "keras"}, optional
            Force a backend; default LiteRT when ``model.tflite`` exists, else Keras.
        open_set : "auto", "off" or soundkit.openset.OpenSet
            The "unknown" check: the run's calibration (``calibration.json``) when it has one, none,
            or the one given.

        Raises
        ------
        ModelError
            Not a run directory, a missing or damaged file, labels that do not match the model.
        """
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ModelError(f"{run_dir}: no such run directory")
        if backend not in (None, "litert", "keras"):
            raise ParameterError(f"backend must be 'litert' or 'keras', got {backend!r}")
        cfg_path, labels_path = run_dir / "config.json", run_dir / "labels.json"
        for p in (cfg_path, labels_path):
            if not p.is_file():
                raise ModelError(f"{run_dir}: not a run directory (no {p.name})")
        try:
            config = RunConfig.load(cfg_path)
        except (OSError, ValueError, TypeError, SoundkitError) as exc:
            raise ModelError(f"{cfg_path}: unreadable run configuration ({exc})") from None
        try:
            labels = json.loads(labels_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise ModelError(f"{labels_path}: unreadable ({exc})") from None
        if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
            raise ModelError(f"{labels_path}: must hold a non-empty JSON list of label strings")

        tflite, keras_file = run_dir / "model.tflite", run_dir / "model.keras"
        if backend is None:
            backend = "litert" if tflite.is_file() else "keras"
        path = tflite if backend == "litert" else keras_file
        if not path.is_file():
            raise ModelError(f"{run_dir}: no {path.name} (has training finished?)")
        model: Any = LiteRTModel(path) if backend == "litert" else _KerasModel(path)

        family_name = config.train.model
        fam = _family(family_name)
        kind = getattr(fam, "KIND", "logmel")
        if kind == "logmel":
            fc = config.features
            expected = (fc.n_mels, fc.frames, 1)
            if tuple(model.input_shape) != expected:
                raise ModelError(
                    f"{path}: model input {tuple(model.input_shape)} does not match the run's features {expected}"
                )
        elif fam is None or not hasattr(fam, "clip_inputs"):
            raise ModelError(f"{run_dir}: model family {family_name!r} of kind {kind!r} has no clip_inputs hook")
        predictor = cls(run_dir, labels=list(labels), features=config.features, family=family_name, kind=kind,
                        backend=backend, model=model, family_module=fam)
        # One forward pass checks that the output size matches labels.json.
        n_out = predictor._n_outputs()
        if n_out != len(labels):
            raise ModelError(f"{run_dir}: the model has {n_out} outputs but labels.json lists {len(labels)} labels")
        if open_set == "auto":
            from soundkit.openset import OpenSet

            predictor.open_set = OpenSet.load(run_dir)
        elif open_set != "off":
            predictor.open_set = open_set
        log.info("loaded %s (%s, %s backend, %d labels)", run_dir, family_name, backend, len(labels))
        return predictor

    def _n_outputs(self) -> int:
        fill = -self.features.top_db if self.kind == "logmel" else 0.0
        return int(self._model(np.full((1, *self._model.input_shape), fill, np.float32)).shape[-1])

    @property
    def sample_rate(self) -> int:
        """The rate to load audio at for this run (its features' rate; the family's own rate for
        families with a fixed frontend, such as YAMNet's 16 kHz), so nothing is resampled twice."""
        if self.kind == "logmel":
            return self.features.sr
        return int(getattr(self._family_module, "SAMPLE_RATE", self.features.sr))

    # -- inference ---------------------------------------------------------------------------

    def inputs(self, y: np.ndarray, sr: int, *, allow_silent: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model inputs of a clip.

        Parameters
        ----------
        y : np.ndarray, shape (n,)
        sr : int

        Returns
        -------
        X : np.ndarray, float32, shape (n_windows, *input_shape)
        starts, ends : np.ndarray, float64, shape (n_windows,)
            Window bounds in seconds from the clip's start.
        """
        y = self._check(y, sr, allow_silent=allow_silent)
        fc = self.features
        if self.kind == "logmel":
            if sr != fc.sr:
                from soundkit.audio import resample

                y = resample(y, orig_sr=sr, target_sr=fc.sr)
            duration = len(y) / fc.sr
            from soundkit.features import clip_log_mel, windows

            S = clip_log_mel(y, fc)
            W, starts = windows(S, frames=fc.frames, hop=fc.window_hop, floor=-fc.top_db)
            t0 = starts * (fc.hop_length / fc.sr)
            t1 = np.minimum(t0 + fc.window_seconds, duration)
            return W[..., np.newaxis].astype(np.float32, copy=False), t0, t1
        # other kinds get the clip as it is: their frontend resamples to its own rate once
        duration = len(y) / sr
        X, t0 = self._family_module.clip_inputs(y, sr, fc, self.run_dir)
        X = np.asarray(X, dtype=np.float32)
        t0 = np.asarray(t0, dtype=np.float64)
        width = getattr(self._family_module, "WINDOW_SECONDS", None)
        if width is None:
            width = float(np.median(np.diff(t0))) if len(t0) > 1 else duration
        return X, t0, np.minimum(t0 + width, duration)

    def predict(self, y: np.ndarray, sr: int, *, top_k: int = 5, allow_silent: bool = False) -> Prediction:
        """Classify one clip.

        Parameters
        ----------
        y : np.ndarray, shape (n,)
            Mono audio (resampled to the run's rate when ``sr`` differs).
        sr : int
        top_k : int
            How many labels to return in ``top`` (capped at the number of labels).
        allow_silent : bool
            Classify a silent clip, or one shorter than :data:`soundkit.audio.MIN_SECONDS`, anyway
            (evaluation does, to score every clip) instead of raising.

        Returns
        -------
        Prediction

        Raises
        ------
        AudioError
            Empty, non-finite or silent audio.
        """
        if not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ParameterError(f"top_k must be a positive integer, got {top_k!r}")
        X, t0, t1 = self.inputs(y, sr, allow_silent=allow_silent)
        P = self._model(X)
        if P.ndim != 2 or P.shape[1] != len(self.labels):
            raise ModelError(f"{self.run_dir}: model output shape {P.shape} does not match {len(self.labels)} labels")
        probs = self._pool(X, P)
        sounding = None
        if self.kind == "logmel":  # windows with any frame above the floor (padding and silence: none)
            sounding = X.reshape(len(X), -1).max(axis=1) > -self.features.top_db + 1.0
        order = np.argsort(-probs, kind="stable")[: min(int(top_k), len(self.labels))]
        best = P.argmax(axis=1)
        timeline = [
            Segment(float(a), float(b), self.labels[k], float(P[i, k]))
            for i, (a, b, k) in enumerate(zip(t0, t1, best, strict=True))
        ]
        score = None
        if self.open_set is not None:
            score = self.open_set.clip_score(probs, X if self.kind == "embedding" else None)
        return Prediction(
            top=[(self.labels[k], float(probs[k])) for k in order],
            probabilities=probs.astype(np.float32),
            timeline=timeline,
            window_probabilities=P,
            labels=list(self.labels),
            unknown=score is not None and score < self.open_set.threshold,
            unknown_score=score,
            window_sounding=sounding,
        )

    def window_probabilities(self, X: np.ndarray) -> np.ndarray:
        """The model's probabilities for ready-made inputs (log-mel windows (n, n_mels, frames, 1)
        or embeddings (n, dim)), shape (n, n_classes); the listener classifies windows with it."""
        P = self._model(np.asarray(X, dtype=np.float32))
        if P.ndim != 2 or P.shape[1] != len(self.labels):
            raise ModelError(f"{self.run_dir}: model output shape {P.shape} does not match {len(self.labels)} labels")
        return P

    def _pool(self, X: np.ndarray, P: np.ndarray) -> np.ndarray:
        """Clip probabilities as training's evaluation computes them: the mean over the windows that
        hold sound (log-mel kinds; padding and silent stretches are left out), else over all."""
        from soundkit.evaluation import pool_windows, window_weights

        w = window_weights(X, floor=-self.features.top_db) if self.kind == "logmel" else None
        return pool_windows(P, w).astype(np.float32)

    def predict_file(self, path: str | os.PathLike, *, top_k: int = 5) -> Prediction:
        """Load an audio file at the run's sample rate and classify it."""
        from soundkit import audio

        y, sr = audio.load(path, sr=self.sample_rate, min_seconds=audio.MIN_SECONDS)
        return self.predict(y, sr, top_k=top_k)

    @staticmethod
    def _check(y: np.ndarray, sr: int, *, allow_silent: bool = False) -> np.ndarray:
        if not isinstance(sr, (int, np.integer)) or not 1000 <= sr <= 384000:
            raise ParameterError(f"sr must be an integer within 1000..384000 Hz, got {sr!r}")
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2 and min(y.shape) <= 8:  # (channels, n) or (n, channels): mix down
            y = y.mean(axis=0 if y.shape[0] <= 8 else 1)
        if y.ndim != 1:
            raise AudioError(f"expected mono audio of shape (n,), got shape {y.shape}")
        if y.size == 0:
            raise AudioError("the clip contains no audio samples")
        if not np.all(np.isfinite(y)):
            raise AudioError("the clip contains NaN or infinite samples")
        from soundkit.audio import MIN_SECONDS, is_silent

        if not allow_silent and y.size < MIN_SECONDS * sr:
            raise AudioError(f"the clip is {y.size / sr:.3f} s long; the shortest clip soundkit classifies is {MIN_SECONDS:g} s")
        if not allow_silent and is_silent(y):
            raise AudioError("the clip is silent (peak below -80 dBFS); there is nothing to classify")
        return y

    def __repr__(self) -> str:
        return f"Predictor({str(self.run_dir)!r}, family={self.family!r}, backend={self.backend!r}, labels={len(self.labels)})"


def predict_files(
    predictor: Predictor,
    paths: Sequence[str | os.PathLike],
    *,
    top_k: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[Path, Prediction]]:
    """Classify files in order. A bad file raises an AudioError naming it (checked before any work).

    Returns
    -------
    list of (path, Prediction)
    """
    from soundkit import audio

    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise AudioError(f"{p}: no such file")
        if p.is_dir():
            raise AudioError(f"{p}: is a directory, not an audio file")
    out: list[tuple[Path, Prediction]] = []
    for i, p in enumerate(paths):
        y, sr = audio.load(p, sr=predictor.sample_rate, min_seconds=audio.MIN_SECONDS)
        try:
            pred = predictor.predict(y, sr, top_k=top_k)
        except AudioError as exc:
            raise AudioError(f"{p}: {exc}") from None
        out.append((p, pred))
        if progress:
            progress(i + 1, len(paths))
    return out
