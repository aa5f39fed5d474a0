"""A map of the dataset: every clip as a 2-D point by its YAMNet embedding, and a mislabel flag.

Embeddings are the mean of a clip's sounding YAMNet frame embeddings
(:func:`soundkit.models.yamnet.training_inputs`, cached by content in ``cache_dir/embeddings``, the
cache the YAMNet head fills when it trains), so a store that trained the head once is mapped without
running YAMNet again. Regions (ranged paths, :mod:`soundkit.regions`) are embedded from their range.

Layout (:func:`layout`): t-SNE (scikit-learn, cosine, PCA-initialised, on the first 50 principal
components) up to ``MAX_TSNE`` points; PCA above it, where t-SNE would take longer than about three
seconds on two cores (measured: BENCHMARKS.md, "Dataset map"), and below 5 points, where t-SNE has
nothing to embed.

The flag (:func:`mislabel_flags`): a labelled clip whose ``k`` nearest labelled neighbours (cosine
similarity of the embeddings) give another label a share of at least ``threshold`` (default 0.7: on
ESC-10 with 5% of labels swapped and k=10, precision 59%, recall 95%; 0.9 gives 81% / 85%) is
probably mislabelled; that label is its suggestion. Unlabelled clips are placed and get a suggestion but are
never flagged and never vote. The map's default flag is the cross-validated one
(:func:`mislabel_flags_cv`: a logistic regression on the embeddings, each clip judged by a model that
never saw it; precision 77% at recall 100% on the same test), the kNN vote where a class is too small.

API
---
``clip_embeddings(paths, *, cache_dir=None, model=None, progress=None) -> np.ndarray (n, 1024)``
``layout(X, *, method="auto", seed=0) -> (np.ndarray (n, 2), method)``
``mislabel_flags(X, labels, *, k=10, threshold=0.5) -> Flags``
``mislabel_flags_cv(X, labels, *, threshold=0.1, folds=5, dims=64, C=10.0, seed=0) -> Flags``
``dataset_map(store, *, cache_dir=None, k=None, threshold=0.7, method="auto", seed=0, flag="cv") -> DataMap``
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from soundkit.errors import ParameterError

__all__ = ["clip_embeddings", "layout", "mislabel_flags", "mislabel_flags_cv", "dataset_map", "Flags", "DataMap", "MAX_TSNE"]

#: Largest map laid out with t-SNE; above it, PCA. Measured (BENCHMARKS.md, "Dataset map", 2 cores):
#: t-SNE takes 2.8 s for 1,000 clips, 6.7 s for 2,000 and 19 s for 4,000; PCA 0.1-0.2 s.
MAX_TSNE = 1000
_METHODS = ("auto", "tsne", "pca")


def clip_embeddings(
    paths: Sequence[str | os.PathLike],
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Mean-pooled YAMNet embedding of each clip (sounding frames only; all frames of a silent clip).

    Returns
    -------
    np.ndarray, float32, shape (n, 1024)
    """
    from soundkit.models import yamnet

    cache = os.path.join(os.fspath(cache_dir), "embeddings") if cache_dir is not None else None
    frames = yamnet.embed_files(paths, cache=cache, progress=progress)
    silence = yamnet.load_embedder().silence
    out = np.zeros((len(frames), 1024), np.float32)
    for i, E in enumerate(frames):
        keep = E[yamnet.sounding_frames(E, silence)]
        out[i] = yamnet.pool(keep if len(keep) else E)
    return out


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ParameterError(f"embeddings must have shape (n_clips, dims) with n_clips >= 1, got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ParameterError("embeddings must be finite")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


def layout(X: np.ndarray, *, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates of the rows of ``X``.

    Parameters
    ----------
    X : np.ndarray, shape (n, dims)
    method : {"auto", "tsne", "pca"}
        "auto": t-SNE for 5 to ``MAX_TSNE`` points, else PCA.
    seed : int

    Returns
    -------
    xy : np.ndarray, float32, shape (n, 2), scaled into [-1, 1]
    method : str, the method used ("tsne", "pca")
    """
    if method not in _METHODS:
        raise ParameterError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
    U = _unit(X)
    n = U.shape[0]
    if method == "auto":
        method = "tsne" if 5 <= n <= MAX_TSNE else "pca"
    if n < 3:
        xy = np.zeros((n, 2), np.float32)
        xy[:, 0] = np.arange(n) - (n - 1) / 2
        return xy, "pca"
    from sklearn.decomposition import PCA

    if method == "pca":
        xy = PCA(n_components=2, random_state=seed).fit_transform(U)
    else:
        from sklearn.manifold import TSNE

        if n < 5:
            raise ParameterError(f"t-SNE needs at least 5 clips, got {n}")
        Z = PCA(n_components=min(50, n, U.shape[1]), random_state=seed).fit_transform(U)
        perplexity = float(min(30.0, (n - 1) / 3))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                  metric="cosine").fit_transform(Z)
    xy = np.asarray(xy, np.float32)
    xy -= xy.mean(axis=0)
    scale = float(np.abs(xy).max())
    return (xy / scale if scale > 0 else xy), method


@dataclass
class Flags:
    """Per clip: ``flagged`` (bool), ``suggested`` (the neighbours' majority label, or the
    cross-validated classifier's top label; None where nothing labelled), ``share`` (that label's share
    of the k neighbours, or its out-of-fold probability), ``neighbours`` (indices, shape (n, k); (n, 0)
    for "cv"), ``method`` ("knn", "cv"), ``given`` ("cv": the out-of-fold probability of the clip's own
    label, NaN where unlabelled)."""

    flagged: np.ndarray
    suggested: list[str | None]
    share: np.ndarray
    neighbours: np.ndarray
    method: str = "knn"
    given: np.ndarray | None = None

    def indices(self) -> list[int]:
        """The flagged clips, the most confident (largest share) first."""
        idx = np.flatnonzero(self.flagged)
        return [int(i) for i in idx[np.argsort(-self.share[idx], kind="stable")]]


def mislabel_flags(X: np.ndarray, labels: Sequence[str | None], *, k: int = 10, threshold: float = 0.7) -> Flags:
    """Flag labelled clips whose ``k`` nearest labelled neighbours mostly carry another label.

    Parameters
    ----------
    X : np.ndarray, shape (n, dims)
        Clip embeddings (compared by cosine similarity).
    labels : sequence of str or None, length n
        None: unlabelled (placed, never flagged, never a neighbour that votes).
    k : int
        Neighbours per clip (fewer where fewer labelled clips exist).
    threshold : float in (0, 1]
        Share of the neighbours another label needs to flag the clip.

    Returns
    -------
    Flags
    """
    U = _unit(X)
    n = U.shape[0]
    if len(labels) != n:
        raise ParameterError(f"labels must have one entry per clip ({n}), got {len(labels)}")
    if not (isinstance(k, int) and k >= 1):
        raise ParameterError(f"k must be a positive integer, got {k!r}")
    if not (0.0 < float(threshold) <= 1.0):
        raise ParameterError(f"threshold must be within (0, 1], got {threshold}")
    voters = np.array([lab is not None for lab in labels])
    vidx = np.flatnonzero(voters)
    kk = min(k, max(len(vidx) - 1, 0)) if len(vidx) else 0
    neighbours = np.full((n, max(kk, 1)), -1, np.int64)
    flagged = np.zeros(n, bool)
    share = np.zeros(n, np.float32)
    suggested: list[str | None] = [None] * n
    if kk == 0:
        return Flags(flagged, suggested, share, neighbours[:, :0])
    V = U[vidx]
    for a in range(0, n, 1024):  # (1024, n_voters) similarities at a time
        S = U[a : a + 1024] @ V.T
        for r in range(S.shape[0]):
            i = a + r
            if voters[i]:
                S[r, np.searchsorted(vidx, i)] = -np.inf  # not its own neighbour
        top = np.argpartition(-S, kk - 1, axis=1)[:, :kk] if kk < S.shape[1] else np.tile(np.arange(S.shape[1]), (S.shape[0], 1))
        order = np.take_along_axis(S, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)[:, :kk]
        neighbours[a : a + S.shape[0], :kk] = vidx[top]
    for i in range(n):
        votes = Counter(labels[j] for j in neighbours[i, :kk])
        best, count = max(votes.items(), key=lambda kv: (kv[1], kv[0] == labels[i]))
        suggested[i] = best
        share[i] = count / kk
        flagged[i] = labels[i] is not None and best != labels[i] and share[i] >= threshold
    return Flags(flagged, suggested, share, neighbours[:, :kk])


def mislabel_flags_cv(
    X: np.ndarray,
    labels: Sequence[str | None],
    *,
    threshold: float = 0.1,
    folds: int = 5,
    dims: int = 64,
    C: float = 10.0,
    seed: int = 0,
) -> Flags:
    """Flag labelled clips that a classifier trained without them says are another class.

    A logistic regression (scikit-learn; the YAMNet head's model family) on the first ``dims``
    principal components of the unit-normalised embeddings, fitted ``folds`` times (stratified
    folds, each clip predicted by the model that did not see it). A clip is flagged when its own
    label's out-of-fold probability is below ``threshold`` and another label is the top one. On
    ESC-10 with 5% of labels swapped: precision 77%, recall 100% at 0.1 (BENCHMARKS.md, "Dataset
    map"); the kNN vote (:func:`mislabel_flags`) reaches 59% at recall 95%.

    Parameters
    ----------
    X : np.ndarray, shape (n, dims_in)
    labels : sequence of str or None, length n
        None: unlabelled (never fitted, never flagged; suggested by the mean of the folds' models).
    threshold : float in (0, 1)
    folds : int >= 2
        Fewer where the smallest class has fewer clips (at least 2 per class are needed).
    dims, C, seed : PCA size, inverse regularisation, fold shuffling seed.

    Returns
    -------
    Flags (``method="cv"``)

    Raises
    ------
    ParameterError
        Fewer than two classes, a class with a single clip, or bad parameters.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    U = _unit(X)
    n = U.shape[0]
    if len(labels) != n:
        raise ParameterError(f"labels must have one entry per clip ({n}), got {len(labels)}")
    if not (0.0 < float(threshold) < 1.0):
        raise ParameterError(f"threshold must be within (0, 1), got {threshold}")
    if not (isinstance(folds, int) and folds >= 2):
        raise ParameterError(f"folds must be an integer >= 2, got {folds!r}")
    lab = np.flatnonzero([x is not None for x in labels])
    sizes = Counter(labels[i] for i in lab)
    if len(sizes) < 2 or min(sizes.values()) < 2:
        raise ParameterError("the cross-validated flag needs two or more classes of at least 2 clips each")
    classes = sorted(sizes)
    y = np.array([classes.index(labels[i]) for i in lab])
    Z = PCA(n_components=min(dims, n, U.shape[1]), random_state=seed).fit_transform(U)
    Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    P = np.zeros((n, len(classes)))
    rest = np.setdiff1d(np.arange(n), lab)
    k = min(folds, min(sizes.values()))
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(Z[lab], y):
        model = LogisticRegression(C=C, max_iter=500).fit(Z[lab[tr]], y[tr])
        P[lab[te]] = model.predict_proba(Z[lab[te]])
        if len(rest):
            P[rest] += model.predict_proba(Z[rest]) / k
    best = P.argmax(axis=1)
    suggested: list[str | None] = [classes[b] for b in best]
    share = P[np.arange(n), best].astype(np.float32)
    given = np.full(n, np.nan, np.float32)
    given[lab] = P[lab, y]
    flagged = np.zeros(n, bool)
    flagged[lab] = (best[lab] != y) & (given[lab] < threshold)
    return Flags(flagged, suggested, share, np.zeros((n, 0), np.int64), method="cv", given=given)


@dataclass
class DataMap:
    """A map of a store: per point its ``id`` (clip id as text, or ``region-<id>``), ``name``,
    ``label`` (None: unlabelled), ``path`` (plain or ranged), ``x``/``y``, ``flagged`` and
    ``suggested``; ``method`` is the layout used."""

    ids: list[str]
    names: list[str]
    labels: list[str | None]
    paths: list[str]
    xy: np.ndarray
    flags: Flags
    method: str

    def rows(self) -> list[dict[str, Any]]:
        """One dict per point (for a chart or a table)."""
        return [
            {"id": self.ids[i], "name": self.names[i], "label": self.labels[i] or "unlabelled",
             "x": float(self.xy[i, 0]), "y": float(self.xy[i, 1]), "flagged": bool(self.flags.flagged[i]),
             "suggested": self.flags.suggested[i] or "", "share": float(self.flags.share[i]), "path": self.paths[i]}
            for i in range(len(self.ids))
        ]


def dataset_map(
    store: Any,
    *,
    cache_dir: str | os.PathLike | None = None,
    k: int | None = None,
    threshold: float = 0.7,
    method: str = "auto",
    seed: int = 0,
    flag: str = "cv",
    cv_threshold: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
) -> DataMap:
    """The map of every live clip and labelled region in ``store`` (a :class:`soundkit.store.Store`).

    ``cache_dir``: the cache root (default :func:`soundkit.config.cache_dir`), embeddings in
    ``cache_dir/embeddings``. ``k``: neighbours for the flag; None: the smallest class's size less
    one, within 3..10 (a clip cannot be "mostly" among its class's clips when k exceeds the class).
    ``flag``: "cv" (:func:`mislabel_flags_cv`, at ``cv_threshold``; the kNN vote where a class has a
    single clip or there is one class) or "knn" (:func:`mislabel_flags`, ``k`` and ``threshold``).
    """
    if flag not in ("cv", "knn"):
        raise ParameterError(f"flag must be 'cv' or 'knn', got {flag!r}")
    from soundkit.errors import DatasetError

    if cache_dir is None:
        from soundkit.config import cache_dir as default_cache

        cache_dir = default_cache()
    ids, names, labels, paths = [], [], [], []
    for r in store.clips(order="created"):
        ids.append(str(r.id))
        names.append(r.name)
        labels.append(r.label)
        paths.append(str(r.path))
    for g in store.regions():
        if g.label is None:
            continue
        ids.append(f"region-{g.id}")
        names.append(f"{g.recording} {g.start:.2f}-{g.end:.2f} s")
        labels.append(g.label)
        paths.append(g.path)
    if not ids:
        raise DatasetError(f"{store.home}: the store has no clips to map")
    if k is None:
        sizes = Counter(lab for lab in labels if lab is not None)
        k = int(min(10, max(3, min(sizes.values(), default=4) - 1)))
    X = clip_embeddings(paths, cache_dir=cache_dir, progress=progress)
    xy, used = layout(X, method=method, seed=seed)
    sizes = Counter(lab for lab in labels if lab is not None)
    if flag == "cv" and len(sizes) >= 2 and min(sizes.values()) >= 2:
        flags = mislabel_flags_cv(X, labels, threshold=cv_threshold, seed=seed)
    else:
        flags = mislabel_flags(X, labels, k=k, threshold=threshold)
    return DataMap(ids, names, labels, paths, xy, flags, used)
