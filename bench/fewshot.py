"""Few-shot candidates on YAMNet embeddings: ESC-10 cut to 6 training clips per class, and full ESC-10.

Protocols (both grouped by source; nothing here is tuned on the 40-class task soundkit is judged on):

- ``6-shot``: draw d (0..4) holds out official fold d+1 and picks, for every class, 6 clips of 6
  distinct sources (one take each, seeded by the draw) from the other four folds; the model trains on
  those 60 clips and is tested on the held-out fold's 80 clips. Each draw runs with seeds 0 and 1
  (model initialisation, batch order; deterministic candidates give the same figure for both).
- ``full``: ESC-10's official 5 folds (train on 320 clips, test on 80), seeds 0 and 1.

Embeddings come from the YAMNet cache (bench/.work/cache/embeddings); time-shifted framings (the
clip cut 0.16 s and 0.32 s later) are computed once for the shift augmentation and test-time
augmentation candidates and kept in bench/.work/fewshot-shifts.npz.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

SHOTS = 6
DRAWS = 5
SEEDS = (0, 1)
SHIFT_SAMPLES = (2560, 5120)  # 0.16 s and 0.32 s at 16 kHz: a third and two thirds of YAMNet's hop


class Data:
    """ESC-10 clips with their frame embeddings (sounding frames only) and shifted framings."""

    def __init__(self, esc10: Path, work: Path) -> None:
        from soundkit import audio, datasets
        from soundkit.models import yamnet as ym

        self.dataset = datasets.load(esc10)
        self.clips = self.dataset.clips
        self.labels = self.dataset.labels
        self.y = np.array([self.labels.index(c.label) for c in self.clips])
        self.fold = np.array([c.fold for c in self.clips])
        self.source = np.array([c.source for c in self.clips])
        embedder = ym.load_embedder()
        silence = embedder.silence
        raw = ym.embed_files([c.path for c in self.clips], cache=work / "cache" / "embeddings")
        self.masks = [ym.sounding_frames(E, silence) for E in raw]
        self.frames = [E[m] for E, m in zip(raw, self.masks, strict=True)]
        self.work = work
        self._layer13: list[np.ndarray] | None = None
        cache = work / "fewshot-shifts.npz"
        if cache.is_file():
            z = np.load(cache, allow_pickle=True)
            shifted = list(z["shifted"])
        else:
            shifted = []
            for c in self.clips:
                y, sr = audio.load(c.path, sr=ym.SAMPLE_RATE)
                per = []
                for k in SHIFT_SAMPLES:
                    _, E, _ = embedder.run(y[k:], sr)
                    per.append(E[ym.sounding_frames(E, silence)])
                shifted.append(per)
            arr = np.empty(len(shifted), dtype=object)
            arr[:] = shifted
            np.savez(cache, shifted=arr)
        self.shifted = shifted  # per clip: [frames at shift 1, frames at shift 2]

    def layer13_inputs(self) -> list[np.ndarray]:
        """Per clip: the input of YAMNet's layer13 for its sounding frames, (n, 6, 4, 512) float16
        (read as an extra output of the patched model under XNNPACK; cached in bench/.work/fewshot-layer13.npz)."""
        if self._layer13 is None:
            from bench import yamnet_blocks as yb
            from soundkit import audio
            from soundkit.models import yamnet as ym

            cache = self.work / "fewshot-layer13.npz"
            if cache.is_file():
                z = np.load(cache)
                flat, counts = z["acts"], z["counts"]
            else:
                waves = [audio.load(c.path, sr=ym.SAMPLE_RATE)[0] for c in self.clips]
                acts, _ = yb.activations(ym.model_path(), waves)
                acts = [a[m].astype(np.float16) for a, m in zip(acts, self.masks, strict=True)]
                counts = np.array([len(a) for a in acts])
                flat = np.concatenate(acts)
                np.savez(cache, acts=flat, counts=counts)
            self._layer13 = np.split(flat, np.cumsum(counts)[:-1])
        return self._layer13

    def draws(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(name, train indices, test indices) of the 6-shot draws."""
        out = []
        for d in range(DRAWS):
            test_fold = d + 1
            rng = np.random.default_rng(1000 + d)
            train = []
            for k in range(len(self.labels)):
                pool = np.flatnonzero((self.y == k) & (self.fold != test_fold))
                sources = sorted(set(self.source[pool]))
                for src in rng.choice(sources, size=SHOTS, replace=False):
                    takes = pool[self.source[pool] == src]
                    train.append(int(rng.choice(takes)))
            out.append((f"draw {d} (test fold {test_fold})", np.array(sorted(train)), np.flatnonzero(self.fold == test_fold)))
        return out

    def folds(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [(f"fold {f}", np.flatnonzero(self.fold != f), np.flatnonzero(self.fold == f)) for f in range(1, 6)]


# -- pooling and normalisation -----------------------------------------------------------------------

def _l2n(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-8)


def _pool(E: np.ndarray, how: str) -> np.ndarray:
    if how == "mean":
        return E.mean(0)
    if how == "meanmax":
        return np.concatenate([E.mean(0), E.max(0)])
    if how == "top3":  # attention-free top-k: per dimension, the mean of the 3 largest frame values
        k = min(3, len(E))
        return np.sort(E, axis=0)[-k:].mean(0)
    raise ValueError(how)


# -- candidates: fit on train indices, give test probabilities ----------------------------------------

def _sk_logreg(data: Data, tr, te, seed, *, pool="mean", norm="l2", C=1.0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X = np.stack([_pool(data.frames[i], pool) for i in np.r_[tr, te]])
    if norm == "l2":
        X = _l2n(X)
    elif norm == "standard":
        X = StandardScaler().fit(X[: len(tr)]).transform(X)
    clf = LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(X[: len(tr)], data.y[tr])
    P = np.zeros((len(te), len(data.labels)))
    P[:, clf.classes_] = clf.predict_proba(X[len(tr):])
    return P


def _sk_logreg_frames(data: Data, tr, te, seed, *, C=1.0, shifts=False, tta=False) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    Xs, ys = [], []
    for i in tr:
        for E in [data.frames[i], *(data.shifted[i] if shifts else [])]:
            Xs.append(_l2n(E))
            ys.append(np.full(len(E), data.y[i]))
    clf = LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(np.concatenate(Xs), np.concatenate(ys))
    out = np.zeros((len(te), len(data.labels)))
    for r, i in enumerate(te):
        views = [data.frames[i], *(data.shifted[i] if tta else [])]
        out[r, clf.classes_] = np.mean([clf.predict_proba(_l2n(E)).mean(0) for E in views], axis=0)
    return out


def _prototypes(data: Data, tr, te, seed, *, level="clip", temperature=0.05) -> np.ndarray:
    """Nearest class centroid by cosine similarity (softmax over similarities / temperature)."""
    n = len(data.labels)
    if level == "clip":
        Z = _l2n(np.stack([data.frames[i].mean(0) for i in tr]))
        C = _l2n(np.stack([Z[data.y[tr] == k].mean(0) for k in range(n)]))
        S = _l2n(np.stack([data.frames[i].mean(0) for i in te])) @ C.T
    else:  # frames: centroids of frames, a clip scored by its frames' mean similarity
        F = [_l2n(data.frames[i]) for i in tr]
        C = _l2n(np.stack([np.concatenate([f for f, i in zip(F, tr, strict=True) if data.y[i] == k]).mean(0) for k in range(n)]))
        S = np.stack([(_l2n(data.frames[i]) @ C.T).mean(0) for i in te])
    Z = np.exp((S - S.max(1, keepdims=True)) / temperature)
    return Z / Z.sum(1, keepdims=True)


def _keras_head(data: Data, tr, te, seed, *, hidden=256, l2=3e-3, normalize=False, shifts=False, tta=False,
                heads=1, epochs=50) -> np.ndarray:
    """The YAMNet head as soundkit builds it (yamnet.build), trained on every training frame
    without a validation split: Adam 1e-3, cosine schedule with 3 warm-up epochs, 256-frame batches."""
    import keras

    from soundkit.config import TrainConfig
    from soundkit.models import yamnet as ym
    from soundkit.training import _lr_schedule, compile_model

    keras.utils.set_random_seed(seed)
    cfg = TrainConfig(model="yamnet", seed=seed, epochs=epochs,
                      options={"hidden": hidden, "l2": l2, "heads": heads, "normalize": normalize})
    Xs, ys = [], []
    for i in tr:
        for E in [data.frames[i], *(data.shifted[i] if shifts else [])]:
            Xs.append(E)
            ys.append(np.full(len(E), data.y[i]))
    X, y = np.concatenate(Xs), np.concatenate(ys)
    counts = np.bincount(y, minlength=len(data.labels)).astype(float)
    w = (len(y) / (len(data.labels) * np.maximum(counts, 1)))[y].astype(np.float32)
    model = ym.build((ym.EMBEDDING_SIZE,), len(data.labels), cfg)
    compile_model(model, cfg)
    model.fit(X, y, sample_weight=w, batch_size=256, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[_lr_schedule(cfg, "loss")])
    out = np.zeros((len(te), len(data.labels)))
    for r, i in enumerate(te):
        views = [data.frames[i], *(data.shifted[i] if tta else [])]
        out[r] = np.mean([model.predict(E, verbose=0, batch_size=512).mean(0) for E in views], axis=0)
    return out


def _pipeline(data: Data, tr, te, seed, **options) -> np.ndarray:
    """The default YAMNet head through soundkit's own cross_validate (validation split included)."""
    from soundkit.config import TrainConfig
    from soundkit.datasets import Dataset
    from soundkit.training import cross_validate

    clips = [replace(data.clips[i], fold=1) for i in tr] + [replace(data.clips[i], fold=2) for i in te]
    ds = Dataset(data.dataset.root, clips, "folders", official_folds=True)
    cfg = TrainConfig(model="yamnet", seed=seed, options=options)
    res = cross_validate(ds, config=cfg, folds=[2], cache_dir=_WORK[0] / "cache")
    rep = res.reports[2]
    by_id = {c["id"]: c for c in rep.clips}
    # one-hot of the pipeline's prediction is enough for accuracy
    P = np.zeros((len(te), len(data.labels)))
    for r, i in enumerate(te):
        P[r, data.labels.index(by_id[data.clips[i].id]["predicted"])] = 1
    return P


def _lr_frames_crops(data: Data, tr, te, seed, *, C=3.0, crop=0.6) -> np.ndarray:
    """lr-frames-l2 (C) with test-time averaging over three crops of the clip's frames (start, middle,
    end; ``crop`` of its length each)."""
    from sklearn.linear_model import LogisticRegression

    X = np.concatenate([_l2n(data.frames[i]) for i in tr])
    y = np.concatenate([np.full(len(data.frames[i]), data.y[i]) for i in tr])
    clf = LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(X, y)
    out = np.zeros((len(te), len(data.labels)))
    for r, i in enumerate(te):
        P = clf.predict_proba(_l2n(data.frames[i]))
        n = len(P)
        k = max(1, round(crop * n))
        starts = sorted({0, (n - k) // 2, n - k})
        out[r, clf.classes_] = np.mean([P[a:a + k].mean(0) for a in starts], axis=0)
    return out


_BLOCKS: list = []


def _finetune(data: Data, tr, te, seed, *, train=("layer14",), epochs=10, lr=1e-4, C=3.0, batch=32) -> np.ndarray:
    """YAMNet's layer13 + layer14 rebuilt in Keras from the TFLite weights (bench/yamnet_blocks.py) on the
    cached input of layer13; the head (L2 norm -> softmax) starts as the frame-level logistic regression
    (C) on the rebuilt embeddings; then the blocks in ``train`` and the head are fine-tuned with Adam
    (``lr``, ``epochs`` over the training frames, cross-entropy). ``epochs=0``: the rebuilt blocks, no
    fine-tuning (the control). A clip is the mean of its frames' probabilities."""
    import keras
    from sklearn.linear_model import LogisticRegression

    from bench import yamnet_blocks as yb
    from soundkit.models import yamnet as ym

    if not _BLOCKS:
        _BLOCKS.append(yb.block_weights(ym.model_path()))
    acts = data.layer13_inputs()
    keras.utils.set_random_seed(seed)
    model = yb.build(_BLOCKS[0], start="layer13", n_classes=len(data.labels))
    embed = keras.Model(model.input, model.get_layer("embedding").output)
    Xtr = np.concatenate([acts[i] for i in tr]).astype(np.float32)
    ytr = np.concatenate([np.full(len(acts[i]), data.y[i]) for i in tr])
    Z = _l2n(embed.predict(Xtr, batch_size=256, verbose=0))
    clf = LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(Z, ytr)
    kernel = np.zeros((ym.EMBEDDING_SIZE, len(data.labels)), dtype=np.float32)
    bias = np.full(len(data.labels), -30.0, dtype=np.float32)  # a class absent from training stays improbable
    kernel[:, clf.classes_] = clf.coef_.T
    bias[clf.classes_] = clf.intercept_
    model.get_layer("probabilities").set_weights([kernel, bias])
    if epochs:
        for layer in model.layers:
            if layer.name.startswith("layer"):
                layer.trainable = layer.name.split("_")[0] in train
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
        model.fit(Xtr, ytr, batch_size=batch, epochs=epochs, shuffle=True, verbose=0)
    P = model.predict(np.concatenate([acts[i] for i in te]).astype(np.float32), verbose=0, batch_size=256)
    return np.stack([p.mean(0) for p in np.split(P, np.cumsum([len(acts[i]) for i in te])[:-1])])


def blocks_fidelity(data: Data, n: int = 40) -> dict:
    """How close the Keras rebuild of layer13+14 (on cached layer13 inputs) comes to the cached embeddings
    (LiteRT with XNNPACK, what soundkit trains on), beside how close LiteRT's builtin kernels (all
    tensors preserved, no XNNPACK) come to them: cosine similarity per sounding frame, first ``n`` clips."""
    from bench import yamnet_blocks as yb
    from soundkit import audio
    from soundkit.models import yamnet as ym

    if not _BLOCKS:
        _BLOCKS.append(yb.block_weights(ym.model_path()))
    model = yb.build(_BLOCKS[0], start="layer13")
    acts = data.layer13_inputs()[:n]
    rebuilt = model.predict(np.concatenate(acts).astype(np.float32), verbose=0, batch_size=256)
    xnn = np.concatenate(data.frames[:n])
    waves = [audio.load(c.path, sr=ym.SAMPLE_RATE)[0] for c in data.clips[:n]]
    _, builtin = yb.activations(ym.model_path(), waves, delegate=False)
    builtin = np.concatenate([E[m] for E, m in zip(builtin, data.masks[:n], strict=True)])

    def cos(a, b):
        c = np.sum(_l2n(a) * _l2n(b), axis=1)
        return {"mean": float(c.mean()), "min": float(c.min()), "median": float(np.median(c))}

    return {"clips": n, "frames": int(len(xnn)), "rebuilt_vs_xnnpack": cos(rebuilt, xnn),
            "builtin_vs_xnnpack": cos(builtin, xnn)}


_CNN_PROBS: dict = {}


def _cnn(data: Data, tr, te, seed) -> np.ndarray:
    """The recipe's CNN (soundkit defaults: random crops, 50 epochs, 15% validation split) trained on the
    training clips; a clip is the weighted mean of its windows' probabilities. Kept in memory per split
    and seed so the fusions below reuse it."""
    key = (tuple(tr), tuple(te), seed)
    if key in _CNN_PROBS:
        return _CNN_PROBS[key]
    from soundkit import models
    from soundkit.config import FeatureConfig, TrainConfig
    from soundkit.evaluation import pool_windows
    from soundkit.training import _eval_windows, _fit_evaluate, _Inputs, validation_split

    features, cfg = FeatureConfig(), TrainConfig(model="cnn", seed=seed)
    fam = models.family("cnn")
    inputs = _Inputs(fam, features, _WORK[0] / "cache")
    clips = [data.clips[i] for i in np.r_[tr, te]]
    inputs.compute(clips, emit=lambda **_: None)
    fit_clips, val_clips = validation_split([data.clips[i] for i in tr], fraction=cfg.validation_fraction, seed=seed)
    model, _, _, _ = _fit_evaluate(fam, data.labels, fit_clips, val_clips, [], inputs, features=features,
                                   config=cfg, emit=lambda **_: None, should_stop=None)
    parts = [_eval_windows(inputs[data.clips[i]], fam, features) for i in te]
    P = model.predict(np.concatenate([W for W, _ in parts]), verbose=0, batch_size=256)
    P = np.split(P, np.cumsum([len(W) for W, _ in parts])[:-1])
    out = np.stack([pool_windows(p, w) for p, (_, w) in zip(P, parts, strict=True)])
    _CNN_PROBS[key] = out
    return out


def _weighted(parts: list[tuple[float, Callable]]) -> Callable:
    def run(data, tr, te, seed):
        return sum(w * p(data, tr, te, seed) for w, p in parts) / sum(w for w, _ in parts)

    return run


def _ensemble(*parts: Callable) -> Callable:
    def run(data, tr, te, seed):
        return np.mean([p(data, tr, te, seed) for p in parts], axis=0)

    return run


_WORK: list[Path] = []


def _p(fn, **kw) -> Callable:
    return lambda data, tr, te, seed: fn(data, tr, te, seed, **kw)


#: name -> (description, fit/predict function, deterministic: same for every seed)
CANDIDATES: dict[str, tuple[str, Callable, bool]] = {
    "pipeline-default": ("the MLP head, the default before #16 (256 relu, l2 3e-3) via soundkit's cross_validate, 15% validation split", _p(_pipeline, classifier="mlp"), False),
    "lr-meanmax-std": ("logistic regression on mean+max pooled clip embeddings, standardised (the issue's baseline)", _p(_sk_logreg, pool="meanmax", norm="standard"), True),
    "lr-mean-l2": ("logistic regression on the L2-normalised mean embedding", _p(_sk_logreg, pool="mean", norm="l2"), True),
    "lr-top3-l2": ("logistic regression on L2-normalised top-3 pooling (per dimension)", _p(_sk_logreg, pool="top3", norm="l2"), True),
    "lr-mean-l2-C10": ("as lr-mean-l2 with C=10 (weaker regularisation)", _p(_sk_logreg, pool="mean", norm="l2", C=10.0), True),
    "lr-frames-l2": ("logistic regression on L2-normalised frames, clip = mean of frame probabilities", _p(_sk_logreg_frames), True),
    "lr-frames-l2-C10": ("as lr-frames-l2 with C=10", _p(_sk_logreg_frames, C=10.0), True),
    "proto-clip": ("nearest class centroid (cosine) of mean embeddings", _p(_prototypes, level="clip"), True),
    "proto-frames": ("nearest class centroid (cosine) of frames, clip = mean frame similarity", _p(_prototypes, level="frames"), True),
    "pipeline-logistic": ("options classifier=logistic, C=1 via soundkit's cross_validate: L2-normalised frames, exact multinomial logistic regression, validation frames merged in", _p(_pipeline, classifier="logistic", C=1.0), True),
    "pipeline-logistic-C3": ("as pipeline-logistic with C=3: the default after #16", _p(_pipeline, classifier="logistic", C=3.0), True),
    "pipeline-logistic-C0.3": ("as pipeline-logistic with C=0.3", _p(_pipeline, classifier="logistic", C=0.3), True),
    "lr-frames-l2-C3": ("as lr-frames-l2 with C=3", _p(_sk_logreg_frames, C=3.0), True),
    "lr-frames-l2-shift": ("lr-frames-l2 + frames of the clip shifted by 0.16/0.32 s as training examples", _p(_sk_logreg_frames, shifts=True), True),
    "lr-frames-l2-shift-tta": ("lr-frames-l2-shift + test-time averaging over the shifted framings", _p(_sk_logreg_frames, shifts=True, tta=True), True),
    "lr-frames-l2-tta": ("lr-frames-l2 + test-time averaging over the shifted framings", _p(_sk_logreg_frames, tta=True), True),
    "head-all": ("the default head trained on all clips (no validation split)", _p(_keras_head), False),
    "head-l2norm": ("head-all on L2-normalised frame embeddings", _p(_keras_head, normalize=True), False),
    "head-linear-l2norm": ("linear softmax head on L2-normalised frames, l2 1e-4", _p(_keras_head, hidden=0, l2=1e-4, normalize=True), False),
    "head-l2norm-shift": ("head-l2norm + frames of the clip shifted by 0.16/0.32 s as training examples", _p(_keras_head, normalize=True, shifts=True), False),
    "head-l2norm-shift-tta": ("head-l2norm-shift + test-time averaging over the shifted framings", _p(_keras_head, normalize=True, shifts=True, tta=True), False),
    "head-l2norm-x5": ("head-l2norm with 5 heads averaged", _p(_keras_head, normalize=True, heads=5), False),
    "ens-head-lr": ("mean of head-l2norm and lr-frames-l2 probabilities", _ensemble(_p(_keras_head, normalize=True), _p(_sk_logreg_frames)), False),
    "lr-frames-l2-C3-tta": ("lr-frames-l2-C3 + test-time averaging over the clip's framings shifted by 0 / 0.16 / 0.32 s", _p(_sk_logreg_frames, C=3.0, tta=True), True),
    "lr-frames-l2-C3-shift": ("lr-frames-l2-C3 + frames of the clip shifted by 0.16/0.32 s as training examples", _p(_sk_logreg_frames, C=3.0, shifts=True), True),
    "lr-frames-l2-C3-crop-tta": ("lr-frames-l2-C3 + test-time averaging over 3 crops (start, middle, end) of 60% of the clip's frames", _p(_lr_frames_crops), True),
    "ens-lr-proto": ("mean of lr-frames-l2-C3 and proto-frames probabilities (logistic + prototype)", _ensemble(_p(_sk_logreg_frames, C=3.0), _p(_prototypes, level="frames")), True),
    "ens-lr-meanmax": ("mean of lr-frames-l2-C3 and lr-meanmax-std probabilities (frame-level + clip-level logistic)", _ensemble(_p(_sk_logreg_frames, C=3.0), _p(_sk_logreg, pool="meanmax", norm="standard")), True),
    "ens-lr-C1-3-10": ("mean of lr-frames-l2 at C 1, 3 and 10 (a regularisation ensemble; logistic heads are deterministic, so seeds give no ensemble)", _ensemble(*(_p(_sk_logreg_frames, C=c) for c in (1.0, 3.0, 10.0))), True),
    "ens-lr-head": ("mean of lr-frames-l2-C3 and head-l2norm (the MLP head on L2-normalised frames, seeded)", _ensemble(_p(_sk_logreg_frames, C=3.0), _p(_keras_head, normalize=True)), False),
    "cnn": ("the recipe's CNN (log-mel, random crops, 50 epochs, 15% validation) alone", _cnn, False),
    "fuse-lr-cnn": ("mean of lr-frames-l2-C3 and cnn probabilities", _ensemble(_p(_sk_logreg_frames, C=3.0), _cnn), False),
    "fuse-lr-cnn-w0.25": ("0.75 lr-frames-l2-C3 + 0.25 cnn probabilities", _weighted([(0.75, _p(_sk_logreg_frames, C=3.0)), (0.25, _cnn)]), False),
    "ft-rebuilt": ("control for the fine-tuning: layer13+14 rebuilt in Keras from the TFLite weights on cached layer13 inputs, frame-level logistic (C 3) on its embeddings, no fine-tuning", _p(_finetune, epochs=0), True),
    "ft-layer14": ("ft-rebuilt, then layer14 + head fine-tuned on the few shots (Adam 1e-4, 10 epochs, batch 32 frames)", _p(_finetune, train=("layer14",)), False),
    "ft-layer13-14": ("ft-rebuilt, then layer13 + layer14 + head fine-tuned (Adam 1e-4, 10 epochs, batch 32 frames)", _p(_finetune, train=("layer13", "layer14")), False),
    "ft-layer14-lr1e-3": ("as ft-layer14 with Adam 1e-3", _p(_finetune, train=("layer14",), lr=1e-3), False),
}


def run(esc10: Path, work: Path, names: list[str] | None = None, log=print, *, protocols_wanted=None,
        previous: dict | None = None, save=None, seeds: tuple[int, ...] = SEEDS) -> dict:
    """Measure ``names`` (default all) under ``protocols_wanted`` (default both); results of other
    candidates and protocols in ``previous`` are kept; ``save(results)`` after each one."""
    _WORK[:] = [work]
    t0 = time.perf_counter()
    data = Data(esc10, work)
    log(f"embeddings ready in {time.perf_counter() - t0:.0f} s")
    protocols = {"6-shot": data.draws(), "full": data.folds()}
    protocols = {k: v for k, v in protocols.items() if not protocols_wanted or k in protocols_wanted}
    results: dict = {"protocols": {
        "6-shot": f"{DRAWS} draws x seeds {list(SEEDS)}: {SHOTS} clips of distinct sources per class from 4 folds, tested on the 5th (80 clips)",
        "full": f"ESC-10 official 5 folds x seeds {list(SEEDS)} (320 training clips, 80 test clips)",
    }, "candidates": dict((previous or {}).get("candidates", {}))}
    if any(n.startswith("ft-") for n in names or list(CANDIDATES)):
        results["blocks_fidelity"] = blocks_fidelity(data)
        log(f"blocks fidelity: {results['blocks_fidelity']}")
    elif (previous or {}).get("blocks_fidelity"):
        results["blocks_fidelity"] = previous["blocks_fidelity"]
    for name in names or list(CANDIDATES):
        desc, fn, deterministic = CANDIDATES[name]
        entry = {**results["candidates"].get(name, {}), "description": desc, "deterministic": deterministic}
        for proto, splits in protocols.items():
            runs = []
            t = time.perf_counter()
            for split_name, tr, te in splits:
                for seed in seeds:
                    if deterministic and seed != seeds[0]:
                        runs.append({**runs[-1], "seed": seed})
                        continue
                    P = fn(data, tr, te, seed)
                    acc = float((P.argmax(1) == data.y[te]).mean())
                    runs.append({"split": split_name, "seed": seed, "accuracy": acc, "n_test": int(len(te)), "n_train": int(len(tr))})
            accs = [r["accuracy"] for r in runs]
            entry[proto] = {"runs": runs, "median": statistics.median(accs), "mean": statistics.mean(accs),
                            "min": min(accs), "max": max(accs), "std": statistics.pstdev(accs),
                            "seconds": time.perf_counter() - t}
            log(f"{name} {proto}: median {entry[proto]['median']:.3f} mean {entry[proto]['mean']:.3f} "
                f"[{entry[proto]['min']:.3f}, {entry[proto]['max']:.3f}] {entry[proto]['seconds']:.0f} s")
            results["candidates"][name] = entry
            if save is not None:
                save(results)
    return results
