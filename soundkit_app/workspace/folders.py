"""Workspace ids and folders (no Streamlit): tokens, link and user ids, ``workspaces/<id>/`` and its
``workspace.json`` (kind, created; its mtime is the last use), the server secret."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from soundkit.errors import ParameterError
from soundkit_app.workspace.server_settings import WORKSPACES, Settings

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")
ID_RE = re.compile(r"[0-9a-f]{32}")
META = "workspace.json"
SECRET_NAME = ".workspace_secret"


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
