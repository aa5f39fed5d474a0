"""The training queue (no Streamlit): the server's :class:`~soundkit.jobqueue.JobQueue` (one object per
process and settings), submitting a workspace's job, the background thread that moves the queue."""

from __future__ import annotations

import functools
import logging
import threading
import time
from pathlib import Path
from typing import Any

from soundkit_app.workspace.disk import check_disk
from soundkit_app.workspace.quotas import check_runs
from soundkit_app.workspace.server_settings import Settings

log = logging.getLogger(__name__)

QUEUE_NAME = "queue.sqlite"


# -- the training queue ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _queue(path: str, max_running: int, max_queued: int, max_seconds: float) -> Any:
    from soundkit.jobqueue import JobQueue

    return JobQueue(path, max_running=max_running, max_queued=max_queued, max_seconds=max_seconds)


def job_queue(s: Settings) -> Any:
    """The server's :class:`~soundkit.jobqueue.JobQueue` (``$SOUNDKIT_HOME/queue.sqlite``)."""
    return _queue(str(s.root / QUEUE_NAME), s.max_jobs, s.max_queue, s.job_minutes * 60.0)


def submit_training(home: Path, args: list[str], run_dir: Path, *, s: Settings) -> Any:
    """Queue a training job of this workspace (checking the run and disk limits) and move the queue."""
    check_disk(s)
    check_runs(home, s)
    queue = job_queue(s)
    entry = queue.submit(home, run_dir, args)
    queue.pump()
    return queue.get(entry.id)


_PUMP_STARTED: set[str] = set()
_PUMP_LOCK = threading.Lock()


def ensure_pump(s: Settings, *, every: float = 2.0) -> None:
    """Start (once per server process and queue) a daemon thread that moves the queue every ``every`` s,
    so a queued job starts even when its owner has closed the page."""
    key = str(s.root / QUEUE_NAME)
    with _PUMP_LOCK:
        if key in _PUMP_STARTED:
            return
        _PUMP_STARTED.add(key)
    queue = job_queue(s)

    def loop() -> None:
        while queue.path.parent.is_dir():  # ends when the data root goes away (tests' tmp folders)
            try:
                queue.pump()
            except Exception:  # noqa: BLE001 - the pump must outlive one bad round
                log.exception("the training queue's pump failed")
            time.sleep(every)
        with _PUMP_LOCK:
            _PUMP_STARTED.discard(key)

    threading.Thread(target=loop, name="soundkit-queue-pump", daemon=True).start()
