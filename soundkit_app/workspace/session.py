"""Sessions (Streamlit, imported inside the functions): the session's :class:`Workspace`, resolved by
:func:`enter` on every script run; :func:`current`, :func:`home`; the sidebar's workspace box."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundkit.errors import SoundkitError
from soundkit.store import Store
from soundkit_app.workspace.disk import disk_usage
from soundkit_app.workspace.expiry import sweep, sweep_due
from soundkit_app.workspace.folders import (
    create,
    created,
    exists,
    link_id,
    new_token,
    server_secret,
    touch,
    user_id,
    valid_token,
)
from soundkit_app.workspace.queue import ensure_pump
from soundkit_app.workspace.quotas import run_dirs
from soundkit_app.workspace.server_settings import Settings, _secrets_section, settings

log = logging.getLogger(__name__)

#: The query parameter holding a visitor's workspace token.
QUERY_KEY = "ws"
_SESSION_KEY = "_soundkit_workspace"


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
