"""Writing a run directory (shared with :mod:`soundkit.scale.train`, training from shards): the
directory to train into (:func:`_new_run_dir`), meta.json's common keys (:func:`_run_meta`), the files
that complete a run (:func:`_complete_run`), the LiteRT export (:func:`_export`) and the open-set
calibration (:func:`_calibrate_open_set`)."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soundkit import export
from soundkit.config import FeatureConfig, RunConfig, TrainConfig
from soundkit.datasets import Dataset
from soundkit.errors import ModelError
from soundkit.evaluation import Report

log = logging.getLogger(__name__)


def _new_run_dir(out: str | os.PathLike) -> Path:
    """``out`` as a Path; a ModelError when it already holds a trained model."""
    from soundkit.runs import Run

    out = Path(out)
    if Run(out).model_path.exists():
        raise ModelError(f"{out}: already holds a trained model; choose another run name")
    return out


def _run_meta(*, dataset: Any, layout: str, config: TrainConfig, n_train: int, n_augmented: int, n_val: int, n_test: int,
              evaluated_on: str, augment_engine: str | None, info: dict[str, Any]) -> dict[str, Any]:
    """meta.json's common keys (docs/ARCHITECTURE.md), then the fit's ``info``."""
    from soundkit import __version__

    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"), "dataset": str(dataset), "layout": layout,
        "model": config.model, "n_train": n_train, "n_augmented": n_augmented, "n_val": n_val, "n_test": n_test,
        "test_fold": config.test_fold, "evaluated_on": evaluated_on, "augment_engine": augment_engine,
        "soundkit_version": __version__, **info,
    }


def _complete_run(out: Path, *, features: FeatureConfig, config: TrainConfig, labels: list[str], report: Report,
                  history: list[dict[str, float]], meta: dict[str, Any], started: float):
    """Write config, labels, report, history and meta (with the seconds since ``started``) beside the
    model files already in ``out``: the run is complete only now. Returns the Run."""
    from soundkit.runs import save_run

    meta["seconds"] = round(time.monotonic() - started, 2)
    return save_run(out, model=None, config=RunConfig(features=features, train=config), labels=labels,
                    report=report, history=history, meta=meta)


def _calibrate_open_set(out: Path, dataset: Dataset, cache_dir, emit) -> None:
    """The run's "unknown" threshold (:func:`soundkit.openset.calibrate_run`, on its validation
    clips) in calibration.json; a failure is logged, never fatal: the run works without it."""
    emit(stage="calibrate", message="calibrating the open-set threshold on the validation clips")
    try:
        from soundkit.openset import calibrate_run

        calibrate_run(out, dataset, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001
        log.warning("open-set calibration failed: %s", exc)


def _export(model, out: Path) -> dict[str, Any]:
    """LiteRT export of ``model`` (None: of out/model.keras, loaded afresh); failures are recorded,
    not raised."""
    try:
        if model is None:
            export.export_run(out)
            return {"export": "ok", "export_from": "model.keras"}
        export.export_tflite(model, out / export.TFLITE_NAME)  # atomic
        return {"export": "ok"}
    except Exception as exc:  # noqa: BLE001 - the .keras model is the source of truth; export is a bonus
        log.warning("LiteRT export failed: %s", exc)
        return {"export": "failed", "export_error": f"{type(exc).__name__}: {exc}"[:500]}
