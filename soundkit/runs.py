"""Run directories: where a trained model, its configuration, labels, report and history live.

Layout (docs/ARCHITECTURE.md)::

    RUN_DIR/model.keras  model.tflite  config.json  labels.json  report.json  history.csv
            meta.json    status.json (written by jobs.py while a background job runs)

Every file is written atomically (temporary file in the same folder, then ``os.replace``), so a
reader never sees half a file. This module never imports TensorFlow: saving calls the model's own
``save`` method, loading the Keras model is :func:`soundkit.models.load_model`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soundkit.config import RunConfig
from soundkit.errors import ModelError, ParameterError
from soundkit.fileio import atomic_path, write_atomic

__all__ = ["Run", "save_model", "save_run", "list_runs", "broken_runs", "write_atomic", "HISTORY_COLUMNS"]

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")


def _json_dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def history_csv(history: Sequence[dict[str, Any]]) -> str:
    """history.csv text: one row per epoch with :data:`HISTORY_COLUMNS` (empty where absent)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_COLUMNS)
    for i, row in enumerate(history):
        vals = []
        for col in HISTORY_COLUMNS:
            v = row.get(col, i + 1 if col == "epoch" else None)
            vals.append("" if v is None else (int(v) if col == "epoch" else f"{float(v):.6g}"))
        w.writerow(vals)
    return buf.getvalue()


@dataclass(frozen=True)
class Run:
    """A run directory. Files are read when asked for, never at construction."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # paths
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def tflite_path(self) -> Path:
        return self.path / "model.tflite"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def labels_path(self) -> Path:
        return self.path / "labels.json"

    @property
    def report_path(self) -> Path:
        return self.path / "report.json"

    @property
    def history_path(self) -> Path:
        return self.path / "history.csv"

    @property
    def meta_path(self) -> Path:
        return self.path / "meta.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def complete(self) -> bool:
        """True when the model, config and labels are all there (training finished)."""
        return all(p.is_file() for p in (self.model_path, self.config_path, self.labels_path))

    # loaders
    def _read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{self.path}: run has no {path.name}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: not valid JSON ({exc})") from None
        except (OSError, RecursionError) as exc:
            raise ModelError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None

    def load_config(self) -> RunConfig:
        """The run's :class:`~soundkit.config.RunConfig` (features + training configuration)."""
        data = self._read_json(self.config_path)
        try:
            return RunConfig.from_dict(data)
        except ParameterError as exc:
            raise ModelError(f"{self.config_path}: {exc}") from None

    def load_labels(self) -> list[str]:
        """Class labels in the model's output order."""
        labels = self._read_json(self.labels_path)
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise ModelError(f"{self.labels_path}: must be a non-empty JSON list of strings")
        return labels

    def load_report(self):
        """The evaluation :class:`~soundkit.evaluation.Report`, or None when the run has none."""
        from soundkit.evaluation import Report

        if not self.report_path.is_file():
            return None
        data = self._read_json(self.report_path)
        try:
            return Report.from_dict(data)
        except ParameterError as exc:
            raise ModelError(f"{self.report_path}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # wrong types inside the report
            raise ModelError(f"{self.report_path}: not a valid report ({type(exc).__name__}: {exc})") from None

    def load_history(self) -> list[dict[str, float]]:
        """Rows of history.csv as dicts (``epoch`` int, metrics float, missing values omitted)."""
        if not self.history_path.is_file():
            return []
        rows = []
        try:
            text = self.history_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"{self.history_path}: cannot be read ({exc})") from None
        with io.StringIO(text, newline="") as fh:
            for row in csv.DictReader(fh):
                out: dict[str, float] = {}
                for k, v in row.items():
                    if v in ("", None):
                        continue
                    try:
                        out[k] = int(v) if k == "epoch" else float(v)
                    except (TypeError, ValueError):
                        raise ModelError(f"{self.history_path}: bad value {v!r} in column {k!r}") from None
                rows.append(out)
        return rows

    def load_meta(self) -> dict[str, Any]:
        """meta.json as a dict ({} when absent)."""
        meta = self._read_json(self.meta_path) if self.meta_path.is_file() else {}
        if not isinstance(meta, dict):
            raise ModelError(f"{self.meta_path}: must hold a JSON object")
        return meta

    def problem(self) -> str | None:
        """One line saying why this run cannot be used, or None when its files read back.

        Reads config.json, labels.json, report.json (when present) and meta.json; a run still
        being trained (no labels yet) is not a problem. Never raises for a damaged run.
        """
        try:
            if self.config_path.is_file() or self.complete:
                self.load_config()
            if self.labels_path.is_file() or self.complete:
                self.load_labels()
            self.load_report()
            self.load_meta()
        except ModelError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - whatever else a damaged file provokes: still one line
            return f"{self.path}: cannot be read ({type(exc).__name__}: {exc})"
        return None

    def load_model(self):
        """The Keras model (imports TensorFlow; see :func:`soundkit.models.load_model`)."""
        from soundkit.models import load_model

        return load_model(self.model_path)

    @property
    def created(self) -> str:
        """ISO creation time from meta.json, else the directory's modification time."""
        try:
            created = self.load_meta().get("created")
        except ModelError:
            created = None
        if created is not None and not isinstance(created, str):
            created = None
        if created:
            return str(created)
        return datetime.fromtimestamp(self.path.stat().st_mtime, tz=UTC).isoformat(timespec="seconds")


