"""Frame embeddings of clips (:func:`embed`, :func:`embed_files`) and their on-disk cache, keyed by
audio content and model checksum (:class:`EmbeddingCache`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundkit.errors import ModelError
from soundkit.models.yamnet.frames import EMBEDDING_SIZE, SAMPLE_RATE
from soundkit.models.yamnet.model import load_embedder


@dataclass(frozen=True)
class _Key:
    key: str  # duck-types FeatureConfig.key for FeatureCache


class EmbeddingCache:
    """Frame embeddings on disk: ``root/<model key>/<hash[:2]>/<content hash>.npy`` (float16).

    Uses :class:`soundkit.features.FeatureCache` (atomic writes; a damaged entry is a miss).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        from soundkit.features import FeatureCache

        self.root = Path(root)
        self._cache = FeatureCache(self.root)

    def get(self, digest: str, model_key: str) -> np.ndarray | None:
        E = self._cache.get(digest, _Key(model_key))  # type: ignore[arg-type]
        if E is not None and (E.ndim != 2 or E.shape[1] != EMBEDDING_SIZE):
            return None
        return E

    def put(self, digest: str, model_key: str, E: np.ndarray) -> None:
        self._cache.put(digest, _Key(model_key), E)  # type: ignore[arg-type]


def default_cache_root() -> Path:
    """``soundkit.config.cache_dir() / "embeddings"``."""
    from soundkit.config import cache_dir

    return cache_dir() / "embeddings"


def embed(y: np.ndarray, sr: int, *, model: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame embeddings of a clip.

    Returns
    -------
    embeddings : np.ndarray, float32, shape (n_frames, 1024)
    starts : np.ndarray, float64, shape (n_frames,)
        Frame starts in seconds (every 0.48 s).
    """
    _, emb, starts = load_embedder(model).run(y, sr)
    return emb, starts


def embed_files(
    paths: Sequence[str | os.PathLike],
    *,
    cache: EmbeddingCache | str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[np.ndarray]:
    """Frame embeddings of each audio file, in order, cached by content.

    Parameters
    ----------
    paths : sequence of paths
    cache : EmbeddingCache or folder, optional
        Where embeddings are kept (e.g. :func:`default_cache_root`); None: no caching.
    model : path, optional
        The YAMNet file (default: :func:`model_path`).
    progress : callable(done, total), optional
    should_stop : callable() -> bool, optional
        Checked between files; True stops with :class:`~soundkit.errors.SoundkitError`.

    Returns
    -------
    list of np.ndarray, each float32 of shape (n_frames, 1024)
    """
    from soundkit.errors import SoundkitError
    from soundkit.features import content_hash
    from soundkit.regions import load_ranged, range_digest, read_ranged_bytes

    embedder = load_embedder(model)
    if cache is not None and not isinstance(cache, EmbeddingCache):
        cache = EmbeddingCache(cache)
    out = []
    total = len(paths)
    for i, path in enumerate(paths):
        if should_stop and should_stop():
            raise SoundkitError("stopped while computing YAMNet embeddings")
        try:
            data, rng, _ = read_ranged_bytes(path)  # a region: file#t=start,end (soundkit.regions)
        except OSError as exc:
            raise ModelError(f"{path}: cannot be read ({exc.strerror})") from None
        digest = range_digest(content_hash(data), rng)
        E = cache.get(digest, embedder.key) if cache is not None else None
        if E is None:
            y, sr = load_ranged(path, sr=SAMPLE_RATE, data=data)
            _, E, _ = embedder.run(y, sr)
            if cache is not None:
                cache.put(digest, embedder.key, E)
        out.append(E.astype(np.float32, copy=False))
        if progress:
            progress(i + 1, total)
    return out
