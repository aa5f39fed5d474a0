"""Background training jobs: a child process per job, one job per data directory.

:func:`start_training` runs ``python -m soundkit train ... --out RUN_DIR --status RUN_DIR/status.json``
in its own session (so :func:`cancel` can terminate the whole process group, worker processes
included), with stdout/stderr going to ``RUN_DIR/train.log``. Its memory returns to the system when it
ends and a crash cannot take the caller (the web server) down.

One job per data directory: ``HOME/jobs.lock`` holds the running job's pid, process start time and
run directory. A lock whose process is gone (or is a different process that reused the pid) is stale
and is taken over; a live one makes :func:`start_training` raise :class:`~soundkit.errors.JobError`.
The child removes the lock when it ends.

Progress reaches the caller through ``RUN_DIR/status.json``, written atomically by
:class:`StatusWriter` (the progress callback the CLI's ``train --status`` installs)::

    {"state": "running"|"done"|"failed"|"cancelled", "stage", "progress" 0..1, "epoch", "epochs",
     "history": [{"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}], "eta_seconds",
     "message", "pid", "started", "updated"}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soundkit.errors import JobError, ParameterError

__all__ = [
    "Job",
    "StatusWriter",
    "start_training",
    "read_status",
    "cancel",
    "list_jobs",
    "running_job",
    "release_lock",
    "child_env",
    "LOCK_NAME",
    "STATUS_NAME",
    "LOG_NAME",
    "STATES",
]

log = logging.getLogger(__name__)

LOCK_NAME = "jobs.lock"
STATUS_NAME = "status.json"
LOG_NAME = "train.log"
STATES = ("running", "done", "failed", "cancelled")

#: Share of the overall progress bar given to each stage: (start, end).
_STAGE_SPAN = {
    "starting": (0.0, 0.0),
    "cv": (0.0, 0.5),  # train --cv-first: the cross-validated estimate before the final model
    "augment": (0.0, 0.1),
    "features": (0.1, 0.2),
    "train": (0.2, 0.9),
    "evaluate": (0.9, 0.95),
    "export": (0.95, 0.99),
    "done": (1.0, 1.0),
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from soundkit.runs import write_atomic

    write_atomic(path, json.dumps(data, indent=1, sort_keys=True, default=float) + "\n")


# -- processes -------------------------------------------------------------------------------------

def _proc_start(pid: int) -> str | None:
    """The process' start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int | None, start: str | None = None) -> bool:
    """True for a running process (not a zombie) that is the one recorded (same start time)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): trust kill(0)
    if stat[stat.rfind(")") + 2 :].split()[0] in ("Z", "X"):
        return False
    return start is None or _proc_start(pid) == start


# -- the lock --------------------------------------------------------------------------------------

@contextlib.contextmanager
def _guard(home: Path) -> Iterator[Path]:
    """Hold an exclusive flock while the job lock is read and changed (no two launches race)."""
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    guard = home / (LOCK_NAME + ".guard")
    with open(guard, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield home / LOCK_NAME
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_lock(lock: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def running_job(home: str | os.PathLike) -> dict[str, Any] | None:
    """The live job of a data directory as the lock records it ({"pid", "run_dir", "started"}), or None."""
    data = _read_lock(Path(home) / LOCK_NAME)
    if data and _alive(data.get("pid"), data.get("proc_start")):
        return data
    return None


def release_lock(home: str | os.PathLike, *, pid: int) -> bool:
    """Remove ``HOME/jobs.lock`` if it names ``pid`` (the child calls this as it ends)."""
    home = Path(home)
    if not (home / LOCK_NAME).exists():
        return False
    with _guard(home) as lock:
        data = _read_lock(lock)
        if data and data.get("pid") == pid:
            lock.unlink(missing_ok=True)
            return True
    return False


# -- jobs ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """A started training job."""

    run_dir: Path
    pid: int
    home: Path

    @property
    def status_path(self) -> Path:
        return self.run_dir / STATUS_NAME

    @property
    def log_path(self) -> Path:
        return self.run_dir / LOG_NAME

    def status(self) -> dict[str, Any] | None:
        return read_status(self.run_dir)

    def alive(self) -> bool:
        return _alive(self.pid)

    def wait(self, timeout: float | None = None, *, poll: float = 0.2) -> dict[str, Any] | None:
        """Block until the process ends (or ``timeout`` seconds pass); the final status."""
        t0 = time.monotonic()
        while self.alive():
            if timeout is not None and time.monotonic() - t0 > timeout:
                break
            time.sleep(poll)
        return self.status()


def start_training(home: str | os.PathLike, args: Sequence[str], run_dir: str | os.PathLike) -> Job:
    """Start ``python -m soundkit train ARGS --out RUN_DIR --status RUN_DIR/status.json`` in the background.

    Parameters
    ----------
    home : path
        The data directory (the child runs with ``SOUNDKIT_HOME`` set to it).
    args : list of str
        Arguments of the CLI's ``train`` command, e.g. ``["DATASET", "--model", "cnn", "--epochs", "5"]``;
        ``--out`` and ``--status`` are added here.
    run_dir : path
        The run directory to create; it must not hold a trained model yet.

    Returns
    -------
    Job

    Raises
    ------
    JobError
        A job of this data directory is still running.
    """
    home = Path(home).resolve()
    run_dir = Path(run_dir).resolve()
    args = [str(a) for a in args]
    for flag in ("--out", "--status"):
        if any(a == flag or a.startswith(flag + "=") for a in args):
            raise ParameterError(f"start_training sets {flag} itself; leave it out of args")
    if (run_dir / "model.keras").exists():
        raise JobError(f"run {run_dir.name}: already holds a trained model; choose another run name")
    with _guard(home) as lock:
        current = _read_lock(lock)
        if current and _alive(current.get("pid"), current.get("proc_start")):
            name = Path(str(current.get("run_dir", "?"))).name
            raise JobError(f"a training job is already running (run {name}); wait for it or cancel it")
        if current:
            log.info("taking over the stale job lock of pid %s", current.get("pid"))
        # leftovers of killed jobs (the runs' and caches' atomic writes); the lock keeps this job alone
        from soundkit.fileio import remove_stale_tmp

        for root in (home / "runs", home / "cache"):
            if remove_stale_tmp(root):
                log.info("%s: removed stale temporary files", root)
        run_dir.mkdir(parents=True, exist_ok=True)
        status_path = run_dir / STATUS_NAME
        _write_json(status_path, {
            "state": "running", "stage": "starting", "progress": 0.0, "epoch": 0, "epochs": None,
            "history": [], "eta_seconds": None, "message": "starting", "pid": None,
            "started": _now(), "updated": _now(), "home": str(home),
        })
        cmd = [sys.executable, "-m", "soundkit", "train", *args, "--out", str(run_dir), "--status", str(status_path)]
        env = child_env()
        env["SOUNDKIT_HOME"] = str(home)
        env["PYTHONUNBUFFERED"] = "1"
        with open(run_dir / LOG_NAME, "ab") as logf:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, cwd=str(home),
            )
        _write_json(lock, {"pid": proc.pid, "proc_start": _proc_start(proc.pid), "run_dir": str(run_dir),
                           "started": _now(), "command": cmd})
    # Reap the child when it ends so it never lingers as a zombie (which would look alive).
    threading.Thread(target=proc.wait, name=f"soundkit-job-{proc.pid}", daemon=True).start()
    log.info("started training job pid %d -> %s", proc.pid, run_dir)
    return Job(run_dir=run_dir, pid=proc.pid, home=home)


def child_env() -> dict[str, str]:
    """The environment for a ``python -m soundkit ...`` child process: this soundkit first on
    PYTHONPATH (so the child finds the same package wherever the caller imported it from) and
    TensorFlow's C++ logging quiet."""
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([pkg_root, *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def read_status(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The job status of a run directory, or None when it has none.

    A status still saying "running" whose process has gone is reported as "failed" (the last lines
    of ``train.log`` go into ``message``), so a crashed child never looks alive forever.
    """
    run_dir = Path(run_dir)
    path = run_dir / STATUS_NAME
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # being replaced right now (never half-written, but be lenient) or damaged
    if not isinstance(status, dict):
        return None
    if status.get("state") == "running":
        pid = status.get("pid")
        if pid is None:
            # Not started yet (the parent's placeholder): ask the lock which process owns the run.
            lock = _lock_for_run(run_dir)
            pid = lock.get("pid") if lock else None
            if lock is None and _age(status) < 30:
                return status
        if pid is not None and not _alive(pid):
            status = dict(status, state="failed", message=_failure_message(run_dir))
        elif pid is None:
            status = dict(status, state="failed", message="the training process is not running")
    return status


def _age(status: dict[str, Any]) -> float:
    try:
        return time.time() - datetime.fromisoformat(status["updated"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


def _homes(run_dir: Path) -> list[Path]:
    """Data directories whose lock may name this run: the one its status records, $SOUNDKIT_HOME,
    and the one a ``HOME/runs/<name>`` path implies."""
    from soundkit.config import home

    found: list[Path] = []
    try:
        recorded = json.loads((run_dir / STATUS_NAME).read_text(encoding="utf-8")).get("home")
    except (OSError, ValueError, AttributeError):
        recorded = None
    for h in (recorded, home(), run_dir.resolve().parent.parent):
        if h and Path(h).resolve() not in found:
            found.append(Path(h).resolve())
    return found


def _lock_for_run(run_dir: Path) -> dict[str, Any] | None:
    for h in _homes(run_dir):
        data = _read_lock(h / LOCK_NAME)
        if data and Path(str(data.get("run_dir"))) == run_dir.resolve():
            return data
    return None


def _failure_message(run_dir: Path) -> str:
    tail = ""
    try:
        lines = [ln.strip() for ln in (run_dir / LOG_NAME).read_text(errors="replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error:")]
        tail = errors[-1] if errors else (lines[-1] if lines else "")
    except OSError:
        pass
    return "the training process ended unexpectedly" + (f" ({tail[:300]})" if tail else "")


def cancel(run_dir: str | os.PathLike, *, timeout: float = 15.0) -> bool:
    """Terminate the run's training job (its whole process group) and mark it "cancelled".

    SIGTERM first (the child stops after the current batch, or at once outside model fitting), then
    SIGKILL after ``timeout`` seconds. Returns True when a live job was stopped, False when none was
    running (the status is left as it is).
    """
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    lock = _lock_for_run(run_dir)
    pid = (status or {}).get("pid") or (lock or {}).get("pid")
    if not pid or not _alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < timeout:
        time.sleep(0.1)
    if _alive(pid):
        log.warning("job pid %d ignored SIGTERM for %.0f s; killing it", pid, timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        t1 = time.monotonic()
        while _alive(pid) and time.monotonic() - t1 < 5:
            time.sleep(0.05)
    final = read_status(run_dir) or {}
    final.update(state="cancelled", message="cancelled by the user", eta_seconds=None, updated=_now(), pid=pid)
    _write_json(run_dir / STATUS_NAME, final)
    for h in _homes(run_dir):
        release_lock(h, pid=pid)
    return True


def list_jobs(home: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Status of every run under ``HOME/runs`` that has one, newest first; each gains "run_dir"."""
    from soundkit.config import home as default_home

    root = Path(home if home is not None else default_home()) / "runs"
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.is_dir() and (d / STATUS_NAME).is_file():
            st = read_status(d)
            if st is not None:
                out.append(dict(st, run_dir=str(d)))
    out.sort(key=lambda s: str(s.get("started") or ""), reverse=True)
    return out


# -- status writer ---------------------------------------------------------------------------------

class StatusWriter:
    """A progress callback that keeps ``status.json`` up to date (atomically, throttled).

    Call it with training's progress events; every stage change and every epoch is written at
    once, other events at most every ``min_interval`` seconds. ``eta_seconds`` comes from the mean
    time of the epochs after the first (which also builds the graph), so there is none until epoch
    2 has ended. :meth:`finish` writes the
    final state.

    Parameters
    ----------
    path : path
        The status file (``RUN_DIR/status.json``).
    min_interval : float
        Seconds between two throttled writes.
    home : path, optional
        The data directory whose ``jobs.lock`` names this job (recorded so readers can find it).
    """

    def __init__(self, path: str | os.PathLike, *, min_interval: float = 0.5, home: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        self.min_interval = float(min_interval)
        self._t0 = time.monotonic()
        self._last_write = 0.0
        self._stage_t0 = self._t0
        self._last_event = self._t0
        self._epoch_times: list[float] = []
        self._epoch_t0: float | None = None
        self._fit_clock: dict[int, float] = {}  # epoch -> training's seconds at its end
        self.status: dict[str, Any] = {
            "state": "running", "stage": "starting", "progress": 0.0, "epoch": 0, "epochs": None,
            "history": [], "eta_seconds": None, "message": "starting", "pid": os.getpid(),
            "started": _now(), "updated": _now(), "fold": None,
            "home": str(Path(home).resolve()) if home is not None else None,
        }
        self._write()

    def __call__(self, event: dict[str, Any]) -> None:
        st = self.status
        now = time.monotonic()
        stage = str(event.get("stage") or st["stage"])
        force = stage != st["stage"]
        if force:
            if stage == "train":  # the first train event ends epoch 1: it began when the last stage ended
                self._epoch_t0 = self._last_event
            self._stage_t0 = now
        st["stage"] = stage
        if event.get("message"):
            st["message"] = str(event["message"])
        if "fold" in event:
            st["fold"] = event["fold"]
        done, total = event.get("done"), event.get("total")
        frac = (float(done) / float(total)) if done is not None and total else 0.0
        if stage == "train" and event.get("epoch"):
            epoch = int(event["epoch"])
            st["epoch"], st["epochs"] = epoch, int(event.get("epochs") or st["epochs"] or epoch)
            row = {"epoch": epoch}
            row.update({k: float(event[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in event})
            st["history"] = [r for r in st["history"] if r.get("epoch") != epoch] + [row]
            if event.get("seconds") and epoch:  # training's own clock: seconds since fitting began
                # epoch 1 also builds the graph (often several epochs' time): time the later ones
                self._fit_clock[epoch] = float(event["seconds"])
                first = min(self._fit_clock)
                if epoch > first:
                    self._epoch_times = [(self._fit_clock[epoch] - self._fit_clock[first]) / (epoch - first)]
            elif self._epoch_t0 is not None:
                self._epoch_times.append(now - self._epoch_t0)
            self._epoch_t0 = now
            frac = epoch / st["epochs"]
            force = True
        lo, hi = _STAGE_SPAN.get(stage, (st["progress"], st["progress"]))
        st["progress"] = round(max(st["progress"], min(1.0, lo + (hi - lo) * min(frac, 1.0))), 4)
        st["eta_seconds"] = self._eta(stage, frac, now)
        self._last_event = now
        if force or now - self._last_write >= self.min_interval:
            self._write()

    def _eta(self, stage: str, frac: float, now: float) -> float | None:
        st = self.status
        if stage == "train" and st["epochs"] and (st["epoch"] or 0) < 2:
            return None  # epoch 1 holds the graph build: no honest ETA before a second epoch ends
        if stage == "train" and self._epoch_times and st["epochs"]:
            times = self._epoch_times[1:] if len(self._epoch_times) > 1 else self._epoch_times
            per_epoch = sum(times) / len(times)
            # evaluation and export take about one epoch's time
            return round(per_epoch * (st["epochs"] - st["epoch"] + 1), 1)
        if stage in ("features", "augment") and frac > 0:
            return None  # training time is unknown until the first epoch ends
        if stage in ("evaluate", "export"):
            return round(self._epoch_times[-1], 1) if self._epoch_times else None
        return None

    def finish(self, state: str, message: str | None = None, **extra: Any) -> None:
        """Write the final state ("done", "failed" or "cancelled")."""
        if state not in STATES:
            raise ParameterError(f"state must be one of {', '.join(STATES)}, got {state!r}")
        st = self.status
        st.update(state=state, eta_seconds=None, **extra)
        if state == "done":
            st.update(stage="done", progress=1.0)
        if message:
            st["message"] = message
        st["seconds"] = round(time.monotonic() - self._t0, 2)
        self._write()

    def _write(self) -> None:
        self.status["updated"] = _now()
        self._last_write = time.monotonic()
        try:
            _write_json(self.path, self.status)
        except OSError as exc:  # a status file we cannot write must not stop training
            log.warning("cannot write %s: %s", self.path, exc)
