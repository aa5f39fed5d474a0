"""Expiry (no Streamlit): the sweep that removes workspaces unused for ``expire_hours`` (never the
session's own nor one with a job), at most every 5 minutes per server."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import time

from soundkit.errors import SoundkitError
from soundkit_app.workspace.disk import forget_usage
from soundkit_app.workspace.folders import ID_RE, last_used
from soundkit_app.workspace.queue import job_queue
from soundkit_app.workspace.server_settings import Settings

log = logging.getLogger(__name__)


def sweep(s: Settings, *, keep: set[str] | frozenset[str] = frozenset(), now: float | None = None) -> list[str]:
    """Remove workspaces unused for ``s.expire_hours``; never one in ``keep`` or with a job. The removed ids."""
    from soundkit import jobs

    root = s.workspaces_dir
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    busy = {str(h) for h in job_queue(s).homes_active()}
    removed: list[str] = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name.startswith(".trash-") and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)  # left by an interrupted sweep
            continue
        if ID_RE.fullmatch(name) is None or name in keep or not entry.is_dir():
            continue
        if now - last_used(entry) < s.expire_seconds or str(entry.resolve()) in busy or jobs.running_job(entry):
            continue
        trash = root / f".trash-{name}-{secrets.token_hex(4)}"
        try:
            entry.rename(trash)  # atomically out of sight, then removed
        except OSError:
            continue
        shutil.rmtree(trash, ignore_errors=True)
        with contextlib.suppress(SoundkitError):
            job_queue(s).forget(entry)
        removed.append(name)
    if removed:
        forget_usage()
        log.info("expired %d idle workspace(s)", len(removed))
    return removed


def sweep_due(s: Settings, *, every: float = 300.0) -> bool:
    """True at most once per ``every`` seconds for the whole server (a marker file's mtime)."""
    marker = s.workspaces_dir / ".last_sweep"
    now = time.time()
    try:
        if now - marker.stat().st_mtime < every:
            return False
    except OSError:
        pass
    with contextlib.suppress(OSError):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.utime(marker, (now, now))
    return True
