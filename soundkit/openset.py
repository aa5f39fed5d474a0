""""None of these": open-set scores, their calibration per run, open-set metrics, background clips.

A closed-set classifier always answers with one of its classes. :class:`OpenSet` adds "unknown" as
an answer: a score that is high for sounds like the training classes and low for others, and a
threshold calibrated on clips the model did not fit (the run's validation clips), by default the
score that keeps :data:`KEEP` (95 %) of them. :func:`calibrate_run` writes it into the run
(``calibration.json``, plus ``openset.npz`` for embedding statistics, and an ``open_set`` section in
report.json); :meth:`OpenSet.load` reads it back and the Predictor and the Listener use it by default.

Scores (higher = more like a known class):

- ``msp``: the clip's top probability (maximum softmax probability; any model);
- embedding models (YAMNet head) only, from the frame embeddings and the class statistics of the
  training frames: ``prototype`` (cosine similarity to the nearest class mean), ``mahalanobis``
  (minus the smallest Mahalanobis distance to a class mean under one shared Ledoit-Wolf covariance),
  and from the head's own pre-softmax outputs (its weights are copied into ``openset.npz``):
  ``energy`` (log-sum-exp of the logits) and ``max_logit``.

A clip's distance/logit score is the mean of its frames' scores; a window's is its frame's.
:data:`DEFAULT_METHOD` was chosen on ESC-10 with classes left out (``cv --open-set``, BENCHMARKS.md).

:func:`open_set_cv` measures it honestly: it trains without K classes (several draws, every fold),
scores the held-out fold's clips of the known classes and of the left-out ones, and reports AUROC
(sklearn), the calibrated threshold's known-accepted and unknown-rejected rates and the accuracy
on accepted known clips.

:func:`background_clips` / :func:`write_background` make clips of silence and noise for an optional
``_background_`` class.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundkit.errors import ModelError, ParameterError

__all__ = [
    "KEEP",
    "METHODS",
    "DEFAULT_METHOD",
    "BACKGROUND_LABEL",
    "with_background",
    "OpenSet",
    "scores",
    "calibrate_run",
    "open_set_metrics",
    "open_set_cv",
    "background_clips",
    "write_background",
    "parse_unknown",
]

log = logging.getLogger(__name__)

#: Share of known (calibration) clips the default threshold accepts.
KEEP = 0.95
METHODS = ("msp", "prototype", "mahalanobis", "energy", "max_logit")
EMBEDDING_METHODS = METHODS[1:]
#: The score a run uses by default, per model kind (chosen by BENCHMARKS.md "Open set").
DEFAULT_METHOD = {"logmel": "msp", "embedding": "mahalanobis"}
BACKGROUND_LABEL = "_background_"
CALIBRATION_FILE = "calibration.json"
STATS_FILE = "openset.npz"


# -- scores ----------------------------------------------------------------------------------------

@dataclass
class _Stats:
    """Class statistics of training frame embeddings (and the head's weights, when known)."""

    means: np.ndarray  # (C, D)
    unit_means: np.ndarray  # (C, D), L2-normalised
    precision: np.ndarray  # (D, D)
    head: list[np.ndarray] | None = None  # [W1, b1, W2, b2]: logits = relu(e W1 + b1) W2 + b2

    @classmethod
    def fit(cls, frames: Sequence[np.ndarray], y: Sequence[int], n_classes: int, head: list[np.ndarray] | None = None) -> _Stats:
        from sklearn.covariance import LedoitWolf

        X = np.concatenate(frames).astype(np.float64)
        yy = np.concatenate([np.full(len(f), k) for f, k in zip(frames, y, strict=True)])
        means = np.stack([X[yy == k].mean(axis=0) for k in range(n_classes)])
        lw = LedoitWolf(assume_centered=True).fit(X - means[yy])
        unit = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        return cls(means.astype(np.float32), unit.astype(np.float32), lw.precision_.astype(np.float32), head)

    def frame_scores(self, E: np.ndarray) -> dict[str, np.ndarray]:
        """Per-frame scores of embeddings E (n, D): {method: (n,)}."""
        E = np.asarray(E, dtype=np.float32)
        out: dict[str, np.ndarray] = {}
        En = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
        out["prototype"] = (En @ self.unit_means.T).max(axis=1)
        if getattr(self, "_white", None) is None:  # precision = L L^T: distances in whitened space
            L = np.linalg.cholesky(self.precision.astype(np.float64))
            self._white = (L.astype(np.float32), (self.means @ L).astype(np.float32))
        L, white_means = self._white
        z = E @ L
        m = (z * z).sum(1)[:, None] - 2 * z @ white_means.T + (white_means * white_means).sum(1)[None, :]
        out["mahalanobis"] = -np.sqrt(np.maximum(m.min(axis=1), 0))
        if self.head is not None:
            W1, b1, W2, b2 = self.head
            logits = np.maximum(E @ W1 + b1, 0) @ W2 + b2
            mx = logits.max(axis=1)
            out["energy"] = mx + np.log(np.exp(logits - mx[:, None]).sum(axis=1))
            out["max_logit"] = mx
        return out

    def save(self, path: Path) -> None:
        import io

        from soundkit.runs import write_atomic

        buf = io.BytesIO()
        arrays = {"means": self.means, "unit_means": self.unit_means, "precision": self.precision}
        if self.head is not None:
            arrays.update({f"head{i}": a for i, a in enumerate(self.head)})
        np.savez_compressed(buf, **arrays)
        write_atomic(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> _Stats:
        try:
            with np.load(path) as z:
                head = [z[f"head{i}"] for i in range(4)] if "head0" in z else None
                return cls(z["means"], z["unit_means"], z["precision"], head)
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{path}: unreadable open-set statistics ({exc})") from None


def scores(P: np.ndarray, E: np.ndarray | None = None, stats: _Stats | None = None) -> dict[str, float]:
    """Every available open-set score of one clip.

    Parameters
    ----------
    P : np.ndarray, shape (n_classes,)
        The clip's (pooled) probabilities.
    E : np.ndarray, shape (n_frames, D), optional
        Its frame embeddings (embedding models).
    stats : class statistics, optional

    Returns
    -------
    dict method -> score (higher: more like a known class)
    """
    out = {"msp": float(np.max(P))}
    if E is not None and stats is not None and len(E):
        out.update({k: float(v.mean()) for k, v in stats.frame_scores(E).items()})
    return out


# -- the calibrated open-set check -------------------------------------------------------------------

@dataclass
class OpenSet:
    """A calibrated "unknown" decision for one run.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    threshold : float
        Clips scoring below it are "unknown".
    window_threshold : float
        The same for single windows (the listener), calibrated on the calibration clips' windows.
    keep : float
        Share of calibration clips the threshold accepts.
    known_scores : list of float
        The calibration clips' scores for ``method`` (the page's slider shows what a threshold means).
    background_scores : list of float
        Scores of generated silence/noise clips (none of the classes).
    thresholds, window_thresholds : dict method -> float
        Calibrated thresholds of every available method.
    """

    method: str
    threshold: float
    window_threshold: float
    keep: float = KEEP
    known_scores: list[float] = field(default_factory=list)
    background_scores: list[float] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    window_thresholds: dict[str, float] = field(default_factory=dict)
    known_scores_by_method: dict[str, list[float]] = field(default_factory=dict)
    background_scores_by_method: dict[str, list[float]] = field(default_factory=dict)
    calibrated_on: dict[str, Any] = field(default_factory=dict)
    stats: _Stats | None = None

    def with_method(self, method: str) -> OpenSet:
        if method not in self.thresholds:
            raise ParameterError(f"open-set method {method!r} is not calibrated for this run; choose from {', '.join(self.thresholds)}")
        import dataclasses

        return dataclasses.replace(self, method=method, threshold=self.thresholds[method],
                                   window_threshold=self.window_thresholds.get(method, self.thresholds[method]),
                                   known_scores=self.known_scores_by_method.get(method, []),
                                   background_scores=self.background_scores_by_method.get(method, []))

    def with_threshold(self, threshold: float) -> OpenSet:
        """The same check at another clip threshold (the window threshold moves by as much)."""
        import dataclasses

        return dataclasses.replace(self, threshold=float(threshold),
                                   window_threshold=self.window_threshold + float(threshold) - self.threshold)

    def clip_score(self, P: np.ndarray, E: np.ndarray | None = None) -> float:
        s = scores(P, E, self.stats)
        if self.method not in s:
            raise ModelError(f"open-set method {self.method!r} needs frame embeddings")
        return s[self.method]

    def reject(self, P: np.ndarray, E: np.ndarray | None = None) -> bool:
        """Whether a clip (probabilities P, frame embeddings E) is "unknown"."""
        return self.clip_score(P, E) < self.threshold

    def window_score(self, p: np.ndarray, e: np.ndarray | None = None) -> float:
        if self.method == "msp" or e is None or self.stats is None:
            return float(np.max(p))
        return float(self.stats.frame_scores(np.asarray(e)[None, :])[self.method][0])

    def reject_window(self, p: np.ndarray, e: np.ndarray | None = None) -> bool:
        """Whether one listener window (smoothed probabilities p, its embedding e) is "unknown"."""
        if self.method != "msp" and e is None:
            return False
        return self.window_score(p, e) < self.window_threshold

    def rates(self, threshold: float | None = None) -> dict[str, float | None]:
        """Share of calibration clips accepted and of background clips rejected at ``threshold``."""
        t = self.threshold if threshold is None else float(threshold)
        k, b = np.asarray(self.known_scores), np.asarray(self.background_scores)
        return {"known_accepted": float((k >= t).mean()) if k.size else None,
                "background_rejected": float((b < t).mean()) if b.size else None}

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "threshold": self.threshold, "window_threshold": self.window_threshold,
                "keep": self.keep, "thresholds": self.thresholds, "window_thresholds": self.window_thresholds,
                "known_scores": self.known_scores_by_method, "background_scores": self.background_scores_by_method,
                "calibrated_on": self.calibrated_on, **self.rates()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], stats: _Stats | None = None) -> OpenSet:
        try:
            method = str(d["method"])
            ks, bs = dict(d.get("known_scores", {})), dict(d.get("background_scores", {}))
            return cls(method=method, threshold=float(d["threshold"]), window_threshold=float(d["window_threshold"]),
                       keep=float(d.get("keep", KEEP)), known_scores=list(ks.get(method, [])),
                       background_scores=list(bs.get(method, [])),
                       thresholds={k: float(v) for k, v in d.get("thresholds", {}).items()},
                       window_thresholds={k: float(v) for k, v in d.get("window_thresholds", {}).items()},
                       known_scores_by_method=ks, background_scores_by_method=bs,
                       calibrated_on=dict(d.get("calibrated_on", {})), stats=stats)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"bad open-set calibration ({exc})") from None

    def save(self, run_dir: str | os.PathLike) -> None:
        from soundkit.runs import write_atomic

        run_dir = Path(run_dir)
        if self.stats is not None:
            self.stats.save(run_dir / STATS_FILE)
        write_atomic(run_dir / CALIBRATION_FILE, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> OpenSet | None:
        """The run's calibration, or None when it has none."""
        run_dir = Path(run_dir)
        path = run_dir / CALIBRATION_FILE
        if not path.is_file():
            return None
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: unreadable ({exc})") from None
        stats = _Stats.load(run_dir / STATS_FILE) if (run_dir / STATS_FILE).is_file() else None
        return cls.from_dict(d, stats)


def parse_unknown(value: str | float | None, open_set: OpenSet | None) -> OpenSet | None:
    """``--unknown auto|off|P``: the run's calibration (auto), none (off), or a threshold P on the top
    probability (msp), for runs with or without a calibration."""
    if value is None or value == "auto":
        return open_set
    if value == "off":
        return None
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"--unknown must be auto, off or a probability in (0, 1), got {value!r}") from None
    if not 0 < p < 1:
        raise ParameterError(f"--unknown must be auto, off or a probability in (0, 1), got {value!r}")
    base = open_set.with_method("msp") if open_set is not None and "msp" in open_set.thresholds else None
    if base is None:
        return OpenSet(method="msp", threshold=p, window_threshold=p, keep=float("nan"), thresholds={"msp": p})
    return base.with_threshold(p)


