"""Streamlit glue shared by the pages: session state, navigation, error display, optional modules.

The pages stay thin: widgets, calls into :mod:`soundkit`, rendering. Everything in this package is
about the web app; computation belongs in soundkit (which never imports streamlit). Nothing here
imports tensorflow or librosa. The helpers are split by page area:

- this module: session state, navigation, page header and links, optional soundkit modules, errors;
- :mod:`soundkit_app.resources`: cached label store, predictors and run summaries;
- :mod:`soundkit_app.rendering`: figures to PNG, audio decoding and bytes, file names, images;
- :mod:`soundkit_app.runs`: run reports, histories, metrics tables, confusion/compare plots, augmentation
  studies (Results);
- :mod:`soundkit_app.label`: label store helpers, import/export and suggestion sections (Label);
- :mod:`soundkit_app.classify`: model menu, cached classification, timeline (Classify);
- :mod:`soundkit_app.training`: model families, policies, launching and watching jobs (Train);
- :mod:`soundkit_app.augment`: clip input, spectrogram figures, augmentation previews (Spectrogram, Augment);
- :mod:`soundkit_app.workspace`: local or hosted mode, the session's workspace, quotas, expiry, the
  training queue (every page reaches the data directory through :func:`home`).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import streamlit as st

from soundkit.errors import SoundkitError

#: Upload types accepted everywhere (st.file_uploader's ``type``).
AUDIO_TYPES = ["wav", "flac", "ogg", "mp3"]

#: Sample rate asked of the browser's recorder (the recipe's rate).
RECORD_SR = 44100

#: Session-state defaults, set once per session by :func:`init_state`.
STATE_DEFAULTS: dict[str, Any] = {
    "undo": None,  # last deletion in the label store: {"ids": [...], "message": str}
    "augment_policy": None,  # policy dict saved on the Augment page, offered on Train
    "train_run": None,  # run directory of the job launched from this session
    "relabelled": [],  # clip ids relabelled on Results in this session
}

# Friendly names for pieces that may not have landed yet.
_PIECES = {
    "store": "The label store",
    "predict": "Prediction",
    "runs": "Run management",
    "jobs": "Background training",
    "plots": "Plotting",
    "augment": "Augmentation",
    "evaluation": "Evaluation",
    "training": "Training",
}


def init_state() -> None:
    """Initialise session state once per session (called by soundkit_app.navigation.run)."""
    for key, value in STATE_DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value.copy() if isinstance(value, list) else value


_NAV = threading.local()


@contextlib.contextmanager
def navigation_scope() -> Iterator[None]:
    """Marks the pages run by soundkit_app.navigation.run() (see :func:`header`)."""
    _NAV.active = True
    try:
        yield
    finally:
        _NAV.active = False


def _ensure_navigation() -> None:
    """Recover from Streamlit's legacy pages/ mode.

    With a pages/ folder next to the entry script, Streamlit starts in its old "pages directory"
    mode: on a freshly started server a deep link (e.g. /label) runs the page file alone, without
    soundkit_app.navigation.run(), and the sidebar lists the files instead of our navigation until some script
    calls st.navigation. So apply our page config and session state here, and in a real server
    register our navigation (st.navigation switches the legacy mode off for the whole process), then
    rerun the page under that navigation (widget ids differ between the two modes, so the first
    widget change would be lost). AppTest resets that mode before every run and runs pages this way
    each time; registering the navigation from inside a page would change the widget ids between its
    runs, so under AppTest only the config and state are applied.
    """
    if getattr(_NAV, "active", False):
        return
    from soundkit_app import navigation

    navigation.configure()
    if not st.get_option("global.appTest"):
        navigation.navigation()
        # Run the page again, now under the app's navigation: widget ids differ between the two modes,
        # so the first widget change (an upload, say) would otherwise be lost once.
        st.rerun()


def home() -> Path:
    """The session's data directory, absolute: its private workspace in hosted mode, else
    $SOUNDKIT_HOME (or ./soundkit_data). See :mod:`soundkit_app.workspace`."""
    from soundkit_app import workspace

    return workspace.home().resolve()


def hosted() -> bool:
    """True when the app runs in hosted mode (private workspaces, limits, no server paths)."""
    from soundkit_app import workspace

    return workspace.hosted()


def public(message: str) -> str:
    """A message fit for the visitor (no server paths in hosted mode)."""
    from soundkit_app import workspace

    return workspace.public_message(message)


def optional(module: str) -> ModuleType | None:
    """``soundkit.<module>`` or None when that module does not exist (yet)."""
    try:
        return importlib.import_module(f"soundkit.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == f"soundkit.{module}" or exc.name.startswith(f"soundkit.{module}.")):
            return None
        raise


def need(module: str, *attrs: str) -> ModuleType:
    """``soundkit.<module>``; when it (or one of ``attrs``) is missing, end the page with st.info."""
    mod = optional(module)
    missing = [a for a in attrs if mod is not None and not hasattr(mod, a)]
    if mod is None or missing:
        what = _PIECES.get(module, f"soundkit.{module}")
        st.info(
            f"{what} is not available in this build yet, so this part of the page is hidden.",
            icon=":material/construction:",
        )
        st.stop()
    return mod


@contextlib.contextmanager
def show_errors(*, stop: bool = True) -> Iterator[None]:
    """Turn a SoundkitError raised inside the block into one st.error line (and stop the page)."""
    try:
        yield
    except SoundkitError as exc:
        st.error(public(str(exc)), icon=":material/error:")
        if stop:
            st.stop()


def page_link(where: Any, page: str, label: str, *, icon: str | None = None) -> None:
    """A link to another page of the app by its file stem ("train" -> pages/train.py)."""
    where.page_link(str(Path(__file__).resolve().parents[1] / "pages" / f"{page}.py"), label=label, icon=icon)


def header(title: str, caption: str) -> None:
    """Page title plus a one-line caption (every page starts with it)."""
    _ensure_navigation()
    st.title(title)
    st.caption(caption)
    if hosted():
        from soundkit_app import resources, workspace

        workspace.sidebar(resources.store_or_none())


def changed() -> None:
    """After a change to the store: forget table selections (they would point at other rows) and rerun."""
    st.session_state["label_table_gen"] = st.session_state.get("label_table_gen", 0) + 1
    st.rerun()


def table_key(prefix: str, *parts: Any) -> str:
    """A widget key for a selectable table that changes with its filters and after every store change."""
    import zlib

    digest = zlib.crc32(repr(parts).encode("utf-8"))
    return f"{prefix}_{st.session_state.get('label_table_gen', 0)}_{digest:08x}"
