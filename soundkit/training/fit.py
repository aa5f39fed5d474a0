"""Fitting and evaluating one model: :func:`_fit_evaluate` (build, class weights, early stopping, lr
schedule, fit, then the clip-level report), the test clips a split can score (:func:`_scorable`),
:func:`evaluate_model` (window probabilities pooled per clip) and the history/best-epoch helpers.

Keras is imported inside :func:`_fit_evaluate`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from soundkit.config import TrainConfig
from soundkit.datasets import Clip
from soundkit.errors import DatasetError
from soundkit.evaluation import Report, pool_windows
from soundkit.training.batches import _eval_windows, _make_train_data
from soundkit.training.fit_setup import _callback, _lr_schedule, compile_model, one_hot_targets
from soundkit.training.inputs import _Inputs
from soundkit.training.progress import TrainingCancelled

log = logging.getLogger(__name__)


def _fit_evaluate(fam, labels, fit_clips, val_clips, test_clips, inputs: _Inputs, *, features, config, emit, should_stop):
    """Build, train and evaluate one model. Returns (model, report, history rows, info dict)."""
    import keras

    if should_stop is not None and should_stop():
        raise TrainingCancelled("training cancelled")
    keras.utils.set_random_seed(config.seed)
    index = {lab: i for i, lab in enumerate(labels)}
    y_fit = np.array([index[c.label] for c in fit_clips], dtype=np.int64)
    test_clips, notes = _scorable(labels, fit_clips, test_clips)
    for note in notes:
        log.warning("%s", note)
    counts = np.bincount(y_fit, minlength=len(labels)).astype(np.float64)
    present = counts > 0
    weights = np.ones(len(labels))
    if config.class_weights:  # "balanced" over the labels this split can learn
        weights[present] = len(y_fit) / (int(present.sum()) * counts[present])
    weights = weights.astype(np.float32)
    fit_items = [inputs[c] for c in fit_clips]
    train_data = _make_train_data(fit_items, y_fit, weights, fam=fam, features=features, config=config)

    val_data = None
    if val_clips:
        parts = [_eval_windows(inputs[c], fam, features) for c in val_clips]
        Xv = np.concatenate([X[w > 0] for X, w in parts])
        yv = np.concatenate([np.full(int((w > 0).sum()), index[c.label]) for c, (_, w) in zip(val_clips, parts, strict=True)])
        if one_hot_targets(config):
            yv = np.eye(len(labels), dtype=np.float32)[yv]
        val_data = (Xv, yv)
    input_shape = train_data.X.shape[1:]
    model = fam.build(input_shape, len(labels), config)

    monitor = "val_loss" if val_data is not None else "loss"
    progress_cb = _callback(emit, should_stop, config.epochs)
    restore = _restores_best(config)
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=config.patience, restore_best_weights=restore, verbose=0,
            start_from_epoch=int(config.options.get("min_epochs", 0)),
        ),
        _lr_schedule(config, monitor),
        progress_cb,
    ]
    t0 = time.monotonic()
    if hasattr(fam, "fit"):
        hist = fam.fit(model, train_data, val_data, config, callbacks)
    else:
        compile_model(model, config)
        hist = model.fit(train_data, validation_data=val_data, epochs=config.epochs, callbacks=callbacks, verbose=0)
    train_seconds = time.monotonic() - t0
    if progress_cb.cancelled:
        raise TrainingCancelled("training cancelled")
    history = _history_rows(hist)

    best = _best_epoch(history, monitor)
    info = {"epochs_run": len(history), "best_epoch": best, "weights": "best epoch" if restore else "last epoch",
            "train_seconds": round(train_seconds, 2), "family": config.model}
    if hasattr(fam, "run_info"):  # pretrained families: {"pretrained", "transfer"} in meta.json
        info.update(fam.run_info(config))
    if not test_clips:  # an estimate made beforehand stands for the report (train(report=...))
        return model, None, history, info
    emit(stage="evaluate", done=0, total=len(test_clips), message=f"evaluating on {len(test_clips)} clips")
    report = evaluate_model(model, [inputs[c] for c in test_clips], [index[c.label] for c in test_clips],
                            labels=labels, fam=fam, features=features,
                            ids=[c.id for c in test_clips], paths=[str(c.path) for c in test_clips],
                            batch_size=config.batch_size, notes=notes)
    emit(stage="evaluate", done=len(test_clips), total=len(test_clips), accuracy=report.accuracy,
         message=f"accuracy {report.accuracy:.3f}")
    return model, report, history, info


def _scorable(labels, fit_clips, test_clips) -> tuple[list[Clip], list[str]]:
    """The test clips a model fitted on ``fit_clips`` can be scored on, and notes on the others.

    A label with no training clips in this split (all its sources sit in the test fold, say) cannot
    be learnt; its test clips are left out of the score and a note says so. DatasetError when no
    label at all can be learnt or no test clip is left.
    """
    have = {c.label for c in fit_clips}
    missing = [lab for lab in labels if lab not in have]
    if len(have) < 2:
        raise DatasetError(f"only {len(have)} label(s) have training clips in this split; need at least 2")
    notes = []
    for lab in missing:
        n = sum(c.label == lab for c in test_clips)
        where = f"its {n} clip(s) here are not scored" if n else "it is never predicted here"
        notes.append(f"label {lab!r} has no training clips in this split (all its sources are held out); {where}")
    kept = [c for c in test_clips if c.label in have]
    if test_clips and not kept:
        raise DatasetError("no test clip can be scored in this split: their labels have no training clips")
    return kept, notes


def evaluate_model(model, items: Sequence[np.ndarray], y_true: Sequence[int], *, labels, fam, features,
                   ids=None, paths=None, batch_size: int = 32, notes: Sequence[str] = ()) -> Report:
    """Clip-level report: window (or frame) probabilities pooled per clip."""
    parts = [_eval_windows(a, fam, features) for a in items]
    X = np.concatenate([p[0] for p in parts])
    P = model.predict(X, batch_size=max(batch_size, 64), verbose=0) if len(X) else np.zeros((0, len(labels)))
    clip_p, k = [], 0
    for _, w in parts:
        clip_p.append(pool_windows(P[k : k + len(w)], w))
        k += len(w)
    return Report.from_probabilities(np.stack(clip_p), np.asarray(y_true), labels=labels, ids=ids, paths=paths, notes=notes)


def _history_rows(hist) -> list[dict[str, float]]:
    h = getattr(hist, "history", None) or {}
    n = max((len(v) for v in h.values()), default=0)
    rows = []
    for i in range(n):
        row: dict[str, float] = {"epoch": i + 1}
        for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if k in h and i < len(h[k]):
                row[k] = float(h[k][i])
        rows.append(row)
    return rows


def _restores_best(config: TrainConfig) -> bool:
    """Whether training ends with the weights of the epoch with the lowest monitored loss.

    Only when early stopping can stop (``patience < epochs``) or ``options["restore_best"]`` asks.
    With the default full cosine schedule the last epoch's weights are kept: a small validation
    split's loss is too noisy to pick an epoch by (on ESC-10 fold 2 with SpecAugment it picked epoch 3
    of 50: 56% test accuracy, against 89% for the last epoch).
    """
    return bool(config.options.get("restore_best", config.patience < config.epochs))


def _best_epoch(history: list[dict[str, float]], monitor: str) -> int | None:
    vals = [(r[monitor], r["epoch"]) for r in history if monitor in r]
    return int(min(vals)[1]) if vals else None
