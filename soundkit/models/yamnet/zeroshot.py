"""Zero-shot: YAMNet's own 521 AudioSet labels for a clip, before any training
(:func:`zero_shot`, and :class:`YamnetPredictor` with the Predictor interface)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from soundkit.errors import ParameterError
from soundkit.models.yamnet.frames import FRAME_SAMPLES, SAMPLE_RATE, _to_16k, sound_weights, sounding_frames
from soundkit.models.yamnet.model import Embedder, class_names, load_embedder


def zero_shot(
    y: np.ndarray, sr: int, top_k: int = 5, *, model: str | os.PathLike | None = None, weighting: str = "sound"
) -> list[tuple[str, float]]:
    """YAMNet's own AudioSet labels for a clip, before any training.

    Frame scores are averaged with weights saying how much each frame sounds
    (:func:`sound_weights`: RMS level relative to the clip's loudest frame; frames of digital
    silence weigh 0). YAMNet's reference inference weighs all frames alike, so the quiet tail after
    a short sound made "Silence" outrank the sound itself.

    Returns
    -------
    list of (class name, mean score) pairs, best first, ``top_k`` long.
    """
    return YamnetPredictor.load(model).predict(y, sr, top_k=top_k, weighting=weighting).top


class YamnetPredictor:
    """A "pretrained" pseudo-run: YAMNet's 521 AudioSet classes, with the Predictor interface.

    Attributes
    ----------
    labels : list of str (521)
    family : str ("yamnet")
    backend : str ("litert")
    features : None (YAMNet's frontend is fixed)

    ``predict`` returns :class:`soundkit.predict.Prediction`; its ``probabilities`` are the frames'
    sigmoid scores averaged with :func:`sound_weights` (AudioSet is multi-label, so they do not sum
    to one; frames of digital silence weigh 0, frames far below the clip's loudest little or
    nothing, so silence or a noise floor after a short sound does not outweigh it;
    ``weighting="uniform"`` averages every sounding frame alike); the timeline has every frame.
    """

    name = "yamnet-audioset"
    family = "yamnet"
    backend = "litert"
    features = None
    run_dir = None

    def __init__(self, embedder: Embedder, labels: Sequence[str]) -> None:
        self.embedder = embedder
        self.labels = list(labels)

    @classmethod
    def load(cls, model: str | os.PathLike | None = None) -> YamnetPredictor:
        embedder = load_embedder(model)
        return cls(embedder, class_names(model=embedder.path))

    def predict_file(self, path: str | os.PathLike, *, top_k: int = 5) -> Any:
        """Load an audio file at 16 kHz and :meth:`predict` it."""
        from soundkit import audio

        y, sr = audio.load(path, sr=SAMPLE_RATE)
        return self.predict(y, sr, top_k=top_k)

    def predict(self, y: np.ndarray, sr: int, *, top_k: int = 5, weighting: str = "sound") -> Any:
        """Top-k AudioSet classes of a clip and a per-frame timeline (see Predictor.predict).

        ``weighting``: "sound" (default, :func:`sound_weights`) or "uniform" (every sounding frame
        alike, YAMNet's reference pooling without the padding).
        """
        from soundkit.predict import Prediction, Segment

        if top_k < 1:
            raise ParameterError(f"top_k must be >= 1, got {top_k}")
        if weighting not in ("sound", "uniform"):
            raise ParameterError(f"weighting must be 'sound' or 'uniform', got {weighting!r}")
        y16 = _to_16k(y, sr)
        scores, emb, starts = self.embedder.run(y16, SAMPLE_RATE)
        w = sounding_frames(emb, self.embedder.silence).astype(np.float64)
        if weighting == "sound":
            w = w * sound_weights(y16, SAMPLE_RATE)
            if w.sum() <= 0:
                w = np.ones(len(w))
        mean = (w[:, None] * scores).sum(axis=0) / w.sum()
        order = np.argsort(-mean)[:top_k]
        top = [(self.labels[i], float(mean[i])) for i in order]
        best = scores.argmax(axis=1)
        duration = FRAME_SAMPLES / SAMPLE_RATE
        timeline = [
            Segment(float(s), float(s) + duration, self.labels[b], float(scores[j, b]))
            for j, (s, b) in enumerate(zip(starts, best, strict=True))
        ]
        return Prediction(top=top, probabilities=mean, timeline=timeline, window_probabilities=scores,
                          labels=list(self.labels))