# -- calibration at training time --------------------------------------------------------------------

def _quantile_threshold(values: np.ndarray, keep: float) -> float:
    return float(np.quantile(np.asarray(values, dtype=np.float64), 1 - keep, method="lower")) if len(values) else float("-inf")


def _head_weights(run_dir: Path) -> list[np.ndarray] | None:
    """[W1, b1, W2, b2] of a one-hidden-layer YAMNet head (from model.keras), else None."""
    try:
        from soundkit.models import load_model

        model = load_model(run_dir / "model.keras")
        dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
        if len(dense) != 2 or dense[0].get_config().get("activation") != "relu":
            return None
        (W1, b1), (W2, b2) = (layer.get_weights() for layer in dense)
        return [np.asarray(a, np.float32) for a in (W1, b1, W2, b2)]
    except Exception as exc:  # noqa: BLE001 - energy/max-logit are optional scores
        log.info("no head weights for energy scores (%s)", exc)
        return None


def _clip_inputs(predictor: Any, clips: Sequence[Any], cache_dir: str | os.PathLike | None):
    """(clip probabilities (n, C), [frame embeddings] or None, [window probabilities]) for clips."""
    from soundkit import audio

    if predictor.kind == "embedding":
        from soundkit.models import yamnet

        E = yamnet.training_inputs([c.path for c in clips], cache_dir=cache_dir)
        Pw = [predictor.window_probabilities(e) for e in E]
        return np.stack([p.mean(axis=0) for p in Pw]), E, Pw
    Pc, Pw = [], []
    for c in clips:
        y, sr = audio.load(c.path, sr=predictor.sample_rate)
        pred = predictor.predict(y, sr, top_k=1, allow_silent=True)
        X, _, _ = predictor.inputs(y, sr, allow_silent=True)
        from soundkit.evaluation import window_weights

        w = window_weights(X, floor=-predictor.features.top_db) > 0
        Pc.append(pred.probabilities)
        Pw.append(pred.window_probabilities[w])
    return np.stack(Pc), None, Pw


