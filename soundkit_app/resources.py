"""Cached resources: the label store, predictors of trained runs, run summaries for menus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from soundkit.errors import SoundkitError
from soundkit_app import home, need, optional, show_errors


@st.cache_resource(show_spinner=False, max_entries=256)
def _store(home_dir: str, stamp: float, settings: Any) -> Any:
    from soundkit_app.workspace import open_store

    return open_store(Path(home_dir), settings)


def _session_store() -> Any:
    from soundkit_app import workspace

    ws = workspace.current()
    return _store(str(ws.home.resolve()), ws.stamp, workspace.settings())


def store() -> Any:
    """The label store of the session's workspace (one per process and workspace; quotas in hosted mode)."""
    need("store", "Store")
    with show_errors():
        return _session_store()


def store_or_none() -> Any | None:
    """The store, or None when the store module has not landed (for optional widgets)."""
    if optional("store") is None:
        return None
    try:
        return _session_store()
    except SoundkitError:
        return None


@st.cache_resource(show_spinner=False, max_entries=4)
def _predictor(run_dir: str, stamp: float) -> Any:
    from soundkit.predict import Predictor

    return Predictor.load(run_dir)


def predictor(run_dir: str | Path) -> Any:
    """A cached Predictor for a run directory (reloaded when its model files change)."""
    need("predict", "Predictor")
    run_dir = Path(run_dir)
    stamp = max((p.stat().st_mtime for p in run_dir.glob("model.*")), default=0.0)
    with show_errors():
        return _predictor(str(run_dir), stamp)


def list_runs(*, complete_only: bool = True) -> list[Any]:
    """Run directories (soundkit.runs.Run), newest first; [] when none or when runs.py is missing."""
    runs = optional("runs")
    if runs is None:
        return []
    return runs.list_runs(home() / "runs", complete_only=complete_only)


def _stamp(path: Path) -> float:
    """Latest modification time of a run's small files (cache key that changes when they do)."""
    names = ("config.json", "labels.json", "report.json", "meta.json", "history.csv", "model.keras", "cv.json")
    return max((p.stat().st_mtime for n in names if (p := path / n).exists()), default=0.0)


@st.cache_data(show_spinner=False, max_entries=256)
def _run_info(path: str, stamp: float) -> dict[str, Any]:
    from soundkit.runs import Run

    run = Run(Path(path))
    info: dict[str, Any] = {"name": run.name, "path": path, "created": run.created}
    try:
        cfg = run.load_config()
        info.update(
            family=cfg.train.model, epochs=cfg.train.epochs, augment=cfg.train.augment, test_fold=cfg.train.test_fold
        )
        info["labels"] = run.load_labels()
        report = run.load_report()
        info["accuracy"] = None if report is None else report.accuracy
        info["n_test"] = None if report is None else report.n_test
        info["accuracy_ci"] = None if report is None else report.accuracy_ci
        cv = _cv_summary(run.path / "cv.json")
        if cv is not None:  # train --cv-first: the cross-validated estimate is the run's accuracy
            info["accuracy"], info["n_test"], info["accuracy_ci"] = cv
            info["estimate"] = "cross-validation"
        info["meta"] = run.load_meta()
    except SoundkitError as exc:
        info["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a damaged run is marked broken, never breaks a page
        info["error"] = f"{path}: cannot be read ({type(exc).__name__}: {exc})"
    return info


def _cv_summary(path: Path) -> tuple[float, int, tuple[float, float]] | None:
    import json

    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return float(d["pooled_accuracy"]), int(d["n_test"]), tuple(d["accuracy_ci"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_info(run: Any) -> dict[str, Any]:
    """Summary of a run for menus and headers: name, created, family, epochs, augment, labels, accuracy."""
    return _run_info(str(run.path), _stamp(run.path))


def run_title(run: Any) -> str:
    """One line naming a run in menus: name, family, accuracy."""
    info = run_info(run)
    if "error" in info:
        return f"{info['name']} · broken"
    parts = [info["name"], info.get("family", "?")]
    if info.get("accuracy") is not None:
        acc = f"{info['accuracy']:.0%}"
        if info.get("accuracy_ci") and info.get("n_test"):
            lo, hi = info["accuracy_ci"]
            how = "CV, " if info.get("estimate") else ""
            acc += f" ({100 * lo:.0f}-{100 * hi:.0f}%, {how}{info['n_test']} clips)"
        parts.append(acc)
    return " · ".join(parts)


def good_runs_first(runs: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """(runs with the readable ones first, newest first within each group; {name: problem} of the
    broken ones)."""
    broken = {r.name: run_info(r)["error"] for r in runs if "error" in run_info(r)}
    return [r for r in runs if r.name not in broken] + [r for r in runs if r.name in broken], broken


def broken_note(broken: dict[str, str]) -> None:
    """One line naming the runs that cannot be read (they stay in the menu, marked broken)."""
    if len(broken) == 1:
        ((name, problem),) = broken.items()
        st.warning(f"Run {name} is broken and cannot be used: {problem}", icon=":material/warning:")
    elif broken:
        st.warning(f"{len(broken)} runs are broken and cannot be used: {', '.join(sorted(broken))}. "
                   "Select one to see why.", icon=":material/warning:")
