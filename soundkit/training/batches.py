"""What the model sees of a clip: its non-silent evaluation windows (:func:`_eval_windows`), the
training crops worth drawing (:func:`_crop_starts`, :func:`_fixed_windows`) and the per-epoch Keras
``PyDataset`` of crops, frames, SpecAugment masks and mixup (:func:`_make_train_data`).

Keras is imported inside :func:`_make_train_data`.
"""

from __future__ import annotations

import math

import numpy as np

from soundkit.config import FeatureConfig
from soundkit.evaluation import window_weights
from soundkit.training.checks import CROPS, CROPS_PER_CLIP
from soundkit.training.fit_setup import mixup_alpha


def _eval_windows(item: np.ndarray, fam, features: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(X, weights) for one clip: windows (n, n_mels, frames, 1) or frames (n, dim)."""
    if fam.KIND == "embedding":
        return item, np.ones(len(item), dtype=np.float32)
    from soundkit.features import windows

    W, _ = windows(item, frames=features.frames, hop=features.window_hop, floor=-features.top_db)
    return W[..., np.newaxis], window_weights(W, floor=-features.top_db)


def _crop_starts(S: np.ndarray, *, frames: int, floor: float) -> np.ndarray:
    """Start frames of the training crops worth drawing: windows holding at least half as many
    non-silent frames as the clip's best window (all starts for a silent clip)."""
    n = S.shape[1]
    if n <= frames:
        return np.zeros(1, dtype=np.int64)
    active = (S.max(axis=0) > floor + 1.0).astype(np.int64)
    c = np.concatenate([[0], np.cumsum(active)])
    count = c[frames:] - c[: n - frames + 1]
    best = count.max()
    if best == 0:
        return np.arange(n - frames + 1)
    return np.flatnonzero(count >= 0.5 * best)


def _fixed_windows(items: list[np.ndarray], y: np.ndarray, *, fam, features) -> tuple[np.ndarray, np.ndarray]:
    """Every clip's non-silent evaluation windows (n, n_mels, frames, 1) and their labels, in one
    preallocated array: the windows are cut twice (counting, then filling; cheap slicing) so that
    they are never held twice."""
    keep = [_eval_windows(S, fam, features)[1] > 0 for S in items]
    counts = [int(k.sum()) for k in keep]
    X = np.empty((sum(counts), items[0].shape[0], features.frames, 1), dtype=np.float32)
    at = 0
    for S, k, n in zip(items, keep, counts, strict=True):
        X[at : at + n] = _eval_windows(S, fam, features)[0][k]
        at += n
    return X, np.repeat(y, counts)


class _Rows:
    """A view of ``X`` in another row order (``X[rows[i]]``) for indexing with slices and arrays,
    so an epoch's batches are gathered without a reordered copy of ``X``."""

    def __init__(self, X: np.ndarray, rows: np.ndarray) -> None:
        self.X, self.rows, self.ndim, self.shape = X, rows, X.ndim, (len(rows), *X.shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index) -> np.ndarray:
        return self.X[self.rows[index]]


def _make_train_data(items: list[np.ndarray], y: np.ndarray, weights: np.ndarray, *, fam, features, config):
    """A keras PyDataset: random or fixed crops (log-mel) or all frames (embeddings), reshuffled per epoch."""
    import keras

    rng = np.random.default_rng(config.seed)
    batch = config.batch_size
    floor = -features.top_db
    frames = features.frames
    crops = int(config.options.get("crops_per_clip", CROPS_PER_CLIP))
    fixed = fam.KIND == "logmel" and config.options.get("crops", CROPS) == "fixed"
    masks = None  # SpecAugment-style masks of the augmentation policy, drawn afresh for every crop
    alpha = mixup_alpha(config)  # mixup, drawn afresh every epoch
    n_classes = len(weights)
    if config.augment:
        from soundkit import augment

        policy = augment.Policy.from_dict(config.augment)
        masks = policy if fam.KIND == "logmel" and policy.spec_compose() is not None else None

    class TrainData(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            if fixed:  # every non-silent evaluation window, once per epoch
                self.X_all, self.y_all = _fixed_windows(items, y, fam=fam, features=features)
            elif fam.KIND == "logmel":
                self.starts = [_crop_starts(S, frames=frames, floor=floor) for S in items]
            else:
                self.X_all = np.concatenate(items)
                self.y_all = np.concatenate([np.full(len(a), yi) for a, yi in zip(items, y, strict=True)])
            self._draw()

        def _draw(self) -> None:
            if fam.KIND == "logmel" and not fixed:
                idx = np.repeat(np.arange(len(items)), crops)
                rng.shuffle(idx)
                X = np.empty((len(idx), items[0].shape[0], frames), dtype=np.float32)
                for k, i in enumerate(idx):
                    S = items[i]
                    s = int(rng.choice(self.starts[i]))
                    part = S[:, s : s + frames]
                    X[k, :, : part.shape[1]] = part
                    X[k, :, part.shape[1] :] = floor
                if masks is not None:
                    X = augment.spec_augment(X, masks, rng=rng)
                self.X, self.rows, self.y = X[..., np.newaxis], None, y[idx]
            else:  # fixed windows or frames: batches gathered from X_all by self.rows, no copy of the epoch
                order = rng.permutation(len(self.X_all))
                self.X, self.rows, self.y = self.X_all, order, self.y_all[order]
                if masks is not None:  # masked windows are new arrays, drawn afresh every epoch
                    self.X, self.rows = augment.spec_augment(self.X_all[order, ..., 0], masks, rng=rng)[..., np.newaxis], None
            self.w = weights[self.y]
            if alpha > 0:  # one-hot targets (compile_model's loss follows mixup_alpha), blended per batch
                self.y = np.eye(n_classes, dtype=np.float32)[self.y]
                self.mix = augment.mixup_draw(len(self.y), alpha, rng=rng)

        def __len__(self) -> int:
            return math.ceil(len(self.y) / batch)

        def __getitem__(self, i: int):
            sl = slice(i * batch, (i + 1) * batch)
            X = _Rows(self.X, self.rows) if self.rows is not None else self.X  # epoch position -> example
            if alpha > 0:
                return augment.mix_rows(X, self.y, *self.mix, sl, weights=self.w)
            return X[sl], self.y[sl], self.w[sl]

        def on_epoch_end(self) -> None:
            self._draw()

    return TrainData()