def _background_inputs(predictor: Any, n: int, seed: int):
    from soundkit import audio

    clips = background_clips(n, sr=predictor.sample_rate, seed=seed, silence=False)
    Pc, E = [], []
    for _, y in clips:
        if predictor.kind == "embedding":
            from soundkit.models import yamnet

            emb = yamnet.clip_inputs(y, predictor.sample_rate)[0]
            E.append(emb)
            Pc.append(predictor.window_probabilities(emb).mean(axis=0))
        else:
            Pc.append(predictor.predict(y, predictor.sample_rate, top_k=1, allow_silent=True).probabilities)
    del audio
    return np.stack(Pc), (E if E else None)


def calibrate(predictor: Any, fit_clips: Sequence[Any], cal_clips: Sequence[Any], *, keep: float = KEEP,
              cache_dir: str | os.PathLike | None = None, method: str | None = None, n_background: int = 12,
              seed: int = 0) -> OpenSet:
    """Calibrate an :class:`OpenSet` for a loaded run.

    Parameters
    ----------
    predictor : soundkit.predict.Predictor
    fit_clips : sequence of Clip
        Clips the model was fitted on (embedding models: their frames give the class statistics).
    cal_clips : sequence of Clip
        Clips it did not fit (validation clips): the thresholds keep ``keep`` of them.
    keep : float
    cache_dir : path, optional
        Cache root (embeddings come from ``cache_dir/embeddings``).
    method : str, optional
        Default: :data:`DEFAULT_METHOD` for the model's kind.
    n_background : int
        Generated noise clips scored as none of the classes (the slider's "unknown rejected").
    """
    if not 0 < keep < 1:
        raise ParameterError(f"keep must be within (0, 1), got {keep}")
    if not cal_clips:
        raise ParameterError("calibration needs at least one clip the model did not fit")
    labels = list(predictor.labels)
    index = {lab: i for i, lab in enumerate(labels)}
    stats = None
    if predictor.kind == "embedding":
        from soundkit.models import yamnet

        E_fit = yamnet.training_inputs([c.path for c in fit_clips], cache_dir=cache_dir)
        stats = _Stats.fit(E_fit, [index[c.label] for c in fit_clips], len(labels),
                           head=_head_weights(Path(predictor.run_dir)) if predictor.run_dir else None)
    Pc, E, Pw = _clip_inputs(predictor, cal_clips, cache_dir)
    per_clip = [scores(Pc[i], None if E is None else E[i], stats) for i in range(len(cal_clips))]
    methods = [m for m in METHODS if m in per_clip[0]]
    known = {m: [s[m] for s in per_clip] for m in methods}
    thresholds = {m: _quantile_threshold(np.array(known[m]), keep) for m in methods}
    win: dict[str, list[float]] = {m: [] for m in methods}
    for i in range(len(cal_clips)):
        win["msp"] += list(Pw[i].max(axis=1)) if len(Pw[i]) else []
        if E is not None and stats is not None and len(E[i]):
            for m, v in stats.frame_scores(E[i]).items():
                win[m] += list(v)
    window_thresholds = {m: _quantile_threshold(np.array(v), keep) for m, v in win.items() if v}
    bg: dict[str, list[float]] = {m: [] for m in methods}
    if n_background:
        Pb, Eb = _background_inputs(predictor, n_background, seed)
        for i in range(len(Pb)):
            for m, v in scores(Pb[i], None if Eb is None else Eb[i], stats).items():
                bg[m].append(v)
    method = method or DEFAULT_METHOD.get(predictor.kind, "msp")
    if method not in thresholds:
        method = "msp"
    correct = [int(np.argmax(Pc[i])) == index.get(c.label, -1) for i, c in enumerate(cal_clips)]
    return OpenSet(method=method, threshold=thresholds[method], window_threshold=window_thresholds.get(method, thresholds[method]),
                   keep=keep, known_scores=known[method], background_scores=bg[method], thresholds=thresholds,
                   window_thresholds=window_thresholds, known_scores_by_method={m: [float(v) for v in known[m]] for m in methods},
                   background_scores_by_method={m: [float(v) for v in bg[m]] for m in methods},
                   calibrated_on={"clips": len(cal_clips), "split": "validation", "accuracy": float(np.mean(correct)),
                                  "background_clips": n_background},
                   stats=stats)