def save_model(out: str | os.PathLike, model: Any) -> Run:
    """Write ``model.keras`` of a run directory (created if needed), atomically: the first file of
    a run, written before the rest so that the model can be exported from the file."""
    run = Run(Path(out))
    run.path.mkdir(parents=True, exist_ok=True)
    with atomic_path(run.model_path) as tmp:
        model.save(tmp)
    return run


def save_run(
    out: str | os.PathLike,
    *,
    model: Any,
    config: RunConfig,
    labels: Sequence[str],
    report: Any | None = None,
    history: Sequence[dict[str, Any]] = (),
    meta: dict[str, Any] | None = None,
) -> Run:
    """Write a run directory (each file atomically) and return it.

    The model is written first and labels/config next, so a directory with a model.keras but no
    labels.json is never seen as complete. Existing files of an earlier, unfinished attempt (a
    status.json, say) are kept.

    Parameters
    ----------
    out : path
        The run directory (created if needed).
    model : keras.Model or None
        None when :func:`save_model` already wrote model.keras.
    config : RunConfig
    labels : sequence of str
    report : soundkit.evaluation.Report, optional
    history : sequence of dict
        Per-epoch metrics (keys of :data:`HISTORY_COLUMNS`).
    meta : dict, optional
    """
    if model is not None:
        run = save_model(out, model)
    else:
        run = Run(Path(out))
        if not run.model_path.is_file():
            raise ModelError(f"{run.path}: no {run.model_path.name}; pass the model or call save_model first")
    write_atomic(run.history_path, history_csv(history))
    if report is not None:
        write_atomic(run.report_path, _json_dump(report.to_dict()))
    meta = dict(meta or {})
    meta.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
    write_atomic(run.meta_path, _json_dump(meta))
    write_atomic(run.config_path, config.to_json() + "\n")
    write_atomic(run.labels_path, _json_dump(list(labels)))
    return run


def list_runs(root: str | os.PathLike, *, complete_only: bool = False) -> list[Run]:
    """Run directories under ``root``, newest first.

    A sub-folder counts as a run when it holds a config.json or a status.json (a job in progress);
    with ``complete_only`` only finished runs are listed. A missing root gives [].
    """
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for d in root.iterdir():
        if not d.is_dir() or d.name.startswith("."):
            continue
        run = Run(d)
        if complete_only and not run.complete:
            continue
        if run.config_path.is_file() or run.status_path.is_file() or run.model_path.is_file():
            runs.append(run)
    return sorted(runs, key=lambda r: (r.created, r.name), reverse=True)


def broken_runs(runs: Sequence[Run]) -> dict[str, str]:
    """{run name: one-line problem} for the runs whose files do not read back (see :meth:`Run.problem`)."""
    out = {}
    for run in runs:
        problem = run.problem()
        if problem is not None:
            out[run.name] = problem
    return out
