"""The demo dataset (no Streamlit): its subset per class, the one-time download, the copy into a store."""

from __future__ import annotations

import functools
import threading
from typing import Any

from soundkit.errors import ParameterError
from soundkit.store import Store
from soundkit_app.workspace.disk import check_disk
from soundkit_app.workspace.server_settings import Settings

# -- the demo dataset ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _demo_clips(path: str, stamp: float, per_class: int) -> Any:
    from soundkit import datasets

    ds = datasets.load(path)
    by_label: dict[str, dict[Any, list[Any]]] = {}
    for clip in ds.clips:
        by_label.setdefault(clip.label, {}).setdefault(clip.fold, []).append(clip)
    keep = []
    for label in ds.labels:
        folds = [sorted(v, key=lambda c: str(c.path)) for _, v in sorted(by_label.get(label, {}).items(), key=str)]
        picked: list[Any] = []
        while len(picked) < per_class and any(folds):
            for group in folds:  # round robin over folds: every fold gets some of each class
                if group and len(picked) < per_class:
                    picked.append(group.pop(0))
        keep.extend(picked)
    return datasets.Dataset(ds.root, keep, ds.layout, ds.official_folds, dict(ds.meta))


def demo_dataset(s: Settings) -> Any | None:
    """The demo subset (``demo_per_class`` clips per class over the folds), or None when not set up."""
    path = s.demo_path
    if path is None or s.demo_per_class < 1:
        return None
    return _demo_clips(str(path), path.stat().st_mtime, s.demo_per_class)


_DEMO_LOCK = threading.Lock()


def fetch_demo(s: Settings, *, progress: Any = None) -> None:
    """Download ESC-10 once into ``$SOUNDKIT_HOME/datasets`` (shared, read-only for visitors) when no
    demo folder exists and ``demo_download`` is on; two visitors clicking at once download it once."""
    if s.demo_path is not None or not s.demo_download or s.demo_dataset:
        return
    from soundkit import datasets

    with _DEMO_LOCK:
        if s.demo_path is None:
            datasets.download("esc10", dest=s.root / "datasets", url=s.demo_url or None, progress=progress)


def demo_available(s: Settings) -> bool:
    """Whether the Label page offers the demo (present, or fetched on the first click)."""
    return s.demo_per_class > 0 and (s.demo_path is not None or (s.demo_download and not s.demo_dataset))


def import_demo(store: Store, s: Settings, *, progress: Any = None) -> Any:
    """Copy the demo subset into a workspace's store (quotas apply), fetching it first if needed; its
    ImportResult."""
    check_disk(s)
    fetch_demo(s, progress=progress)
    ds = demo_dataset(s)
    if ds is None:
        raise ParameterError("no demo dataset is set up on this server")
    return store.import_dataset(ds, progress=progress)
