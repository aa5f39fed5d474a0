"""Training and cross-validation: dataset -> features -> model -> evaluation -> run directory.

:func:`train` holds out ``config.test_fold``, carves a validation split out of the remaining clips
(grouped by source, seeded), augments only the clips left for fitting (``config.augment``),
featurizes (cached), trains with early stopping and evaluates on the held-out fold; the result is
written to a run directory (:mod:`soundkit.runs`). :func:`cross_validate` does the same for every
fold without writing runs, featurizing each clip once.

Log-mel families (``KIND == "logmel"``) see random 128-frame crops of every training clip each
epoch (``options["crops_per_clip"]``), drawn among the clip's non-silent windows: a random time
shift, itself an augmentation. ``options["crops"] = "fixed"`` trains on the clip's fixed
non-silent evaluation windows instead, the same every epoch (no augmentation at all). A clip is
evaluated by averaging the class probabilities of its non-silent overlapping windows
(:func:`soundkit.evaluation.pool_windows`).
Embedding families (``KIND == "embedding"``, YAMNet) provide ``training_inputs(paths, features, *,
cache_dir, progress) -> list of (n_frames, dim) arrays``; every frame is a training example with
its clip's label, and a clip's probabilities are the mean over its frames.

Cancellation: when ``should_stop()`` returns True (checked after every batch) training stops and
:class:`TrainingCancelled` (a :class:`~soundkit.errors.ModelError`) is raised; no run directory is
written.

TensorFlow/Keras are imported inside the functions that need them.

Modules
-------
:func:`train` and :func:`cross_validate` (here) put the pieces together; each concern is a module of
its own, ``soundkit.training.<module>``::

    progress      the progress/should_stop types, TrainingCancelled, the event emitter
    checks        the up-front checks of a request (_check, _check_options), the options' defaults
    fit_setup     compile_model, loss_for/one_hot_targets/mixup_alpha, the lr schedule, the callback
    inputs        validation_split, augmented copies of the fit clips, per-clip inputs (_Inputs)
    batches       evaluation windows, training crops, the per-epoch PyDataset (_make_train_data)
    fit           fitting and evaluating one model (_fit_evaluate, evaluate_model, _scorable)
    runs          writing a run directory (shared with soundkit.scale.train), the LiteRT export
    cv_result     CVResult and the pooled report over every fold
    fit_and_save  train()'s fit and save, and running it and the export in child processes

The submodules import each other only downwards (in the order above) and never this package's
``__init__``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import numpy as np

from soundkit.config import FeatureConfig, TrainConfig
from soundkit.datasets import Dataset
from soundkit.errors import ParameterError
from soundkit.evaluation import Report
from soundkit.isolate import run_in_child
from soundkit.training.batches import _crop_starts, _eval_windows, _fixed_windows, _make_train_data, _Rows  # noqa: F401
from soundkit.training.checks import CROPS, CROPS_PER_CLIP, LR_SCHEDULE, _check, _check_options  # noqa: F401
from soundkit.training.cv_result import CVResult, _pool_reports  # noqa: F401
from soundkit.training.fit import _best_epoch, _fit_evaluate, _history_rows, _restores_best, _scorable, evaluate_model  # noqa: F401
from soundkit.training.fit_and_save import _export_in_child, _fit_and_save, _fit_in_child, _isolates
from soundkit.training.fit_setup import _callback, _lr_schedule, compile_model, loss_for, mixup_alpha, one_hot_targets  # noqa: F401
from soundkit.training.inputs import _augment, _Inputs, validation_split
from soundkit.training.progress import Progress, ShouldStop, TrainingCancelled, _emitter
from soundkit.training.runs import _calibrate_open_set, _complete_run, _export, _new_run_dir, _run_meta  # noqa: F401

# The names imported above but not used here nor listed in __all__ (noqa: F401) are re-exported:
# soundkit.scale, bench/ and the tests read them from soundkit.training, as before it became a package.
__all__ = ["train", "cross_validate", "CVResult", "TrainingCancelled"]

log = logging.getLogger(__name__)


# -- public API ------------------------------------------------------------------------------------

def train(
    dataset: Dataset,
    *,
    out: str | os.PathLike,
    features: FeatureConfig = FeatureConfig(),  # noqa: B008 - frozen dataclass
    config: TrainConfig = TrainConfig(),  # noqa: B008
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    report: Report | None = None,
):
    """Train a model on ``dataset`` and write a run directory.

    Parameters
    ----------
    dataset : soundkit.datasets.Dataset
    out : path
        The run directory to create. It must not already hold a trained model.
    features : FeatureConfig
    config : TrainConfig
        ``test_fold`` None means no held-out fold: the report is on the validation clips.
    cache_dir : path, optional
        Cache root (``cache/`` of the data directory): log-mels go to ``cache_dir/features``,
        augmented copies to ``cache_dir/augment``. None: nothing cached.
    progress : callable(dict), optional
        Receives progress events (docs/ARCHITECTURE.md).
    should_stop : callable() -> bool, optional
        Polled after every batch; True cancels (:class:`TrainingCancelled`).
    report : Report, optional
        An estimate made beforehand (``train --cv-first``: :meth:`CVResult.pooled_report`): the model
        then learns from every clip (no test fold, no validation split) and this report is saved.

    Returns
    -------
    soundkit.runs.Run
    """
    t0 = time.monotonic()
    out = _new_run_dir(out)
    if report is not None:
        config = config.replace(test_fold=None, validation_fraction=0.0)
    fam = _check(dataset, features, config)
    emit = _emitter(progress, fold=config.test_fold)
    job = (dataset, out, features, config, cache_dir, report)
    if _isolates(fam, config):
        # Training and the LiteRT converter each in a process of its own, one after the other, so
        # that the converter's memory never stacks on what TensorFlow keeps after training.
        report, history, meta = run_in_child(_fit_in_child, *job, what="training", emit=emit, should_stop=should_stop)
        emit(stage="export", message="exporting LiteRT model (in a fresh process)")
        meta.update(run_in_child(_export_in_child, out, what="export", emit=emit, should_stop=None))
        meta["processes"] = "isolated"
    else:
        model, report, history, meta = _fit_and_save(*job, emit=emit, should_stop=should_stop)
        emit(stage="export", message="exporting LiteRT model")
        meta.update(_export(model, out))
    run = _complete_run(out, features=features, config=config, labels=dataset.labels, report=report, history=history,
                        meta=meta, started=t0)
    _calibrate_open_set(out, dataset, cache_dir, emit)
    emit(stage="done", message=f"accuracy {report.accuracy:.3f} on {report.n_test} clips", accuracy=report.accuracy)
    return run


def cross_validate(
    dataset: Dataset,
    *,
    features: FeatureConfig = FeatureConfig(),  # noqa: B008
    config: TrainConfig = TrainConfig(),  # noqa: B008
    folds: Sequence[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> CVResult:
    """K-fold cross-validation: train on all folds but one, evaluate on it, for each fold.

    Official folds are used where the dataset has them, else folds are assigned (stratified,
    grouped by source, seeded). ``config.test_fold`` is ignored. Each clip is featurized once.

    Parameters
    ----------
    folds : sequence of int, optional
        Test folds to run (default: all).

    Returns
    -------
    CVResult
    """
    t0 = time.monotonic()
    fam = _check(dataset, features, config.replace(test_fold=None))
    dataset = dataset.with_folds(seed=config.seed)
    all_folds = dataset.folds
    folds = list(all_folds if folds is None else folds)
    bad = [f for f in folds if f not in all_folds]
    if bad or not folds:
        raise ParameterError(f"fold(s) {bad or folds} do not exist; folds are {', '.join(map(str, all_folds))}")
    labels = dataset.labels
    inputs = _Inputs(fam, features, cache_dir)
    inputs.compute(dataset.clips, emit=_emitter(progress, fold=None))
    acc: dict[int, float] = {}
    reports: dict[int, Report] = {}
    secs: dict[int, float] = {}
    notes: dict[int, list[str]] = {}
    for f in folds:
        tf0 = time.monotonic()
        cfg = config.replace(test_fold=f)
        emit = _emitter(progress, fold=f)
        train_clips, test_clips = dataset.split(f)
        fit_clips, val_clips = validation_split(train_clips, fraction=cfg.validation_fraction, seed=cfg.seed)
        aug_clips, _ = _augment(fit_clips, cfg, cache_dir=cache_dir, emit=emit)
        if aug_clips:
            inputs.compute(aug_clips, emit=emit)
        _, report, _, _ = _fit_evaluate(
            fam, labels, fit_clips + aug_clips, val_clips, test_clips, inputs,
            features=features, config=cfg, emit=emit, should_stop=should_stop,
        )
        acc[f], reports[f], secs[f] = report.accuracy, report, round(time.monotonic() - tf0, 2)
        if report.notes:
            notes[f] = list(report.notes)
            for note in report.notes:
                log.warning("fold %d: %s", f, note)
        log.info("fold %d: accuracy %.3f (%.0f s)", f, report.accuracy, secs[f])
    values = np.array(list(acc.values()))
    result = CVResult(
        fold_accuracy=acc, mean_accuracy=float(values.mean()), std_accuracy=float(values.std()),
        seconds=round(time.monotonic() - t0, 2), reports=reports, fold_seconds=secs, notes=notes,
    )
    _emitter(progress, fold=None)(stage="done", message=f"mean accuracy {result.mean_accuracy:.3f}", accuracy=result.mean_accuracy)
    return result
