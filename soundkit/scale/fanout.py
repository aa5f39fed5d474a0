"""Fan-out: the folds of ``cv`` and the sets of ``augment-study`` as parallel Ray tasks.

Every (configuration, test fold) pair is one job. A job trains and tests exactly what the serial
run trains and tests for that fold (same clips, same split, same seeds), in a fresh child process
(:func:`soundkit.isolate.run_in_child`) inside a Ray task (:func:`ray_engine.run_in_children`),
so its memory goes back when it ends and one fold cannot disturb another. The fold results are
gathered into the same :class:`soundkit.training.CVResult` the serial run returns.

``data`` is a :class:`soundkit.datasets.Dataset` (the audio path) or the path of a featurized
directory (the streaming path of :mod:`soundkit.scale.train`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["cv_jobs", "cross_validate", "ray_runner", "ENGINES"]

log = logging.getLogger(__name__)

ENGINES = ("serial", "ray")


def _fold(data, features, config, fold: int, cache_dir, *, emit, should_stop):
    """One fold of a cross-validation (runs in the child process): (Report, seconds)."""
    from soundkit import training
    from soundkit.scale.shards import is_featurized

    t0 = time.monotonic()
    if isinstance(data, (str, os.PathLike)) and is_featurized(data):
        from soundkit.scale import train as stream

        cv = stream.cross_validate(data, config=config, folds=[fold])
    else:
        cv = training.cross_validate(data, features=features, config=config, folds=[fold], cache_dir=cache_dir)
    return cv.reports[fold], round(time.monotonic() - t0, 2)


def _folds_of(data, config) -> list[int]:
    from soundkit.scale.shards import Featurized, is_featurized

    if isinstance(data, (str, os.PathLike)) and is_featurized(data):
        return Featurized.open(data).folds
    return data.with_folds(seed=config.seed).folds


def _absolute(data):
    """``data`` with absolute paths: Ray workers need not share the driver's working directory."""
    import dataclasses
    from pathlib import Path

    if isinstance(data, (str, os.PathLike)):
        return os.path.abspath(data)
    clips = [dataclasses.replace(c, path=Path(os.path.abspath(c.path))) for c in data.clips]
    return dataclasses.replace(data, root=Path(os.path.abspath(data.root)), clips=clips)


def cv_jobs(jobs: Sequence[tuple[Any, Any, Sequence[int] | None]], *, features=None, cache_dir=None,
            address: str | None = None, nodes: list | None = None) -> list:
    """Cross-validations ``[(data, TrainConfig, folds or None), ...]``, every fold of every one a
    Ray task; returns a CVResult per job, as :func:`soundkit.training.cross_validate` would.

    ``nodes``, when given, receives the Ray node id of every fold's task.
    """
    from soundkit.config import FeatureConfig
    from soundkit.errors import ParameterError
    from soundkit.scale import ray_engine
    from soundkit.training import CVResult

    features = features if features is not None else FeatureConfig()
    flat, where = [], []
    for j, (data, config, folds) in enumerate(jobs):
        data = _absolute(data)
        have = _folds_of(data, config)
        folds = list(have if folds is None else folds)
        bad = [f for f in folds if f not in have]
        if bad or not folds:
            raise ParameterError(f"fold(s) {bad or folds} do not exist; folds are {', '.join(map(str, have))}")
        for f in folds:
            flat.append((data, features, config, f, os.path.abspath(cache_dir) if cache_dir is not None else None))
            where.append((j, f))
    t0 = time.monotonic()
    results = ray_engine.run_in_children(_fold, flat, address=address)
    seconds = round(time.monotonic() - t0, 2)
    out = []
    for j in range(len(jobs)):
        reports = {f: results[i][1][0] for i, (jj, f) in enumerate(where) if jj == j}
        secs = {f: results[i][1][1] for i, (jj, f) in enumerate(where) if jj == j}
        acc = {f: r.accuracy for f, r in reports.items()}
        values = np.array(list(acc.values()))
        out.append(CVResult(fold_accuracy=acc, mean_accuracy=float(values.mean()), std_accuracy=float(values.std()),
                            seconds=seconds, reports=reports, fold_seconds=secs))
    if nodes is not None:
        nodes.extend(node for node, _ in results)
    return out


def cross_validate(data, *, features=None, config, folds: Sequence[int] | None = None, cache_dir=None,
                   address: str | None = None, nodes: list | None = None):
    """One cross-validation with its folds as parallel Ray tasks (see :func:`cv_jobs`)."""
    return cv_jobs([(data, config, folds)], features=features, cache_dir=cache_dir, address=address, nodes=nodes)[0]


def ray_runner(*, address: str | None = None) -> Callable[..., list]:
    """A runner for :func:`soundkit.augment_study.study`: ``runner(jobs, features=, cache_dir=)``
    with jobs ``[(dataset, TrainConfig, folds), ...]`` returns their CVResults, fanned out on Ray."""

    def runner(jobs, *, features=None, cache_dir=None):
        return cv_jobs(jobs, features=features, cache_dir=cache_dir, address=address)

    return runner
