"""A first-come training queue shared by every session and process of a server (SQLite on disk).

:mod:`soundkit.jobs` allows one job per data directory. A server that hosts many data directories
(one workspace per visitor) also needs a global bound: at most ``max_running`` training jobs at once,
the others waiting their turn in the order they were submitted. The queue lives in one SQLite file,
so it works across browser sessions, reruns and server processes, and survives a restart.

    queue = JobQueue(root / "queue.sqlite", max_running=1)
    entry = queue.submit(home, run_dir, ["HOME", "--model", "cnn", "--epochs", "5"])
    queue.pump()                         # starts queued jobs while slots are free
    queue.ahead(entry.id)                # how many jobs wait before this one
    queue.cancel(entry.id)               # leaves the queue, or stops the running job

Nothing starts a job but :meth:`JobQueue.pump`: call it after a submit, from a page that polls, or from
a background thread (the app runs one). Each call also notices jobs that ended (their status file left
"running") and stops a job that ran past ``max_seconds``. A workspace (``home``) has at most one
active entry (queued or running); finished entries are kept a day for their owner's page, then dropped.

Entry states: "queued", "running", then "done", "failed" or "cancelled". Messages never hold a
process id or a server path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from soundkit.errors import JobError, QuotaError, SoundkitError
from soundkit.sqlite_tx import immediate

__all__ = ["JobQueue", "Entry", "ACTIVE", "FINAL"]

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled")
#: Finished entries are dropped this many seconds after they end.
KEEP_FINISHED_S = 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    home      TEXT NOT NULL,
    run_dir   TEXT NOT NULL,
    args      TEXT NOT NULL,
    state     TEXT NOT NULL,
    message   TEXT,
    submitted REAL NOT NULL,
    started   REAL,
    ended     REAL
);
CREATE INDEX IF NOT EXISTS entries_state ON entries(state, id);
CREATE INDEX IF NOT EXISTS entries_home ON entries(home, state)
"""


