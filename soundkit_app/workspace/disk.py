"""Disk usage (no Streamlit): bytes under a folder, all workspaces' usage (measured at most every
15 s, one cache per process) and the server's disk cap."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from soundkit.errors import QuotaError
from soundkit_app.workspace.server_settings import Settings


def disk_usage(path: Path) -> int:
    """Bytes of the files under ``path`` (links not followed; 0 when it does not exist)."""
    total = 0
    stack = [Path(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


_USAGE: dict[str, tuple[float, int]] = {}
_USAGE_LOCK = threading.Lock()


def total_usage(s: Settings, *, max_age: float = 15.0) -> int:
    """Bytes used by all workspaces (measured at most every ``max_age`` seconds)."""
    key = str(s.workspaces_dir)
    with _USAGE_LOCK:
        hit = _USAGE.get(key)
        if hit is not None and time.monotonic() - hit[0] < max_age:
            return hit[1]
    used = disk_usage(s.workspaces_dir)
    with _USAGE_LOCK:
        _USAGE[key] = (time.monotonic(), used)
    return used


def forget_usage() -> None:
    """Drop the cached disk usage (the next check measures again)."""
    with _USAGE_LOCK:
        _USAGE.clear()


def check_disk(s: Settings) -> None:
    """QuotaError when all workspaces together hold more than the disk cap."""
    if not s.hosted:
        return
    used = total_usage(s)
    if used >= s.disk_cap_bytes:
        raise QuotaError(
            f"the server's storage for workspaces is full ({used / 1e6:.0f} of {s.disk_cap_mb:.0f} MB); "
            "try again later, when idle workspaces have expired"
        )
