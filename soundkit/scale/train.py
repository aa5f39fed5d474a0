"""Training and cross-validation from a featurized directory, streaming batches from its shards.

The in-memory path (:mod:`soundkit.training`) holds every clip's features in one process; here a
``tf.data`` pipeline reads the shards a row group at a time (shards and row groups in a seeded
random order every epoch, then a fixed-size shuffle buffer of examples), so memory is set by the
buffer and the row group, not by the size of the dataset. The rules are those of the in-memory
path: random crops among a clip's non-silent windows (or its fixed windows), class weights from
the label counts, a validation split grouped by source, early stopping and the learning-rate
schedule, clip-level evaluation pooling windows (frames) by
:func:`soundkit.evaluation.pool_windows`. The run directory is a normal run (Predictor, Results).

Not offered here: waveform augmentation (it needs the audio; featurize augmented copies as a
dataset of their own), SpecAugment masks and mixup; ``config.augment`` is refused.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from soundkit.errors import DatasetError, ParameterError
from soundkit.scale.shards import Featurized

__all__ = ["train", "cross_validate", "SHUFFLE_BUFFER"]

log = logging.getLogger(__name__)

#: Examples held for shuffling (``options["shuffle_buffer"]``): 512 log-mel windows are 32 MB.
SHUFFLE_BUFFER = 512
#: Windows (frames) predicted at once while evaluating.
EVAL_CHUNK = 512


def _open(featurized) -> Featurized:
    return featurized if isinstance(featurized, Featurized) else Featurized.open(featurized)


def _family(fz: Featurized, config):
    from soundkit import training
    from soundkit.models import family

    if config.augment:
        raise ParameterError("augmentation is not available when training from shards; featurize the augmented "
                             "copies as a dataset of their own, or train from the audio")
    training._check_options(config.options)
    fam = family(config.model)
    want = "embedding" if fz.kind == "yamnet" else "logmel"
    if fam.KIND != want:
        raise ParameterError(f"{fz.root} holds {fz.kind} features; model {config.model!r} needs "
                             f"{'yamnet' if fam.KIND == 'embedding' else 'logmel'} features (featurize --features ...)")
    if len(fz.labels) < 2:
        raise DatasetError(f"{fz.root}: training needs at least 2 labels, found {len(fz.labels)}")
    return fam


def _features(fz: Featurized):
    from soundkit.config import FeatureConfig

    return fz.features or FeatureConfig()


class _Examples:
    """Training examples streamed from the shards: (x, label, weight), reshuffled every epoch."""

    def __init__(self, fz: Featurized, fit: dict[str, int], weights: np.ndarray, *, fam, features, config) -> None:
        self.fz, self.fit, self.weights, self.fam, self.features, self.config = fz, fit, weights, fam, features, config
        self.epoch = 0
        self.buffer = int(config.options.get("shuffle_buffer", SHUFFLE_BUFFER))
        self.crops = int(config.options.get("crops_per_clip", 2))
        self.fixed = fam.KIND == "logmel" and config.options.get("crops", "random") == "fixed"
        rows = {r["id"]: r for r in fz.manifest}
        if fam.KIND == "embedding":
            self.n = sum(int(rows[i]["rows"]) for i in fit)
        elif self.fixed:  # non-silent windows: known only once read
            self.n = None
        else:
            self.n = len(fit) * self.crops

    def _clip_examples(self, S: np.ndarray, rng: np.random.Generator) -> Iterator[np.ndarray]:
        from soundkit.training import _crop_starts, _eval_windows

        if self.fam.KIND == "embedding":
            yield from S
            return
        if self.fixed:
            W, w = _eval_windows(S, self.fam, self.features)
            yield from W[w > 0]
            return
        frames, floor = self.features.frames, -self.features.top_db
        starts = _crop_starts(S, frames=frames, floor=floor)
        for _ in range(self.crops):
            s = int(rng.choice(starts))
            x = np.full((S.shape[0], frames, 1), floor, dtype=np.float32)
            part = S[:, s : s + frames]
            x[:, : part.shape[1], 0] = part
            yield x

    def __call__(self) -> Iterator[tuple[np.ndarray, np.int64, np.float32]]:
        rng = np.random.default_rng([self.config.seed, self.epoch])
        self.epoch += 1
        order = rng.permutation(len(self.fz.shard_paths()))
        buf: list[tuple] = []
        for cid, S in self.fz.iter_clips(set(self.fit), order=order, rng=rng):
            y = self.fit[cid]
            for x in self._clip_examples(S, rng):
                item = (np.asarray(x, dtype=np.float32), np.int64(y), np.float32(self.weights[y]))
                if len(buf) < self.buffer:
                    buf.append(item)
                    continue
                j = int(rng.integers(len(buf)))
                out, buf[j] = buf[j], item
                yield out
        for j in rng.permutation(len(buf)):
            yield buf[j]


def _eval_stream(fz: Featurized, index: dict[str, int], *, fam, features) -> Iterator[tuple[np.ndarray, np.int64]]:
    """Every non-silent evaluation window (frame) of the clips in ``index``, in shard order."""
    from soundkit.training import _eval_windows

    for cid, S in fz.iter_clips(set(index)):
        X, w = _eval_windows(np.asarray(S, dtype=np.float32), fam, features)
        for x in X[w > 0]:
            yield x, np.int64(index[cid])


def _input_shape(fz: Featurized, fam, features) -> tuple[int, ...]:
    if fam.KIND == "embedding":
        return (int(fz.manifest[0]["cols"]),)
    return (int(fz.manifest[0]["rows"]), features.frames, 1)


def evaluate_stream(model, fz: Featurized, clips: Sequence, labels: Sequence[str], *, fam, features, batch_size: int):
    """Clip-level Report of ``model`` on ``clips`` (Clip objects), their features read shard by shard."""
    from soundkit.evaluation import Report, pool_windows
    from soundkit.training import _eval_windows

    index = {lab: i for i, lab in enumerate(labels)}
    by_id = {c.id: c for c in clips}
    probs: dict[str, np.ndarray] = {}
    chunk: list[tuple[str, np.ndarray, np.ndarray]] = []

    def flush() -> None:
        if not chunk:
            return
        X = np.concatenate([c[1] for c in chunk])
        P = model.predict(X, batch_size=max(batch_size, 64), verbose=0)
        k = 0
        for cid, W, w in chunk:
            probs[cid] = pool_windows(P[k : k + len(W)], w)
            k += len(W)
        chunk.clear()

    for cid, S in fz.iter_clips(set(by_id)):
        W, w = _eval_windows(np.asarray(S, dtype=np.float32), fam, features)
        chunk.append((cid, W, w))
        if sum(len(c[1]) for c in chunk) >= EVAL_CHUNK:
            flush()
    flush()
    order = [c for c in clips if c.id in probs]
    return Report.from_probabilities(np.stack([probs[c.id] for c in order]), np.array([index[c.label] for c in order]),
                                     labels=list(labels), ids=[c.id for c in order], paths=[str(c.path) for c in order])


def _fit_evaluate(fz: Featurized, fam, labels, fit_clips, val_clips, test_clips, *, features, config, emit, should_stop):
    """Build, train (streaming) and evaluate one model: (model, report, history rows, info)."""
    import keras
    import tensorflow as tf

    from soundkit import training

    if should_stop is not None and should_stop():
        raise training.TrainingCancelled("training cancelled")
    keras.utils.set_random_seed(config.seed)
    index = {lab: i for i, lab in enumerate(labels)}
    missing = sorted(set(labels) - {c.label for c in fit_clips})
    if missing:
        raise DatasetError(f"label(s) {', '.join(map(repr, missing))} have no training clips in this split")
    y_fit = np.array([index[c.label] for c in fit_clips])
    counts = np.bincount(y_fit, minlength=len(labels)).astype(np.float64)
    weights = ((len(y_fit) / (len(labels) * counts)) if config.class_weights else np.ones(len(labels))).astype(np.float32)
    shape = _input_shape(fz, fam, features)
    batch = int(config.options.get("frame_batch_size", 256)) if fam.KIND == "embedding" else config.batch_size
    examples = _Examples(fz, {c.id: index[c.label] for c in fit_clips}, weights, fam=fam, features=features, config=config)
    sig = (tf.TensorSpec(shape, tf.float32), tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.float32))
    train_data = tf.data.Dataset.from_generator(examples, output_signature=sig).batch(batch)
    if examples.n is not None:
        train_data = train_data.apply(tf.data.experimental.assert_cardinality(math.ceil(examples.n / batch)))
    train_data = train_data.prefetch(2)
    val_data = None
    if val_clips:
        val_index = {c.id: index[c.label] for c in val_clips}
        n_val = sum(1 for _ in _eval_stream(fz, val_index, fam=fam, features=features))  # one pass, for Keras' step count
        val_data = tf.data.Dataset.from_generator(
            lambda: _eval_stream(fz, val_index, fam=fam, features=features), output_signature=sig[:2],
        ).batch(max(batch, 64)).apply(tf.data.experimental.assert_cardinality(math.ceil(n_val / max(batch, 64)))).prefetch(1)
    model = fam.build(shape, len(labels), config)
    monitor = "val_loss" if val_data is not None else "loss"
    progress_cb = training._callback(emit, should_stop, config.epochs)
    restore = training._restores_best(config)
    callbacks = [
        keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience, restore_best_weights=restore, verbose=0,
                                      start_from_epoch=int(config.options.get("min_epochs", 0))),
        training._lr_schedule(config, monitor),
        progress_cb,
    ]
    t0 = time.monotonic()
    if fam.KIND == "logmel" and hasattr(fam, "fit"):  # inception's head-then-fine-tune recipe takes any dataset
        hist = fam.fit(model, train_data, val_data, config, callbacks)
    else:  # yamnet's own fit gathers its data into arrays: stream instead, with its frame batch size
        training.compile_model(model, config)
        hist = model.fit(train_data, validation_data=val_data, epochs=config.epochs, callbacks=callbacks, verbose=0)
    train_seconds = time.monotonic() - t0
    if progress_cb.cancelled:
        raise training.TrainingCancelled("training cancelled")
    history = training._history_rows(hist)
    emit(stage="evaluate", done=0, total=len(test_clips), message=f"evaluating on {len(test_clips)} clips")
    report = evaluate_stream(model, fz, test_clips, labels, fam=fam, features=features, batch_size=config.batch_size)
    emit(stage="evaluate", done=len(test_clips), total=len(test_clips), accuracy=report.accuracy,
         message=f"accuracy {report.accuracy:.3f}")
    info = {"epochs_run": len(history), "best_epoch": training._best_epoch(history, monitor),
            "weights": "best epoch" if restore else "last epoch", "train_seconds": round(train_seconds, 2),
            "family": config.model, "streamed_from": str(fz.root), "shuffle_buffer": examples.buffer}
    if hasattr(fam, "run_info"):
        info.update(fam.run_info(config))
    return model, report, history, info


def _splits(fz: Featurized, config, test_fold: int | None):
    from soundkit.training import validation_split

    clips = fz.dataset().clips
    if test_fold is not None:
        if test_fold not in fz.folds:
            raise ParameterError(f"test fold {test_fold} does not exist; folds are {', '.join(map(str, fz.folds))}")
        train_clips = [c for c in clips if c.fold != test_fold]
        test_clips = [c for c in clips if c.fold == test_fold]
    else:
        train_clips, test_clips = clips, []
    fit_clips, val_clips = validation_split(train_clips, fraction=config.validation_fraction, seed=config.seed)
    if not test_clips:
        if not val_clips:
            raise ParameterError("no test fold and no validation split: nothing to evaluate on; set test_fold or validation_fraction")
        test_clips = val_clips
    return fit_clips, val_clips, test_clips


def train(featurized, *, out: str | os.PathLike, config, progress: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None):
    """Train on a featurized directory (streaming) and write a run directory.

    Parameters
    ----------
    featurized : path or Featurized
    out : path
    config : TrainConfig
        ``test_fold`` None: no held-out fold, the report is on the validation clips.

    Returns
    -------
    soundkit.runs.Run
    """
    from soundkit import training
    from soundkit.runs import save_model

    t0 = time.monotonic()
    out = training._new_run_dir(out)
    fz = _open(featurized)
    fam = _family(fz, config)
    features = _features(fz)
    emit = training._emitter(progress, fold=config.test_fold)
    fit_clips, val_clips, test_clips = _splits(fz, config, config.test_fold)
    model, report, history, info = _fit_evaluate(fz, fam, fz.labels, fit_clips, val_clips, test_clips,
                                                 features=features, config=config, emit=emit, should_stop=should_stop)
    meta = training._run_meta(
        dataset=fz.plan.get("dataset"), layout="featurized", config=config, n_train=len(fit_clips), n_augmented=0,
        n_val=len(val_clips), n_test=len(test_clips), augment_engine=None, info=info,
        evaluated_on="test" if config.test_fold is not None else "validation",
    )
    out.mkdir(parents=True, exist_ok=True)
    save_model(out, model)
    emit(stage="export", message="exporting LiteRT model")
    meta.update(training._export(model, out))
    run = training._complete_run(out, features=features, config=config, labels=fz.labels, report=report, history=history,
                                 meta=meta, started=t0)
    emit(stage="done", message=f"accuracy {report.accuracy:.3f} on {report.n_test} clips", accuracy=report.accuracy)
    return run


def cross_validate(featurized, *, config, folds: Sequence[int] | None = None,
                   progress: Callable[[dict], None] | None = None, should_stop: Callable[[], bool] | None = None):
    """K-fold cross-validation over a featurized directory's folds (streaming); a CVResult."""
    from soundkit import training

    t0 = time.monotonic()
    fz = _open(featurized)
    fam = _family(fz, config)
    features = _features(fz)
    folds = list(fz.folds if folds is None else folds)
    bad = [f for f in folds if f not in fz.folds]
    if bad or not folds:
        raise ParameterError(f"fold(s) {bad or folds} do not exist; folds are {', '.join(map(str, fz.folds))}")
    acc, reports, secs = {}, {}, {}
    for f in folds:
        tf0 = time.monotonic()
        cfg = config.replace(test_fold=f)
        fit_clips, val_clips, test_clips = _splits(fz, cfg, f)
        _, report, _, _ = _fit_evaluate(fz, fam, fz.labels, fit_clips, val_clips, test_clips, features=features,
                                        config=cfg, emit=training._emitter(progress, fold=f), should_stop=should_stop)
        acc[f], reports[f], secs[f] = report.accuracy, report, round(time.monotonic() - tf0, 2)
        log.info("fold %d: accuracy %.3f (%.0f s)", f, report.accuracy, secs[f])
    values = np.array(list(acc.values()))
    return training.CVResult(fold_accuracy=acc, mean_accuracy=float(values.mean()), std_accuracy=float(values.std()),
                             seconds=round(time.monotonic() - t0, 2), reports=reports, fold_seconds=secs)
