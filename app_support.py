"""Streamlit glue shared by the pages: cached resources, session keys, error display, job polling.

The pages stay thin: widgets, calls into :mod:`soundkit`, rendering. Everything here is about the
web app; computation belongs in soundkit. This module never imports tensorflow or librosa.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import streamlit as st

from soundkit.errors import SoundkitError

log = logging.getLogger(__name__)

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
    """Initialise session state once per session (called by streamlit_app.run)."""
    for key, value in STATE_DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value.copy() if isinstance(value, list) else value


_NAV = threading.local()


@contextlib.contextmanager
def navigation_scope() -> Iterator[None]:
    """Marks the pages run by streamlit_app.run() (see :func:`header`)."""
    _NAV.active = True
    try:
        yield
    finally:
        _NAV.active = False


def _ensure_navigation() -> None:
    """Recover from Streamlit's legacy pages/ mode.

    On a freshly started server, a deep link (e.g. /label) is answered by Streamlit's old
    "pages/ directory" mode, which runs the page file alone and shows a different sidebar until some
    script calls st.navigation. When that happens, register our navigation and rerun the same page
    (its url path, hence its page hash, is the same in both modes).
    """
    if getattr(_NAV, "active", False):
        return
    import streamlit_app

    init_state()
    streamlit_app.navigation()
    st.rerun()


def home() -> Path:
    """The data directory ($SOUNDKIT_HOME or ./soundkit_data), absolute."""
    from soundkit.config import home as _home

    return _home().resolve()


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
        st.error(str(exc), icon=":material/error:")
        if stop:
            st.stop()


def header(title: str, caption: str) -> None:
    """Page title plus a one-line caption (every page starts with it)."""
    _ensure_navigation()
    st.title(title)
    st.caption(caption)


# --------------------------------------------------------------------------------------- resources


@st.cache_resource(show_spinner=False)
def _store(home_dir: str) -> Any:
    from soundkit.store import Store

    return Store(Path(home_dir))


def store() -> Any:
    """The label store of the current data directory (one per process and directory)."""
    need("store", "Store")
    with show_errors():
        return _store(str(home()))


def store_or_none() -> Any | None:
    """The store, or None when the store module has not landed (for optional widgets)."""
    if optional("store") is None:
        return None
    try:
        return _store(str(home()))
    except SoundkitError:
        return None


@st.cache_resource(show_spinner=False, max_entries=4)
def _predictor(run_dir: str, stamp: float) -> Any:
    from soundkit.predict import Predictor

    return Predictor.load(run_dir)


def predictor(run_dir: str | Path) -> Any:
    """A cached Predictor for a run directory (reloaded when its model files change)."""
    need("predict", "Predictor")
    run_dir = Path(run_dir)
    stamp = max((p.stat().st_mtime for p in run_dir.glob("model.*")), default=0.0)
    with show_errors():
        return _predictor(str(run_dir), stamp)


def list_runs() -> list[Path]:
    """Finished run directories, newest first ([] when none or when runs.py is missing)."""
    runs = optional("runs")
    root = home() / "runs"
    if runs is not None and hasattr(runs, "list_runs"):
        try:
            return [Path(getattr(r, "path", r)) for r in runs.list_runs(root)]
        except SoundkitError as exc:
            log.warning("cannot list runs: %s", exc)
            return []
    if not root.is_dir():
        return []
    found = [d for d in root.iterdir() if (d / "labels.json").is_file() and (d / "model.keras").exists()]
    return sorted(found, key=lambda d: d.stat().st_mtime, reverse=True)


def run_label(run_dir: str | Path) -> str:
    """A short human name for a run directory (its folder name)."""
    return Path(run_dir).name


# --------------------------------------------------------------------------------------- rendering


def fig_png(fig: Any, *, dpi: int = 110) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (keeps memory flat)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=64)
def load_audio(data: bytes, name: str) -> tuple[Any, int]:
    """Decode uploaded or stored bytes once: (y float32 (n,), sr) at 44.1 kHz mono."""
    from soundkit import audio

    return audio.load(data, name=name)


@st.cache_data(show_spinner=False, max_entries=64)
def wav_bytes(y: Any, sr: int) -> bytes:
    """WAV bytes for st.audio of a signal (cached so reruns do not re-encode)."""
    from soundkit import audio

    return audio.to_wav_bytes(y, sr)


def uploaded_bytes(uploaded: Any) -> tuple[bytes, str]:
    """(bytes, file name) of an st.file_uploader / st.audio_input value."""
    return uploaded.getvalue(), getattr(uploaded, "name", None) or "recording.wav"


def safe_name(name: str) -> str:
    """The base name of an uploaded file (browsers may send paths)."""
    return os.path.basename(name.replace("\\", "/")) or "clip"