def calibrate_run(run_dir: str | os.PathLike, dataset: Any, *, cache_dir: str | os.PathLike | None = None,
                  keep: float = KEEP) -> OpenSet | None:
    """Calibrate a trained run on its validation clips and save it into the run (training's hook).

    The split is recomputed from the run's TrainConfig exactly as training made it. Writes
    ``calibration.json`` (and ``openset.npz``) and adds an ``open_set`` section to report.json.
    Returns None (and logs why) when the run has no validation clips.
    """
    from soundkit.predict import Predictor
    from soundkit.runs import Run, write_atomic
    from soundkit.training import validation_split

    run = Run(run_dir)
    config = run.load_config().train
    if config.test_fold is not None:
        train_clips, _ = dataset.with_folds(seed=config.seed).split(config.test_fold)
    else:
        train_clips = list(dataset.clips)
    fit, val = validation_split(train_clips, fraction=config.validation_fraction, seed=config.seed)
    if not val:
        log.info("%s: no validation clips, no open-set calibration", run_dir)
        return None
    predictor = Predictor.load(run_dir, open_set="off")
    os_ = calibrate(predictor, fit, val, keep=keep, cache_dir=cache_dir, seed=config.seed)
    os_.save(run_dir)
    report_path = Path(run.report_path)
    if report_path.is_file():
        report = json.loads(report_path.read_text(encoding="utf-8"))
        report["open_set"] = {k: v for k, v in os_.to_dict().items() if k not in ("known_scores", "background_scores")}
        write_atomic(report_path, json.dumps(report, indent=2))
    return os_


