"""Quotas (no Streamlit): the workspace's store with the server's disk cap, and the run limit."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from soundkit.errors import ParameterError, QuotaError
from soundkit.store import Store
from soundkit_app.workspace.disk import check_disk
from soundkit_app.workspace.server_settings import Settings

# -- quotas ----------------------------------------------------------------------------------------


class WorkspaceStore(Store):
    """A workspace's label store: the per-workspace quotas of :class:`~soundkit.store.Store` plus the
    server's disk cap, checked before every way clips enter (add, add_many, import_zip, import_dataset)."""

    def __init__(self, home: Path, *, settings_: Settings) -> None:
        super().__init__(home, max_clips=settings_.max_clips, max_bytes=settings_.max_bytes)
        self._settings = settings_

    def add(self, *args: Any, **kwargs: Any) -> Any:
        check_disk(self._settings)
        return super().add(*args, **kwargs)

    def add_many(self, *args: Any, **kwargs: Any) -> Any:
        check_disk(self._settings)
        return super().add_many(*args, **kwargs)

    def import_zip(self, *args: Any, **kwargs: Any) -> Any:
        check_disk(self._settings)
        return super().import_zip(*args, **kwargs)

    def import_dataset(self, *args: Any, **kwargs: Any) -> Any:
        check_disk(self._settings)
        return super().import_dataset(*args, **kwargs)


def open_store(home: Path, s: Settings) -> Store:
    """The store of a data directory: with the quotas in hosted mode, a plain Store in local mode."""
    return WorkspaceStore(home, settings_=s) if s.hosted else Store(home)


def run_dirs(home: Path) -> list[Path]:
    """The run directories of a workspace (every folder under runs/)."""
    root = home / "runs"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def prune_unfinished_runs(home: Path) -> int:
    """Remove runs that failed or were cancelled (no model, no job); the number removed."""
    from soundkit import jobs

    n = 0
    for d in run_dirs(home):
        status = jobs.read_status(d)
        if not (d / "labels.json").is_file() and status is not None and status.get("state") in ("failed", "cancelled"):
            shutil.rmtree(d, ignore_errors=True)
            n += 1
    return n


def check_runs(home: Path, s: Settings) -> None:
    """QuotaError when the workspace holds ``max_runs`` runs already (failed ones are pruned first)."""
    if not s.hosted:
        return
    prune_unfinished_runs(home)
    n = len(run_dirs(home))
    if n >= s.max_runs:
        raise QuotaError(f"this workspace holds {n} runs, its limit; delete one on the Results page to train another")


def delete_run(home: Path, run_dir: Path) -> None:
    """Remove a finished run of this workspace (ParameterError for a path outside it or a running job)."""
    from soundkit import jobs

    run_dir = Path(run_dir).resolve()
    if run_dir.parent != (home / "runs").resolve() or not run_dir.is_dir():
        raise ParameterError("not a run of this workspace")
    status = jobs.read_status(run_dir)
    if status is not None and status.get("state") == "running":
        raise ParameterError(f"run {run_dir.name} is training; cancel it first")
    shutil.rmtree(run_dir)
