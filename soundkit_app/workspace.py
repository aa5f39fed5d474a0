"""Which workspace a session works in: the app's two modes, private workspaces, quotas, expiry, the
training queue. Every page reaches the data directory through :func:`home` (``soundkit_app.home``), so
the rules below are enforced here, in one place.

Local mode (the default of ``streamlit run`` on your own machine): one workspace, the data directory
``$SOUNDKIT_HOME`` (default ./soundkit_data), server folders may be imported, no limits.

Hosted mode, on when any of these says so (first match wins):

1. ``SOUNDKIT_HOSTED`` is set: ``1``/``true``/``yes``/``on`` turns it on, ``0``/``false``/``no``/``off``
   turns it off (this overrides the two below);
2. Streamlit secrets: ``[soundkit]`` ``hosted = true`` in ``.streamlit/secrets.toml`` (or the app's
   secrets on Community Cloud); a missing secrets file reads as no setting;
3. Streamlit Community Cloud is detected: it clones the app's repository under ``/mount/src/<repo>``
   (so this file's path starts with ``/mount/src/``), and its containers run with ``HOSTNAME=streamlit``
   and ``HOME=/home/appuser``; either the path, or both variables, count.

In hosted mode each visitor works in a private workspace, ``$SOUNDKIT_HOME/workspaces/<id>/``, a data
directory of its own (store, runs, policies, exports, caches, job lock). ``<id>`` is 32 hex digits:

- a visitor without sign-in gets an unguessable token (``secrets.token_urlsafe(24)``, 32 URL-safe
  characters) kept in the page address as ``?ws=<token>``; ``<id>`` is a SHA-256 of the token, so the
  folder names on disk are not the keys. A token of the wrong shape is never used for anything; a
  well-formed one whose workspace does not exist (expired, or made up) is not trusted either: the
  visitor gets a new workspace and a note saying so;
- where the deployer configured Streamlit authentication (an ``[auth]`` section in secrets) and the
  visitor signed in (``st.login``), ``<id>`` is an HMAC-SHA256 of the user's subject (or e-mail) under
  a server secret (``workspace_secret``, else a random one kept in ``$SOUNDKIT_HOME/.workspace_secret``).

Limits (:class:`Settings`, env ``SOUNDKIT_<NAME>`` or secrets ``[soundkit] <name>``): clips, stored
megabytes and runs per workspace, a disk cap over all workspaces, idle expiry (a sweep at session
start removes workspaces unused for ``expire_hours``, never the current one nor one with a job), at
most one job per workspace and ``max_jobs`` training jobs at once with a first-come queue
(:class:`soundkit.jobqueue.JobQueue` in ``$SOUNDKIT_HOME/queue.sqlite``) moved by a background thread
of the server and by the Train page. Hitting a limit raises :class:`soundkit.errors.QuotaError`,
shown as one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundkit import config
from soundkit.errors import ParameterError, QuotaError, SoundkitError
from soundkit.store import Store

log = logging.getLogger(__name__)

#: The query parameter holding a visitor's workspace token.
QUERY_KEY = "ws"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")
ID_RE = re.compile(r"[0-9a-f]{32}")
WORKSPACES = "workspaces"
META = "workspace.json"
QUEUE_NAME = "queue.sqlite"
SECRET_NAME = ".workspace_secret"
_SESSION_KEY = "_soundkit_workspace"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# -- settings --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Every knob of hosted mode. Each field ``name`` is read from env ``SOUNDKIT_<NAME>``, else from
    Streamlit secrets ``[soundkit] name``, else the default below; a value that does not parse is
    logged and the default is used."""

    hosted: bool = False
    #: Why the mode is what it is ("SOUNDKIT_HOSTED=1", "secrets", "Community Cloud", "default").
    reason: str = "default"
    root: Path = Path("soundkit_data")
    #: Live clips per workspace.
    max_clips: int = 500
    #: Stored audio per workspace, in MB (deleted clips count until they are purged).
    max_mb: float = 150.0
    #: Runs per workspace (finished, failed or running).
    max_runs: int = 10
    #: A workspace unused this long is removed by the next session's sweep.
    expire_hours: float = 24.0
    #: All workspaces together, in MB; past it nothing more is stored until expiry frees room.
    disk_cap_mb: float = 3000.0
    #: Training jobs running at the same time on the server.
    max_jobs: int = 1
    #: Training jobs allowed to wait in the queue.
    max_queue: int = 20
    #: Highest number of epochs the Train page offers.
    max_epochs: int = 50
    #: A training job running longer is stopped.
    job_minutes: float = 30.0
    #: Model families offered (Inception V3 needs more memory than a small server has).
    families: tuple[str, ...] = ("cnn", "yamnet")
    #: Folder of the demo dataset (folder per class or ESC-50); empty: $SOUNDKIT_HOME/datasets/ESC-10.
    demo_dataset: str = ""
    #: Clips per class the demo copies into a workspace (spread over the dataset's folds).
    demo_per_class: int = 8
    #: Without a demo folder: fetch ESC-10 (about 40 MB) once into $SOUNDKIT_HOME/datasets on first use.
    demo_download: bool = True
    #: Where that download comes from (empty: the official archive; a path or file:// URL works too).
    demo_url: str = ""
    #: Key for signed-in users' workspace ids; empty: a random one kept in $SOUNDKIT_HOME.
    workspace_secret: str = ""
    #: With Streamlit authentication configured: visitors must sign in (no link workspaces).
    require_login: bool = False

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1e6)

    @property
    def disk_cap_bytes(self) -> int:
        return int(self.disk_cap_mb * 1e6)

    @property
    def expire_seconds(self) -> float:
        return self.expire_hours * 3600.0

    @property
    def workspaces_dir(self) -> Path:
        return self.root / WORKSPACES

    @property
    def demo_path(self) -> Path | None:
        """The demo dataset's folder when it exists (a path for the server's eyes only)."""
        path = Path(self.demo_dataset).expanduser() if self.demo_dataset else self.root / "datasets" / "ESC-10"
        return path if path.is_dir() else None