# -- open-set metrics and the leave-classes-out cross-validation ---------------------------------------

def open_set_metrics(known_scores: np.ndarray, unknown_scores: np.ndarray, threshold: float, *,
                     known_correct: np.ndarray | None = None) -> dict[str, float | None]:
    """AUROC of known vs unknown (sklearn) and the rates at ``threshold``.

    Parameters
    ----------
    known_scores, unknown_scores : np.ndarray, shape (n,), (m,)
    threshold : float
        Accept (known) at or above it.
    known_correct : np.ndarray of bool, shape (n,), optional
        Whether each known clip's top label is right (for the accuracy on accepted clips).

    Returns
    -------
    dict: auroc, threshold, known_accepted, unknown_rejected, accuracy_on_accepted,
    closed_set_accuracy, open_set_accuracy (known clips right and accepted, unknown clips rejected).
    """
    from sklearn.metrics import roc_auc_score

    k, u = np.asarray(known_scores, float), np.asarray(unknown_scores, float)
    if not k.size or not u.size:
        raise ParameterError("open-set metrics need known and unknown scores")
    auroc = float(roc_auc_score(np.r_[np.ones(k.size), np.zeros(u.size)], np.r_[k, u]))
    acc_k = k >= threshold
    out: dict[str, float | None] = {"auroc": auroc, "threshold": float(threshold),
                                    "known_accepted": float(acc_k.mean()), "unknown_rejected": float((u < threshold).mean())}
    if known_correct is not None:
        c = np.asarray(known_correct, bool)
        out["accuracy_on_accepted"] = float(c[acc_k].mean()) if acc_k.any() else None
        out["closed_set_accuracy"] = float(c.mean())
        out["open_set_accuracy"] = float(((c & acc_k).sum() + (u < threshold).sum()) / (k.size + u.size))
    return out


