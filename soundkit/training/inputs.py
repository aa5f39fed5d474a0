"""The clips a model fits on and their inputs: the validation split (:func:`validation_split`), the
augmented copies of the fit clips (:func:`_augment`) and every clip's model input computed once
(:class:`_Inputs`: log-mels or embeddings, cached)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from soundkit.config import FeatureConfig, TrainConfig
from soundkit.datasets import Clip, assign_folds


def validation_split(clips: Sequence[Clip], *, fraction: float, seed: int = 0) -> tuple[list[Clip], list[Clip]]:
    """(fit, validation) clips: about ``fraction`` of the clips, stratified by label and grouped by
    source (clips of one recording never straddle the split), seeded.

    Labels with a single source stay entirely in the fit split. ``fraction == 0`` gives no
    validation clips.
    """
    clips = list(clips)
    if fraction <= 0 or len(clips) < 4:
        return clips, []
    n_parts = max(2, round(1 / fraction))
    parts = assign_folds(clips, n_folds=n_parts, seed=seed)
    sources: dict[str, set[str]] = {}
    for c in clips:
        sources.setdefault(c.label, set()).add(c.source)
    fit, val = [], []
    for orig, c in zip(clips, parts, strict=True):
        (val if c.fold == 1 and len(sources[c.label]) > 1 else fit).append(orig)
    return fit, val


def _augment(fit_clips: list[Clip], config: TrainConfig, *, cache_dir, emit) -> tuple[list[Clip], str | None]:
    """Augmented copies of the fit clips (never validation/test clips), and the engine used."""
    if not config.augment:
        return [], None
    from soundkit import augment

    policy = augment.Policy.from_dict(config.augment)
    root = Path(cache_dir) / "augment" if cache_dir is not None else None  # None: augment's default

    def prog(event: dict) -> None:
        emit(**{**event, "stage": "augment"})

    new = augment.augment_clips(fit_clips, policy, cache_dir=root, seed=config.seed, workers=None, progress=prog)
    engine = augment.engine() if callable(getattr(augment, "engine", None)) else None
    return list(new), (str(engine) if engine else None)


class _Inputs:
    """Per-clip model inputs, computed once: log-mels (n_mels, T) or embeddings (n, dim)."""

    def __init__(self, fam, features: FeatureConfig, cache_dir) -> None:
        self.fam = fam
        self.features = features
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.items: dict[str, np.ndarray] = {}

    def compute(self, clips: Sequence[Clip], *, emit) -> None:
        paths = list(dict.fromkeys(str(c.path) for c in clips if str(c.path) not in self.items))
        if not paths:
            return

        def prog(done: int, total: int) -> None:
            emit(stage="features", done=done, total=total, message=f"features {done}/{total}")

        if self.fam.KIND == "logmel":
            from soundkit.features import FeatureCache, featurize_files

            cache = FeatureCache(self.cache_dir / "features") if self.cache_dir is not None else None
            arrays = featurize_files(paths, self.features, cache=cache, progress=prog)
        else:
            arrays = self.fam.training_inputs(paths, self.features, cache_dir=self.cache_dir, progress=prog)
        for p, a in zip(paths, arrays, strict=True):
            self.items[p] = np.asarray(a, dtype=np.float32)

    def __getitem__(self, clip: Clip) -> np.ndarray:
        return self.items[str(clip.path)]