#: Settings a deployer may change (everything but the computed ``hosted``/``reason``/``root``).
TUNABLE = tuple(f.name for f in dataclasses.fields(Settings) if f.name not in ("hosted", "reason", "root"))


def _secrets_section(name: str) -> dict[str, Any]:
    """``st.secrets[name]`` as a dict; {} with no secrets file, no section or outside Streamlit."""
    try:
        import streamlit as st

        section = st.secrets.get(name)
        return dict(section) if section is not None and hasattr(section, "keys") else {}
    except Exception:  # noqa: BLE001 - no secrets.toml (StreamlitSecretNotFoundError), a bad one, bare mode
        return {}


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def on_community_cloud(*, path: str | None = None, environ: Any = None) -> bool:
    """Whether this process runs on Streamlit Community Cloud (see the module docstring)."""
    env = os.environ if environ is None else environ
    here = path if path is not None else str(Path(__file__).resolve())
    if here.replace("\\", "/").startswith("/mount/src/"):
        return True
    return env.get("HOSTNAME") == "streamlit" and env.get("HOME") == "/home/appuser"


def _convert(name: str, raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        flag = _flag(raw)
        if flag is None:
            raise ValueError(raw)
        return flag
    if isinstance(default, int):
        value = int(str(raw).strip()) if not isinstance(raw, int) else raw
        if value < (1 if name in ("max_jobs", "max_epochs") else 0):
            raise ValueError(raw)
        return value
    if isinstance(default, float):
        value = float(raw)
        if not value >= 0:
            raise ValueError(raw)
        return value
    if isinstance(default, tuple):
        items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        return tuple(str(i).strip() for i in items if str(i).strip())
    return str(raw)


def settings(*, environ: Any = None, secrets_: dict[str, Any] | None = None, path: str | None = None) -> Settings:
    """The server's settings and mode (env first, then secrets ``[soundkit]``, then defaults).

    ``environ``, ``secrets_`` and ``path`` replace os.environ, ``st.secrets["soundkit"]`` and this
    file's path (for tests)."""
    env = os.environ if environ is None else environ
    sec = _secrets_section("soundkit") if secrets_ is None else secrets_
    values: dict[str, Any] = {}
    defaults = Settings()
    for name in TUNABLE:
        default = getattr(defaults, name)
        raw = env.get(f"SOUNDKIT_{name.upper()}")
        if raw is None or raw == "":
            raw = sec.get(name)
        if raw is None:
            continue
        try:
            values[name] = _convert(name, raw, default)
        except (TypeError, ValueError):
            log.warning("setting %s: %r is not valid; using the default %r", name, raw, default)
    hosted, reason = False, "default"
    env_flag = _flag(env.get("SOUNDKIT_HOSTED", "")) if env.get("SOUNDKIT_HOSTED") else None
    if env_flag is not None:
        hosted, reason = env_flag, f"SOUNDKIT_HOSTED={env.get('SOUNDKIT_HOSTED')}"
    elif sec.get("hosted") is not None and _flag(sec.get("hosted")) is not None:
        hosted, reason = bool(_flag(sec.get("hosted"))), "secrets"
    elif on_community_cloud(path=path, environ=env):
        hosted, reason = True, "Community Cloud"
    root = config.home(environ=env).resolve()
    return Settings(hosted=hosted, reason=reason, root=root, **values)


def hosted() -> bool:
    """True in hosted mode."""
    return settings().hosted


# -- workspace ids and folders (no Streamlit) ------------------------------------------------------


def new_token() -> str:
    """A fresh, unguessable workspace token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def valid_token(token: Any) -> bool:
    """True for a string of exactly the shape :func:`new_token` makes (nothing else is ever used)."""
    return isinstance(token, str) and TOKEN_RE.fullmatch(token) is not None


def link_id(token: str) -> str:
    """The folder name of a link workspace: a SHA-256 of its (validated) token."""
    if not valid_token(token):
        raise ParameterError("not a workspace token")
    return hashlib.sha256(b"soundkit-workspace:" + token.encode("ascii")).hexdigest()[:32]


def user_id(subject: str, secret: str) -> str:
    """The folder name of a signed-in user's workspace: an HMAC of their subject under the server secret."""
    if not subject or not secret:
        raise ParameterError("a user workspace needs a subject and a server secret")
    return hmac.new(secret.encode("utf-8"), b"user:" + subject.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def workspace_dir(root: Path, wid: str) -> Path:
    """``root/workspaces/<wid>`` for an id of 32 hex digits (anything else raises ParameterError)."""
    if not isinstance(wid, str) or ID_RE.fullmatch(wid) is None:
        raise ParameterError("not a workspace id")
    return Path(root) / WORKSPACES / wid


def exists(root: Path, wid: str) -> bool:
    return (workspace_dir(root, wid) / META).is_file()


def create(root: Path, wid: str, *, kind: str) -> Path:
    """Make (or keep) workspace ``wid``'s folder and its workspace.json; its home."""
    home = workspace_dir(root, wid)
    home.mkdir(parents=True, exist_ok=True)
    meta = home / META
    if not meta.is_file():
        from soundkit.fileio import write_atomic

        write_atomic(meta, json.dumps({"kind": kind, "created": time.time()}) + "\n")
    return home


def created(home: Path) -> float:
    """When a workspace was made (0.0 when unknown)."""
    try:
        return float(json.loads((home / META).read_text(encoding="utf-8")).get("created", 0.0))
    except (OSError, ValueError, AttributeError, TypeError):
        return 0.0


def last_used(home: Path) -> float:
    """When a workspace was last used (workspace.json's modification time)."""
    try:
        return (home / META).stat().st_mtime
    except OSError:
        return 0.0


def touch(home: Path, *, every: float = 60.0) -> None:
    """Record a use of the workspace (at most one write per ``every`` seconds)."""
    now = time.time()
    if now - last_used(home) >= every:
        with contextlib.suppress(OSError):
            os.utime(home / META, (now, now))


def server_secret(s: Settings) -> str:
    """The key of signed-in users' workspace ids: the setting, else one kept in the data root."""
    if s.workspace_secret:
        return s.workspace_secret
    path = s.root / SECRET_NAME
    with contextlib.suppress(OSError):
        return path.read_text(encoding="ascii").strip() or _write_secret(path)
    return _write_secret(path)


def _write_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    return value


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


# -- messages --------------------------------------------------------------------------------------

_ABS_PATH = re.compile(r"(?<![\w.~/])/(?:[^\s/'\"`()<>,;:]+/)+")


def public_message(text: str, *, s: Settings | None = None) -> str:
    """A message fit for a visitor: in hosted mode every absolute path loses its folders (only the last
    part stays), so no server path is shown. Local mode: unchanged."""
    s = s or settings()
    if not s.hosted or not text:
        return text
    return _ABS_PATH.sub("", str(text))


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


# -- sessions (Streamlit) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    """The workspace of a session. ``kind``: "local", "link" (token in the address) or "user" (signed in)."""

    id: str
    home: Path
    kind: str
    token: str | None = None
    stamp: float = 0.0  # its creation time: a recreated workspace never reuses a cached store

    @property
    def private(self) -> bool:
        return self.kind != "local"


def _user() -> dict[str, Any] | None:
    """The signed-in user's claims when Streamlit authentication is configured and they signed in."""
    if not _secrets_section("auth"):
        return None
    try:
        import streamlit as st

        if st.user.get("is_logged_in"):
            return dict(st.user.to_dict()) if hasattr(st.user, "to_dict") else {k: st.user[k] for k in st.user}
    except Exception:  # noqa: BLE001 - auth not configured or not available in this Streamlit
        return None
    return None


def auth_configured() -> bool:
    return bool(_secrets_section("auth"))


def _local(s: Settings) -> Workspace:
    return Workspace(id="local", home=s.root, kind="local")


def enter() -> Workspace:
    """Resolve this session's workspace (once per script run; cheap): keep the one of this session,
    else the signed-in user's, else the one the address's token names, else a new one. Puts the
    token in the address, records the use, and sweeps expired workspaces once per session."""
    import streamlit as st

    s = settings()
    if not s.hosted:
        return _local(s)
    state = st.session_state
    ws: Workspace | None = state.get(_SESSION_KEY)
    expired = ws is not None and not exists(s.root, ws.id)
    if expired:
        ws = None  # removed since (expired while this tab slept)
        state["_soundkit_ws_notice"] = (
            f"Your workspace had expired ({s.expire_hours:g} h unused); this is a new, empty one."
        )
    user = _user()
    if user is not None:
        subject = str(user.get("sub") or user.get("email") or "")
        wid = user_id(subject, server_secret(s)) if subject else None
        if wid is not None and (ws is None or ws.id != wid):
            home = create(s.root, wid, kind="user")
            ws = Workspace(id=wid, home=home, kind="user", stamp=created(home))
    elif ws is not None and ws.kind == "user":
        ws = None  # signed out: back to a link workspace
    if ws is None:
        if s.require_login and auth_configured():
            _login_wall()
        given = st.query_params.get(QUERY_KEY)
        if valid_token(given) and exists(s.root, link_id(given)):
            wid, token = link_id(given), given
        else:
            if given and not expired:
                state["_soundkit_ws_notice"] = (
                    "That workspace link is not valid any more (workspaces expire after "
                    f"{s.expire_hours:g} h unused): this is a new, empty workspace."
                )
            token = new_token()
            wid = link_id(token)
        home = create(s.root, wid, kind="link")
        ws = Workspace(id=wid, home=home, kind="link", token=token, stamp=created(home))
    state[_SESSION_KEY] = ws
    if ws.kind == "link" and st.query_params.get(QUERY_KEY) != ws.token:
        st.query_params[QUERY_KEY] = ws.token
    touch(ws.home)
    if not state.get("_soundkit_swept"):
        state["_soundkit_swept"] = True
        if sweep_due(s):
            try:
                sweep(s, keep={ws.id})
            except (OSError, SoundkitError):
                log.exception("the workspace expiry sweep failed")
    ensure_pump(s)
    return ws


def _login_wall() -> None:
    import streamlit as st

    st.title("soundkit")
    st.info("Sign in to get your own private workspace.", icon=":material/lock:")
    if st.button("Sign in", key="workspace_login", type="primary", icon=":material/login:"):
        st.login()
    st.stop()


def current() -> Workspace:
    """This session's workspace (resolving it when needed); the single workspace in local mode."""
    s = settings()
    if not s.hosted:
        return _local(s)
    try:
        import streamlit as st

        ws = st.session_state.get(_SESSION_KEY)
    except Exception:  # noqa: BLE001 - no session (a bare script or a thread)
        ws = None
    return ws if ws is not None else enter()


def home() -> Path:
    """The data directory of this session: its workspace in hosted mode, $SOUNDKIT_HOME in local mode."""
    return current().home


def usage(ws: Workspace, store: Store | None, s: Settings) -> dict[str, Any]:
    """{"clips", "mb", "runs"} of a workspace with the limits {"max_clips", "max_mb", "max_runs"}."""
    clips = 0
    if store is not None:
        with contextlib.suppress(SoundkitError):
            clips = store.stats().get("clips", 0)
    return {
        "clips": clips, "mb": disk_usage(ws.home / "audio") / 1e6, "runs": len(run_dirs(ws.home)),
        "max_clips": s.max_clips, "max_mb": s.max_mb, "max_runs": s.max_runs,
    }  # fmt: skip


def sidebar(store: Store | None) -> None:
    """Hosted mode: the sidebar's workspace box (how to come back, usage against the limits, sign-in)."""
    import streamlit as st

    s = settings()
    if not s.hosted:
        return
    ws = current()
    notice = st.session_state.get("_soundkit_ws_notice")
    with st.sidebar, st.container(border=True, key="workspace_box"):
        if notice:  # for the whole session: the visitor may look for the old clips on any page
            st.warning(notice, icon=":material/info:")
        if ws.kind == "user":
            st.markdown("**Your workspace** (signed in)")
        else:
            st.markdown("**Your private workspace**")
            st.caption(
                "Bookmark this page: its address holds your workspace key and brings you back to your clips "
                "and runs. Anyone with that address can open them."
            )
        u = usage(ws, store, s)
        st.caption(
            f"{u['clips']} / {u['max_clips']} clips · {u['mb']:.1f} / {u['max_mb']:g} MB · "
            f"{u['runs']} / {u['max_runs']} runs · removed after {s.expire_hours:g} h unused"
        )
        if auth_configured():
            if ws.kind == "user":
                if st.button("Sign out", key="workspace_logout", icon=":material/logout:"):
                    st.logout()
            elif st.button("Sign in for a workspace of your own", key="workspace_login_side", icon=":material/login:"):
                st.login()