def open_set_cv(dataset: Any, *, k: int = 2, draws: int = 3, features: Any = None, config: Any = None,
                folds: Sequence[int] | None = None, cache_dir: str | os.PathLike | None = None,
                progress: Callable[[dict], None] | None = None, seed: int = 0,
                work_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Leave ``k`` classes out, ``draws`` times: train on the others (every fold, the run's own
    calibration on its validation clips), score the test fold's clips of known and left-out classes.

    Returns
    -------
    dict: {"k", "draws": [{"unknown": [labels], "folds": {...}, method: metrics}], "methods": {method:
    {"auroc_mean", "auroc_std", "known_accepted", "unknown_rejected", "accuracy_on_accepted",
    "closed_set_accuracy"}}, "default_method", "seconds"}
    """
    from soundkit.config import FeatureConfig, TrainConfig
    from soundkit.predict import Predictor
    from soundkit.training import train

    t0 = time.monotonic()
    features = features or FeatureConfig()
    config = config or TrainConfig(model="yamnet")
    labels = list(dataset.labels)
    if not 1 <= k <= len(labels) - 2:
        raise ParameterError(f"--open-set K must leave at least 2 known classes: K within 1..{len(labels) - 2}, got {k}")
    if draws < 1:
        raise ParameterError(f"draws must be >= 1, got {draws}")
    data = dataset.with_folds(seed=config.seed)
    folds = list(data.folds if folds is None else folds)
    rng = np.random.default_rng(seed)
    chosen: list[list[str]] = []
    while len(chosen) < draws:
        pick = sorted(rng.choice(labels, size=k, replace=False).tolist())
        if pick not in chosen or len(chosen) >= _n_choose(len(labels), k):
            chosen.append(pick)
    out_draws = []
    pooled: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory(prefix="soundkit-openset-", dir=work_dir) as tmp:
        for d, unknown in enumerate(chosen):
            known_labels = [lab for lab in labels if lab not in unknown]
            known_ds = data.select(known_labels)
            rows: dict[str, dict[str, list]] = {}
            fold_info = {}
            for f in folds:
                if progress:
                    progress({"stage": "open-set", "draw": d + 1, "fold": f, "message": f"draw {d + 1}: without {', '.join(unknown)}; fold {f}"})
                run_dir = Path(tmp) / f"d{d}-f{f}"
                train(known_ds, out=run_dir, features=features, config=config.replace(test_fold=f), cache_dir=cache_dir)
                predictor = Predictor.load(run_dir)
                os_ = predictor.open_set
                if os_ is None:
                    raise ModelError(f"{run_dir}: training wrote no open-set calibration")
                test = [c for c in data.clips if c.fold == f]
                Pc, E, _ = _clip_inputs(predictor, test, cache_dir)
                is_known = np.array([c.label in known_labels for c in test])
                correct = np.array([c.label == predictor.labels[int(np.argmax(p))] for c, p in zip(test, Pc, strict=True)])
                for i in range(len(test)):
                    for m, v in scores(Pc[i], None if E is None else E[i], os_.stats).items():
                        r = rows.setdefault(m, {"score": [], "known": [], "correct": [], "threshold": []})
                        r["score"].append(v)
                        r["known"].append(bool(is_known[i]))
                        r["correct"].append(bool(correct[i]))
                        r["threshold"].append(os_.thresholds[m])
                fold_info[str(f)] = {"threshold": os_.threshold, "method": os_.method, "calibration_clips": os_.calibrated_on.get("clips")}
            summary: dict[str, Any] = {"unknown": unknown, "folds": fold_info}
            for m, r in rows.items():
                summary[m] = _metrics_of(r)
                pool = pooled.setdefault(m, {"score": [], "known": [], "correct": [], "threshold": []})
                for key in pool:
                    pool[key] += r[key]
            out_draws.append(summary)
    methods = {}
    for m in pooled:
        per = [dr[m] for dr in out_draws if m in dr]
        methods[m] = {"auroc_mean": float(np.mean([p["auroc"] for p in per])), "auroc_std": float(np.std([p["auroc"] for p in per])),
                      **{key: float(np.mean([p[key] for p in per if p.get(key) is not None]))
                         for key in ("known_accepted", "unknown_rejected", "accuracy_on_accepted", "closed_set_accuracy", "open_set_accuracy")}}
    return {"k": k, "draws": out_draws, "methods": methods, "keep": KEEP,
            "default_method": DEFAULT_METHOD.get("embedding" if config.model == "yamnet" else "logmel"),
            "folds": folds, "seconds": round(time.monotonic() - t0, 1)}


def _metrics_of(r: dict[str, list]) -> dict[str, Any]:
    """Metrics of one draw: each clip judged with its own fold's threshold."""
    s, known = np.array(r["score"]), np.array(r["known"])
    thr, correct = np.array(r["threshold"]), np.array(r["correct"])
    from sklearn.metrics import roc_auc_score

    acc = s >= thr
    kk, uu = known, ~known
    return {"auroc": float(roc_auc_score(known.astype(int), s)),
            "known_accepted": float(acc[kk].mean()), "unknown_rejected": float((~acc[uu]).mean()),
            "accuracy_on_accepted": float(correct[kk & acc].mean()) if (kk & acc).any() else None,
            "closed_set_accuracy": float(correct[kk].mean()),
            "open_set_accuracy": float(((correct & acc & kk).sum() + (~acc & uu).sum()) / len(s)),
            "n_known": int(kk.sum()), "n_unknown": int(uu.sum())}


def _n_choose(n: int, k: int) -> int:
    import math

    return math.comb(n, k)


# -- a background class ------------------------------------------------------------------------------

def background_clips(n: int = 20, *, seconds: float = 5.0, sr: int = 44100, seed: int = 0,
                     silence: bool = True) -> list[tuple[str, np.ndarray]]:
    """Clips of room tone and noise for a ``_background_`` class (TF speech_commands and Teachable
    Machine both train one).

    Cycles through near-silence (-70 dBFS white noise), white, pink and brown noise at random levels
    (-50..-20 dBFS RMS) and mains hum (50 or 60 Hz with harmonics, under a little noise).

    Returns
    -------
    list of (name, y float32 (round(seconds * sr),))
    """
    if n < 1 or seconds <= 0:
        raise ParameterError(f"n must be >= 1 and seconds > 0, got {n}, {seconds}")
    rng = np.random.default_rng(seed)
    kinds = (["silence"] if silence else []) + ["white", "pink", "brown", "hum"]
    m = int(round(seconds * sr))
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        white = rng.standard_normal(m)
        if kind in ("pink", "brown"):
            spec = np.fft.rfft(white)
            f = np.maximum(np.fft.rfftfreq(m, 1 / sr), 1.0)
            spec /= np.sqrt(f) if kind == "pink" else f
            y = np.fft.irfft(spec, m)
        elif kind == "hum":
            t = np.arange(m) / sr
            f0 = 50.0 if rng.random() < 0.5 else 60.0
            y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3)) + 0.05 * white
        else:
            y = white
        level = -70.0 if kind == "silence" else float(rng.uniform(-50, -20))
        y = y / max(float(np.sqrt(np.mean(y**2))), 1e-12) * 10 ** (level / 20)
        out.append((f"{kind}-{i}", np.clip(y, -1, 1).astype(np.float32)))
    return out