@dataclass(frozen=True)
class Entry:
    """One submitted job."""

    id: int
    home: Path
    run_dir: Path
    args: tuple[str, ...]
    state: str
    message: str | None
    submitted: float
    started: float | None
    ended: float | None

    @property
    def name(self) -> str:
        """The run's name (its directory's)."""
        return self.run_dir.name

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class JobQueue:
    """A first-come queue of training jobs with at most ``max_running`` running at once.

    Parameters
    ----------
    path : path
        The SQLite file (created with its folder when missing).
    max_running : int
        Training jobs allowed to run at the same time (>= 1).
    max_queued : int or None
        Entries allowed to wait; a submit past it raises QuotaError.
    max_seconds : float or None
        A running job older than this is stopped by :meth:`pump` (state "failed").
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        max_running: int = 1,
        max_queued: int | None = None,
        max_seconds: float | None = None,
    ) -> None:
        if int(max_running) < 1:
            raise ValueError(f"max_running must be at least 1, got {max_running!r}")
        self.path = Path(path)
        self.max_running = int(max_running)
        self.max_queued = None if max_queued is None else int(max_queued)
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._tx() as con:
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                con.execute(stmt)

    # -- connections -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE serialises every submit and pump)."""
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA busy_timeout = 30000")
            with immediate(con):
                yield con
        except sqlite3.DatabaseError as exc:
            raise JobError(f"the training queue is unavailable ({exc})") from None
        finally:
            con.close()

    @staticmethod
    def _entry(row: sqlite3.Row) -> Entry:
        return Entry(
            id=row["id"], home=Path(row["home"]), run_dir=Path(row["run_dir"]), args=tuple(json.loads(row["args"])),
            state=row["state"], message=row["message"], submitted=row["submitted"], started=row["started"],
            ended=row["ended"],
        )  # fmt: skip

    # -- submitting and reading ----------------------------------------------------------------------

    def submit(self, home: str | os.PathLike, run_dir: str | os.PathLike, args: Sequence[str]) -> Entry:
        """Queue a training job of data directory ``home`` (``args`` as for :func:`soundkit.jobs.start_training`).

        Raises
        ------
        JobError
            ``home`` has a queued or running job already, or the run directory holds a model.
        QuotaError
            ``max_queued`` entries are waiting.
        """
        home, run_dir = Path(home).resolve(), Path(run_dir).resolve()
        if (run_dir / "model.keras").exists():
            raise JobError(f"run {run_dir.name}: already holds a trained model; choose another run name")
        with self._tx() as con:
            mine = con.execute(
                "SELECT run_dir, state FROM entries WHERE home = ? AND state IN ('queued', 'running')", (str(home),)
            ).fetchone()
            if mine is not None:
                what = "waiting" if mine["state"] == "queued" else "running"
                raise JobError(
                    f"a training job of this workspace is {what} already (run {Path(mine['run_dir']).name}); "
                    "wait for it or cancel it"
                )
            if self.max_queued is not None:
                waiting = con.execute("SELECT COUNT(*) FROM entries WHERE state = 'queued'").fetchone()[0]
                if waiting >= self.max_queued:
                    raise QuotaError(f"{waiting} training jobs are waiting, the server's limit; try again later")
            eid = con.execute(
                "INSERT INTO entries(home, run_dir, args, state, submitted) VALUES (?, ?, ?, 'queued', ?)",
                (str(home), str(run_dir), json.dumps([str(a) for a in args]), time.time()),
            ).lastrowid
            row = con.execute("SELECT * FROM entries WHERE id = ?", (eid,)).fetchone()
        log.info("queued training job %d (run %s)", eid, run_dir.name)
        return self._entry(row)

    def get(self, entry_id: int) -> Entry | None:
        with self._tx() as con:
            row = con.execute("SELECT * FROM entries WHERE id = ?", (int(entry_id),)).fetchone()
        return None if row is None else self._entry(row)

    def active(self, home: str | os.PathLike) -> Entry | None:
        """The queued or running entry of data directory ``home``, or None."""
        with self._tx() as con:
            row = con.execute(
                "SELECT * FROM entries WHERE home = ? AND state IN ('queued', 'running') ORDER BY id LIMIT 1",
                (str(Path(home).resolve()),),
            ).fetchone()
        return None if row is None else self._entry(row)

    def latest(self, home: str | os.PathLike) -> Entry | None:
        """The newest entry of ``home`` in any state, or None."""
        with self._tx() as con:
            row = con.execute(
                "SELECT * FROM entries WHERE home = ? ORDER BY id DESC LIMIT 1", (str(Path(home).resolve()),)
            ).fetchone()
        return None if row is None else self._entry(row)

    def ahead(self, entry_id: int) -> int:
        """Queued entries submitted before this one (0: it starts at the next free slot)."""
        with self._tx() as con:
            return con.execute(
                "SELECT COUNT(*) FROM entries WHERE state = 'queued' AND id < ?", (int(entry_id),)
            ).fetchone()[0]

    def entries(self, *states: str) -> list[Entry]:
        """Entries in the given states (all when none), oldest first."""
        with self._tx() as con:
            if states:
                marks = ", ".join("?" * len(states))
                rows = con.execute(f"SELECT * FROM entries WHERE state IN ({marks}) ORDER BY id", states).fetchall()
            else:
                rows = con.execute("SELECT * FROM entries ORDER BY id").fetchall()
        return [self._entry(r) for r in rows]

    def homes_active(self) -> set[Path]:
        """Data directories with a queued or running entry (expiry must keep them)."""
        return {e.home for e in self.entries(*ACTIVE)}

    # -- moving the queue ----------------------------------------------------------------------------

    def pump(self) -> list[Entry]:
        """Settle ended jobs, stop overdue ones and start queued jobs while slots are free; the started."""
        from soundkit import jobs

        started: list[Entry] = []
        now = time.time()
        with self._tx() as con:
            for row in con.execute("SELECT * FROM entries WHERE state = 'running'").fetchall():
                entry = self._entry(row)
                status = jobs.read_status(entry.run_dir)
                state = (status or {}).get("state", "failed")
                if state == "running" and self.max_seconds is not None and now - (entry.started or now) > self.max_seconds:
                    jobs.cancel(entry.run_dir, timeout=10.0)
                    message = f"stopped after {self.max_seconds / 60:.0f} minutes, the server's limit for one job"
                    _mark_status(entry.run_dir, state="failed", message=message)
                    self._finish(con, entry.id, "failed", message, now)
                elif state != "running":
                    message = (status or {}).get("message") or "the training process is not running"
                    self._finish(con, entry.id, state if state in FINAL else "failed", message, now)
            running = con.execute("SELECT COUNT(*) FROM entries WHERE state = 'running'").fetchone()[0]
            while running < self.max_running:
                row = con.execute("SELECT * FROM entries WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
                if row is None:
                    break
                entry = self._entry(row)
                try:
                    jobs.start_training(entry.home, list(entry.args), entry.run_dir)
                except SoundkitError as exc:
                    self._finish(con, entry.id, "failed", str(exc), now)
                    continue
                con.execute("UPDATE entries SET state = 'running', started = ? WHERE id = ?", (now, entry.id))
                started.append(entry)
                running += 1
            con.execute("DELETE FROM entries WHERE ended IS NOT NULL AND ended < ?", (now - KEEP_FINISHED_S,))
        for entry in started:
            log.info("started queued training job %d (run %s)", entry.id, entry.name)
        return started

    @staticmethod
    def _finish(con: sqlite3.Connection, entry_id: int, state: str, message: str | None, now: float) -> None:
        con.execute(
            "UPDATE entries SET state = ?, message = ?, ended = ? WHERE id = ?", (state, message, now, entry_id)
        )

    def cancel(self, entry_id: int) -> bool:
        """Take a queued entry out of the queue, or stop its running job; False when it was not active."""
        from soundkit import jobs

        entry = self.get(entry_id)
        if entry is None or not entry.active:
            return False
        if entry.state == "running":
            jobs.cancel(entry.run_dir)
        with self._tx() as con:
            con.execute(
                "UPDATE entries SET state = 'cancelled', message = 'cancelled by the user', ended = ?"
                " WHERE id = ? AND state IN ('queued', 'running')",
                (time.time(), entry.id),
            )
        return True

    def forget(self, home: str | os.PathLike) -> int:
        """Drop every finished entry of ``home`` (its workspace is being removed)."""
        with self._tx() as con:
            return con.execute(
                "DELETE FROM entries WHERE home = ? AND state NOT IN ('queued', 'running')", (str(Path(home).resolve()),)
            ).rowcount


def _mark_status(run_dir: Path, **changes: object) -> None:
    """Rewrite fields of a run's status.json (after the queue stopped its job)."""
    from soundkit.jobs import STATUS_NAME
    from soundkit.runs import write_atomic

    path = run_dir / STATUS_NAME
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = {}
    if isinstance(status, dict):
        status.update(changes)
        write_atomic(path, json.dumps(status, indent=1, sort_keys=True, default=float) + "\n")
