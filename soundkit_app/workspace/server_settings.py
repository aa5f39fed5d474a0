"""The server's settings and mode: :class:`Settings`, every knob of hosted mode, and :func:`settings`.

Hosted mode is on when any of these says so (first match wins):

1. ``SOUNDKIT_HOSTED`` is set: ``1``/``true``/``yes``/``on`` turns it on, ``0``/``false``/``no``/``off``
   turns it off (this overrides the two below);
2. Streamlit secrets: ``[soundkit]`` ``hosted = true`` in ``.streamlit/secrets.toml`` (or the app's
   secrets on Community Cloud); a missing secrets file reads as no setting;
3. Streamlit Community Cloud is detected: it clones the app's repository under ``/mount/src/<repo>``
   (so this file's path starts with ``/mount/src/``), and its containers run with ``HOSTNAME=streamlit``
   and ``HOME=/home/appuser``; either the path, or both variables, count.

Each other setting ``name``: env ``SOUNDKIT_<NAME>``, else secrets ``[soundkit] <name>``, else the
default of :class:`Settings`. Streamlit is imported only inside :func:`_secrets_section` (outside
Streamlit the secrets read as none).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundkit import config

log = logging.getLogger(__name__)

WORKSPACES = "workspaces"
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