def write_background(dataset_dir: str | os.PathLike, *, n: int = 20, seconds: float = 5.0, sr: int = 44100,
                     seed: int = 0) -> list[Path]:
    """Write :func:`background_clips` as WAV files into ``dataset_dir/_background_/`` (a class of a
    folder-per-class dataset). Returns the paths."""
    from soundkit.audio import save_wav

    folder = Path(dataset_dir) / BACKGROUND_LABEL
    folder.mkdir(parents=True, exist_ok=True)
    return [save_wav(folder / f"{name}.wav", y, sr) for name, y in background_clips(n, seconds=seconds, sr=sr, seed=seed)]


def with_background(dataset: Any, *, folder: str | os.PathLike, n: int = 20, seconds: float = 5.0, sr: int = 22050,
                    seed: int = 0) -> Any:
    """``dataset`` with a ``_background_`` class of :func:`background_clips` (``train --background``).

    The clips are written once into ``folder`` (WAV files named by their kind and number; kept for
    the features cache and later runs) and dealt round-robin over the dataset's folds when its clips
    have folds (so every test fold holds some), else left for fold assignment like any clip.

    Parameters
    ----------
    dataset : soundkit.datasets.Dataset
        Without a ``_background_`` class of its own.
    folder : path
    n : int
        Clips to make (>= 2).
    seconds, sr, seed :
        As :func:`background_clips`.

    Returns
    -------
    soundkit.datasets.Dataset
    """
    from soundkit.audio import save_wav
    from soundkit.datasets import Clip, Dataset

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ParameterError(f"the background class needs at least 2 clips, got {n!r}")
    if BACKGROUND_LABEL in dataset.labels:
        raise ParameterError(f"{dataset.root}: already has a {BACKGROUND_LABEL} class (drop --background, or its folder)")
    folder = Path(folder) / f"n{n}-s{seconds:g}-sr{sr}-seed{seed}"
    paths = []
    for name, y in background_clips(int(n), seconds=seconds, sr=sr, seed=seed):
        path = folder / f"{name}.wav"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            save_wav(path, y, sr)  # atomic
        paths.append(path)
    folds = dataset.folds if all(c.fold is not None for c in dataset.clips) else []
    extra = [Clip(path, BACKGROUND_LABEL, folds[i % len(folds)] if folds else None, source=f"background-{path.stem}",
                  id=f"{BACKGROUND_LABEL}/{path.stem}") for i, path in enumerate(paths)]
    return Dataset(dataset.root, list(dataset.clips) + extra, dataset.layout, dataset.official_folds,
                   {**dataset.meta, "background_clips": len(extra)})
