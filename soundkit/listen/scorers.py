"""Window scorers: one interface (:class:`WindowScorer`) over every kind of model the listener can
run - a log-mel run, a YAMNet-head run, YAMNet zero-shot (:func:`scorer_for`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from soundkit.errors import ParameterError

__all__ = ["WindowScorer", "scorer_for"]


class WindowScorer:
    """Probabilities of single windows for one model.

    Attributes
    ----------
    labels : list of str
    sample_rate : int
        The model's rate (audio is resampled to it).
    window : int
        Samples in one window.
    context : int
        Samples the scorer looks at for each window (>= ``window``; log-mel models normalise their
        decibels over a few seconds, as over the clips they were trained on).
    name : str
    """

    labels: list[str]
    sample_rate: int
    window: int
    context: int
    name: str = "model"

    def score(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Score windows.

        Parameters
        ----------
        segments : np.ndarray, float32, shape (n, context)
            The last ``context`` samples up to each window's end.

        Returns
        -------
        P : np.ndarray, shape (n, n_labels)
        sounding : np.ndarray of bool, shape (n,)
            False for a window of (near) digital silence: it makes no event.
        embeddings : np.ndarray, shape (n, dim), or None
            The window's embedding for embedding models (the open-set novelty score uses it).
        """
        raise NotImplementedError


class _LogMelScorer(WindowScorer):
    def __init__(self, predictor: Any, *, context_seconds: float) -> None:
        fc = predictor.features
        self.predictor, self.labels, self.sample_rate = predictor, list(predictor.labels), int(fc.sr)
        self.window = int(fc.frames * fc.hop_length)
        self.context = max(self.window, int(round(context_seconds * fc.sr)))
        self.name = str(predictor.run_dir)

    def score(self, segments):
        from soundkit.audio import is_silent
        from soundkit.features import clip_log_mel

        fc = self.predictor.features
        W = np.stack([clip_log_mel(seg, fc)[:, -fc.frames:] for seg in segments])[..., np.newaxis]
        sounding = np.array([not is_silent(seg[-self.window:]) for seg in segments])
        return self.predictor.window_probabilities(W.astype(np.float32)), sounding, None


def _sounding(E: np.ndarray, silence: np.ndarray) -> np.ndarray:
    return np.linalg.norm(E - silence, axis=1) > 0.02 * float(np.linalg.norm(silence))


class _YamnetScorer(WindowScorer):
    """YAMNet frames: the head of an embedding run on their embeddings, or YAMNet's own scores."""

    def __init__(self, model: Any, *, head: bool) -> None:
        from soundkit.models import yamnet

        self.model, self.head = model, head
        self.embedder = yamnet.load_embedder() if head else model.embedder
        self.labels = list(model.labels)
        self.sample_rate, self.window = yamnet.SAMPLE_RATE, yamnet.FRAME_SAMPLES
        self.context = self.window
        self.name = str(model.run_dir) if head else "yamnet"

    def score(self, segments):
        scores, emb = self.embedder._run(np.ascontiguousarray(segments[:, -self.window:], dtype=np.float32))
        sounding = _sounding(emb, self.embedder.silence)
        P = self.model.window_probabilities(emb) if self.head else scores
        return P, sounding, emb


def scorer_for(model: Any, *, context_seconds: float = 5.0) -> WindowScorer:
    """The :class:`WindowScorer` of a :class:`~soundkit.predict.Predictor` (log-mel or YAMNet-head
    run) or a :class:`~soundkit.models.yamnet.YamnetPredictor` (zero-shot)."""
    if isinstance(model, WindowScorer):
        return model
    from soundkit.models.yamnet import YamnetPredictor

    if isinstance(model, YamnetPredictor):
        return _YamnetScorer(model, head=False)
    kind = getattr(model, "kind", None)
    if kind == "logmel":
        return _LogMelScorer(model, context_seconds=context_seconds)
    if kind == "embedding" and getattr(model, "family", None) == "yamnet":
        return _YamnetScorer(model, head=True)
    raise ParameterError(f"cannot listen with {model!r}: expected a log-mel run, a YAMNet-head run or YAMNet zero-shot")
