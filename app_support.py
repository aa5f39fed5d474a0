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

    With a pages/ folder next to the entry script, Streamlit starts in its old "pages directory"
    mode: on a freshly started server a deep link (e.g. /label) runs the page file alone, without
    streamlit_app.run(), and the sidebar lists the files instead of our navigation until some script
    calls st.navigation. So apply our page config and session state here, and in a real server
    register our navigation (st.navigation switches the legacy mode off for the whole process), then
    go on rendering this page. AppTest resets that mode before every run and runs pages this way each
    time; registering the navigation from inside a page would change the widget ids between its
    runs, so under AppTest only the config and state are applied.
    """
    if getattr(_NAV, "active", False):
        return
    import streamlit_app

    streamlit_app.configure()
    if not st.get_option("global.appTest"):
        streamlit_app.navigation()


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


def page_link(where: Any, page: str, label: str, *, icon: str | None = None) -> None:
    """A link to another page of the app by its file stem ("train" -> pages/train.py)."""
    where.page_link(str(Path(__file__).resolve().parent / "pages" / f"{page}.py"), label=label, icon=icon)


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


def list_runs(*, complete_only: bool = True) -> list[Any]:
    """Run directories (soundkit.runs.Run), newest first; [] when none or when runs.py is missing."""
    runs = optional("runs")
    if runs is None:
        return []
    return runs.list_runs(home() / "runs", complete_only=complete_only)


def _stamp(path: Path) -> float:
    """Latest modification time of a run's small files (cache key that changes when they do)."""
    names = ("config.json", "labels.json", "report.json", "meta.json", "history.csv", "model.keras")
    return max((p.stat().st_mtime for n in names if (p := path / n).exists()), default=0.0)


@st.cache_data(show_spinner=False, max_entries=256)
def _run_info(path: str, stamp: float) -> dict[str, Any]:
    from soundkit.runs import Run

    run = Run(Path(path))
    info: dict[str, Any] = {"name": run.name, "path": path, "created": run.created}
    try:
        cfg = run.load_config()
        info.update(
            family=cfg.train.model, epochs=cfg.train.epochs, augment=cfg.train.augment, test_fold=cfg.train.test_fold
        )
        info["labels"] = run.load_labels()
        report = run.load_report()
        info["accuracy"] = None if report is None else report.accuracy
        info["meta"] = run.load_meta()
    except SoundkitError as exc:
        info["error"] = str(exc)
    return info


def run_info(run: Any) -> dict[str, Any]:
    """Summary of a run for menus and headers: name, created, family, epochs, augment, labels, accuracy."""
    return _run_info(str(run.path), _stamp(run.path))


def policy_name(policy: dict | None) -> str:
    """A short name for an augmentation policy dict ("none" when absent)."""
    if not policy:
        return "none"
    if isinstance(policy, dict) and policy.get("name"):
        return str(policy["name"])
    transforms = policy.get("transforms") if isinstance(policy, dict) else None
    if transforms:
        return "+".join(str(t.get("name", t.get("type", "?"))).lower() for t in transforms if isinstance(t, dict))
    return "custom"


def run_title(run: Any) -> str:
    """One line naming a run in menus: name, family, accuracy."""
    info = run_info(run)
    parts = [info["name"], info.get("family", "?")]
    if info.get("accuracy") is not None:
        parts.append(f"{info['accuracy']:.0%}")
    return " · ".join(parts)


# --------------------------------------------------------------------------------------- rendering


def fig_png(fig: Any, *, dpi: int = 110) -> bytes:
    """Render a matplotlib figure (built without pyplot, as soundkit.plots does) to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    fig.clear()
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


# --------------------------------------------------------------------------------------- runs


def run_stamp(run: Any) -> float:
    """Cache key of a run's files (changes when any of them is rewritten)."""
    return _stamp(run.path)


@st.cache_data(show_spinner=False, max_entries=64)
def _run_report(path: str, stamp: float) -> Any:
    from soundkit.runs import Run

    return Run(Path(path)).load_report()


def run_report(run: Any) -> Any:
    """The run's evaluation Report (None when it has none); ModelError when unreadable."""
    return _run_report(str(run.path), _stamp(run.path))


@st.cache_data(show_spinner=False, max_entries=64)
def _run_history(path: str, stamp: float) -> list[dict[str, float]]:
    from soundkit.runs import Run

    return Run(Path(path)).load_history()


def run_history(run: Any) -> list[dict[str, float]]:
    """Per-epoch metrics of a finished run ([] when none)."""
    try:
        return _run_history(str(run.path), _stamp(run.path))
    except SoundkitError:
        return []


def metrics_table(report: Any) -> Any:
    """DataFrame: class, accuracy, precision, recall, f1, support (one row per class)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "class": report.labels,
            "accuracy": [report.per_class_accuracy.get(c, 0.0) for c in report.labels],
            "precision": [report.precision.get(c, 0.0) for c in report.labels],
            "recall": [report.recall.get(c, 0.0) for c in report.labels],
            "f1": [report.f1.get(c, 0.0) for c in report.labels],
            "support": [report.support.get(c, 0) for c in report.labels],
        }
    )


def compare_reports(a: Any, b: Any, *, name_a: str, name_b: str) -> Any:
    """DataFrame comparing per-class accuracy of two reports on the classes they share."""
    import pandas as pd

    shared = [c for c in a.labels if c in set(b.labels)]
    rows = [
        {
            "class": c,
            name_a: a.per_class_accuracy.get(c, 0.0),
            name_b: b.per_class_accuracy.get(c, 0.0),
            "difference": a.per_class_accuracy.get(c, 0.0) - b.per_class_accuracy.get(c, 0.0),
        }
        for c in shared
    ]
    return pd.DataFrame(rows, columns=["class", name_a, name_b, "difference"])


def compare_png(path_a: str, path_b: str, name_a: str, name_b: str) -> bytes | None:
    """PNG: per-class accuracy of two runs side by side (soundkit.plots), cached per run state."""
    return _compare_png(path_a, path_b, name_a, name_b, _stamp(Path(path_a)), _stamp(Path(path_b)))


@st.cache_data(show_spinner=False, max_entries=32)
def _compare_png(path_a: str, path_b: str, name_a: str, name_b: str, stamp_a: float, stamp_b: float) -> bytes | None:
    plots = optional("plots")
    if plots is None:
        return None
    from soundkit.runs import Run

    a, b = Run(Path(path_a)).load_report(), Run(Path(path_b)).load_report()
    return fig_png(plots.per_class_accuracy(a, b, names=(name_a, name_b)))


@st.cache_data(show_spinner=False, max_entries=32)
def confusion_png(path: str, stamp: float, normalize: bool) -> bytes:
    """PNG of the run's confusion matrix (soundkit.plots), cached per run and file state."""
    from soundkit import plots
    from soundkit.runs import Run

    report = Run(Path(path)).load_report()
    return fig_png(plots.confusion_matrix(report, normalize=normalize))


# --------------------------------------------------------------------------------------- label store


def changed() -> None:
    """After a change to the store: forget table selections (they would point at other rows) and rerun."""
    st.session_state["label_table_gen"] = st.session_state.get("label_table_gen", 0) + 1
    st.rerun()


def table_key(prefix: str, *parts: Any) -> str:
    """A widget key for a selectable table that changes with its filters and after every store change."""
    import zlib

    digest = zlib.crc32(repr(parts).encode("utf-8"))
    return f"{prefix}_{st.session_state.get('label_table_gen', 0)}_{digest:08x}"


def label_picker(label: str, labels: Any, *, key: str, allow_none: bool = True) -> str | None:
    """A selectbox of existing classes that also accepts a new name; None means "unlabelled"."""
    choice = st.selectbox(
        label,
        list(labels),
        index=None,
        key=key,
        placeholder="Unlabelled (pick or type a class)" if allow_none else "Pick or type a class",
        accept_new_options=True,
    )
    return choice.strip() if isinstance(choice, str) and choice.strip() else None


def progress_callback(bar: Any) -> Any:
    """A soundkit progress callback ({"done", "total", "message"}) that moves an st.progress bar."""

    def update(event: dict) -> None:
        total = max(int(event.get("total") or 0), 1)
        done = min(int(event.get("done") or 0), total)
        text = f"{done}/{total} · {event.get('message') or event.get('stage', '')}"
        bar.progress(done / total, text=text[:120])

    return update


def add_uploads(store: Any, files: list[Any], *, label: str | None, progress: Any = None) -> Any:
    """Add uploaded audio files (with ``label``) and zips (labels from their folders) to the store."""
    from soundkit.store import ImportResult

    total = ImportResult()
    audio_items = [
        {"data": f.getvalue(), "name": safe_name(f.name), "label": label, "origin": "upload"}
        for f in files
        if not f.name.lower().endswith(".zip")
    ]
    if audio_items:
        _merge_result(total, store.add_many(audio_items, progress=progress))
    for f in files:
        if f.name.lower().endswith(".zip"):
            _merge_result(total, store.import_zip(f.getvalue(), progress=progress))
    return total


def _merge_result(into: Any, other: Any) -> None:
    into.added += other.added
    into.duplicates += other.duplicates
    into.errors.extend(other.errors)
    into.skipped.extend(other.skipped)
    into.records.extend(other.records)


def report_import(result: Any) -> None:
    """Toast the outcome of an import; list per-file problems (they never stop the import)."""
    msg = f"Added {result.added} clip(s)"
    if result.duplicates:
        msg += f", {result.duplicates} already there"
    st.toast(msg, icon=":material/check:")
    if result.errors:
        st.session_state["label_import_errors"] = [f"{n}: {m}" for n, m in result.errors]
    else:
        st.session_state.pop("label_import_errors", None)


def recording_name() -> str:
    """A display name for a browser recording (recording-YYYYmmdd-HHMMSS.wav)."""
    import time

    return time.strftime("recording-%Y%m%d-%H%M%S.wav")


def clip_query(shown: str, *, search: str = "", source: str | None = None) -> dict[str, Any]:
    """Store.clips/count keyword arguments for the Label page's filters."""
    query: dict[str, Any] = {"search": search.strip() or None, "source": source}
    if shown == "Unlabelled":
        query["unlabelled"] = True
    elif shown != "All clips":
        query["label"] = shown
    return query


CLIP_COLUMNS = {
    "spectrogram": st.column_config.ImageColumn("Spectrogram", width="small"),
    "id": st.column_config.NumberColumn("id", width="small", format="%d"),
    "name": st.column_config.TextColumn("Name"),
    "label": st.column_config.TextColumn("Label"),
    "suggestion": st.column_config.TextColumn("Suggestion", help="The model's top label (see Model suggestions)"),
    "confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="%.2f"),
    "seconds": st.column_config.NumberColumn("Seconds", format="%.1f", width="small"),
    "source": st.column_config.TextColumn("Source"),
    "origin": st.column_config.TextColumn("Origin"),
    "fold": st.column_config.NumberColumn("Fold", width="small"),
}


def clip_table(records: list[Any]) -> Any:
    """DataFrame for the clip table (spectrogram thumbnails as PNG data URIs)."""
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "spectrogram": spectrogram_thumb_uri(str(r.path), r.hash),
                "id": r.id,
                "name": r.name,
                "label": r.label or "",
                "suggestion": r.pred_label or "",
                "confidence": r.pred_confidence,
                "seconds": r.seconds,
                "source": r.source or "",
                "origin": r.origin,
                "fold": r.fold,
            }
            for r in records
        ]
    )
    table["fold"] = table["fold"].astype("Int64")  # blank, not "None", where a clip has no fold
    table["confidence"] = table["confidence"].astype("Float64")
    return table


def _thumb_png(path: str, *, width: int, height: int) -> bytes:
    """A small log-mel image of a clip: magma colours, low frequencies at the bottom, no axes."""
    import numpy as np
    from matplotlib import colormaps
    from PIL import Image

    from soundkit import audio, features

    y, sr = audio.load(path, sr=22050, max_seconds=60)
    S = features.log_mel(y, sr=sr, n_fft=1024, hop_length=256, n_mels=64, top_db=80.0)
    rgb = (colormaps["magma"]((S[::-1] + 80.0) / 80.0)[..., :3] * 255).astype(np.uint8)
    img = Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=2048)
def spectrogram_thumb_uri(path: str, digest: str) -> str | None:
    """Data URI of a clip's thumbnail (cached by content hash); None when the audio is unreadable."""
    import base64

    try:
        png = _thumb_png(path, width=160, height=48)
    except SoundkitError:
        return None
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@st.cache_data(show_spinner=False, max_entries=256)
def spectrogram_thumb(path: str, digest: str, *, large: bool = False) -> bytes:
    """PNG of a clip's log-mel (a plain image; see the Spectrogram page for axes)."""
    return _thumb_png(path, width=640 if large else 160, height=200 if large else 48)


def export_dataset(store: Any, *, include_unlabelled: bool, progress: Any = None) -> Path:
    """Write the store's export zip into cache/export (replacing earlier exports) and return it."""
    import time

    out_dir = home() / "cache" / "export"
    for old in out_dir.glob("soundkit-dataset-*.zip"):
        old.unlink(missing_ok=True)
    dest = out_dir / time.strftime("soundkit-dataset-%Y%m%d-%H%M%S.zip")
    return store.export_zip(dest, include_unlabelled=include_unlabelled, progress=progress)


def export_ready(path: str | None) -> Path | None:
    """The prepared export zip, when it still exists."""
    if not path:
        return None
    p = Path(path)
    return p if p.is_file() else None


def suggest_labels(store: Any, run: Any, *, progress: Any = None, limit: int | None = None) -> int:
    """Predict every unlabelled clip with ``run`` and store the top label and its probability."""
    pred = predictor(run.path)
    records = store.clips(unlabelled=True, limit=limit)
    items = []
    for i, r in enumerate(records, 1):
        try:
            p = pred.predict_file(r.path, top_k=1)
        except SoundkitError as exc:
            log.warning("no suggestion for clip %s: %s", r.id, exc)
            continue
        label, prob = p.top[0]
        items.append((r.id, label, min(max(float(prob), 0.0), 1.0)))
        if progress:
            progress({"stage": "predict", "done": i, "total": len(records), "message": r.name})
    return store.set_predictions(items, run=run.name) if items else 0


def suggestions_section(store: Any) -> None:
    """Label page: let a trained model suggest labels for the unlabelled clips."""
    runs = list_runs()
    n = store.count(unlabelled=True)
    if not runs:
        st.caption("Train a model first; it will then suggest labels for unlabelled clips, least confident first.")
        return
    if n == 0:
        st.caption("Every clip is labelled.")
        return
    by_path = {str(r.path): r for r in runs}
    chosen = st.selectbox("Model", list(by_path), format_func=lambda p: run_title(by_path[p]), key="label_suggest_run")
    st.caption(
        f"Predicts the {n} unlabelled clip(s) and stores the top label and its probability. Then sort by "
        "**Least confident suggestion** and accept or correct the suggestions."
    )
    if st.button(f"Suggest labels for {n} clip(s)", key="label_suggest", icon=":material/auto_awesome:"):
        bar = st.progress(0.0, text="Classifying...")
        with show_errors(stop=False):
            done = suggest_labels(store, by_path[chosen], progress=progress_callback(bar))
            st.toast(f"{done} suggestion(s) stored", icon=":material/check:")
        bar.empty()
        st.rerun()


def dataset_import_section(store: Any) -> None:
    """Label page: import ESC-10 / ESC-50 (download when soundkit can, or from a folder on the server)."""
    datasets = importlib.import_module("soundkit.datasets")
    download = getattr(datasets, "download", None)
    errors = st.session_state.get("label_import_errors")
    if errors:
        with st.expander(f"{len(errors)} file(s) could not be added", icon=":material/warning:"):
            st.code("\n".join(errors[:200]), language=None)
    if download is not None:
        d1, d2 = st.columns([3, 1], vertical_alignment="bottom")
        which = d1.selectbox(
            "Download",
            ["ESC-10", "ESC-50"],
            key="label_download_which",
            help="ESC-10: 400 clips, 10 classes (about 40 MB, CC BY). ESC-50: 2000 clips, 50 classes (about 600 MB, CC BY-NC).",
        )
        if d2.button("Download and import", key="label_download", icon=":material/cloud_download:", width="stretch"):
            bar = st.progress(0.0, text=f"Downloading {which}...")
            with show_errors(stop=False):
                root = download(which.lower().replace("-", ""), progress=progress_callback(bar))
                ds = datasets.load(root, esc10=which == "ESC-10")
                report_import(store.import_dataset(ds, progress=progress_callback(bar)))
                st.rerun()
            bar.empty()
    f1, f2 = st.columns([3, 1], vertical_alignment="bottom")
    folder = f1.text_input(
        "Or a dataset folder on this server",
        key="label_import_folder",
        placeholder="/data/ESC-10 (folder per class, or an ESC-50 release)",
    )
    esc10 = st.checkbox("ESC-50 release: keep only the ESC-10 subset", key="label_import_esc10")
    if f2.button(
        "Import folder",
        key="label_import",
        disabled=not folder.strip(),
        icon=":material/drive_folder_upload:",
        width="stretch",
    ):
        bar = st.progress(0.0, text="Importing...")
        with show_errors(stop=False):
            ds = datasets.load(folder.strip(), esc10=esc10)
            report_import(store.import_dataset(ds, progress=progress_callback(bar)))
            st.rerun()
        bar.empty()


def image(where: Any, png: bytes | None) -> None:
    """Show a PNG (full width), or a short note when plotting is not available in this build."""
    if png is None:
        where.caption("Spectrogram plots are not available in this build yet.")
    else:
        where.image(png, width="stretch")


def store_has(store: Any, clip_id: Any) -> bool:
    """True when ``clip_id`` names a live clip of the store."""
    try:
        return not store.get(int(clip_id)).deleted
    except (TypeError, ValueError, SoundkitError):
        return False


def relabel(store: Any, ids: list[Any], label: str) -> int:
    """Set the label of store clips named by (string) ids."""
    return store.set_label([int(i) for i in ids], label)


def clip_bytes(item: dict, store: Any | None) -> bytes | None:
    """Audio bytes of a report's misclassified entry: from the store by id, else from its path."""
    if store is not None and store_has(store, item.get("id")):
        try:
            return store.read_bytes(int(item["id"]))
        except SoundkitError:
            pass
    path = Path(item.get("path") or "")
    return path.read_bytes() if path.is_file() else None


def audio_mime(name: str) -> str:
    """MIME type for st.audio from a file name (wav when unknown)."""
    ext = Path(name).suffix.lower()
    return {
        ".wav": "audio/wav",
        ".flac": "audio/flac",
        ".ogg": "audio/ogg",
        ".oga": "audio/ogg",
        ".mp3": "audio/mpeg",
    }.get(ext, "audio/wav")


def play(where: Any, path: str | Path) -> None:
    """An audio player for a file on the server."""
    where.audio(str(path), format=audio_mime(str(path)))


# --------------------------------------------------------------------------------------- classify

#: Model key of the pretrained AudioSet model in menus.
YAMNET_KEY = "pretrained:yamnet"


def model_choices() -> dict[str, str]:
    """{model key: title} for the Classify menu: trained runs newest first, then pretrained YAMNet."""
    choices = {str(r.path): run_title(r) for r in list_runs()}
    if optional("models.yamnet") is not None:
        choices[YAMNET_KEY] = "YAMNet · AudioSet, pretrained (521 classes)"
    return choices


@st.cache_resource(show_spinner="Loading YAMNet...")
def _yamnet() -> Any:
    from soundkit.models.yamnet import YamnetPredictor

    return YamnetPredictor.load()


def predictor_for(model_key: str) -> Any:
    """A cached predictor for a model key (a run directory or :data:`YAMNET_KEY`)."""
    if model_key == YAMNET_KEY:
        return _yamnet()
    return predictor(model_key)


def _model_stamp(model_key: str) -> float:
    if model_key == YAMNET_KEY:
        return 0.0
    return max((p.stat().st_mtime for p in Path(model_key).glob("model.*")), default=0.0)


@st.cache_data(show_spinner="Classifying...", max_entries=64)
def _classify(data: bytes, name: str, model_key: str, stamp: float) -> tuple[Any, float]:
    pred = predictor_for(model_key)
    y, sr = load_audio(data, name)
    prediction = pred.predict(y, sr, top_k=5)
    features = getattr(pred, "features", None)
    window = features.window_seconds if features is not None else 0.975
    return prediction, float(window)


def classify(data: bytes, name: str, model_key: str) -> tuple[Any, float]:
    """(Prediction, window seconds) of a clip, cached per content and model."""
    return _classify(data, name, model_key, _model_stamp(model_key))


def top_table(prediction: Any) -> Any:
    """DataFrame of the top-k labels (label, probability)."""
    import pandas as pd

    return pd.DataFrame([{"label": lab, "probability": float(p)} for lab, p in prediction.top])


def timeline_table(prediction: Any) -> Any:
    """DataFrame of the per-window timeline (start, end, label, probability)."""
    import pandas as pd

    return pd.DataFrame(
        [{"start": s.start, "end": s.end, "label": s.label, "probability": s.probability} for s in prediction.timeline]
    )


#: Vega-Lite spec of the per-window timeline: one bar per window, coloured by its top label.
TIMELINE_SPEC = {
    "height": 90,
    "mark": {"type": "bar", "cornerRadius": 2},
    "encoding": {
        "x": {"field": "start", "type": "quantitative", "title": "seconds", "scale": {"nice": False}},
        "x2": {"field": "end"},
        "y": {"field": "label", "type": "nominal", "title": None},
        "color": {"field": "label", "type": "nominal", "legend": None},
        "opacity": {"field": "probability", "type": "quantitative", "scale": {"domain": [0, 1]}, "legend": None},
        "tooltip": [
            {"field": "label"},
            {"field": "probability", "format": ".0%"},
            {"field": "start", "format": ".2f"},
            {"field": "end", "format": ".2f"},
        ],
    },
}


def run_features(model_key: str) -> Any:
    """The FeatureConfig a model sees (the recipe's defaults for YAMNet and unreadable runs)."""
    from soundkit.config import FeatureConfig

    if model_key != YAMNET_KEY:
        from soundkit.runs import Run

        try:
            return Run(Path(model_key)).load_config().features
        except SoundkitError:
            pass
    return FeatureConfig()


@st.cache_data(show_spinner=False, max_entries=64)
def logmel_png(data: bytes, name: str, model_key: str) -> bytes | None:
    """PNG of the clip's log-mel spectrogram as the model's FeatureConfig computes it."""
    y, sr = load_audio(data, name)
    return spectrogram_png(y, sr, run_features(model_key), title=None)


def spectrogram_png(
    y: Any, sr: int, features: Any, *, title: str | None = None, waveform: bool = False
) -> bytes | None:
    """PNG of a clip's log-mel spectrogram as ``features`` computes it, with time and frequency axes
    and a dB colour bar (soundkit.plots, librosa.display); the waveform above it when asked.
    None when soundkit.plots is not available."""
    plots = optional("plots")
    if plots is None:
        return None
    from soundkit import audio
    from soundkit.features import clip_log_mel

    if sr != features.sr:
        y = audio.resample(y, orig_sr=sr, target_sr=features.sr)
    S = clip_log_mel(y, features)
    fig = plots.spectrogram(
        S, sr=features.sr, hop_length=features.hop_length, fmin=features.fmin, fmax=features.fmax,
        y=y if waveform else None, title=title,
    )  # fmt: skip
    return fig_png(fig)


def add_to_dataset(data: bytes, name: str, *, suggested: str | None, key: str) -> None:
    """ "Add to dataset as ..." for a classified clip: the predicted label or any other."""
    store = store_or_none()
    if store is None:
        return
    labels = list(store.labels())
    options = ([suggested] if suggested else []) + [x for x in labels if x != suggested]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    choice = c1.selectbox(
        "Add to dataset as", options, index=0 if options else None, key=f"{key}_label", accept_new_options=True,
        placeholder="Pick or type a class",
    )  # fmt: skip
    if c2.button("Add to dataset", key=f"{key}_button", disabled=not choice, icon=":material/add:", width="stretch"):
        with show_errors(stop=False):
            rec = store.add(data, name=safe_name(name), label=choice, origin="classify")
            st.toast(f"Added {rec.name} as {rec.label}", icon=":material/check:")


def stored_clip_picker(*, key: str) -> tuple[bytes, str] | None:
    """Pick a clip from the label store: (bytes, name), or None (with a hint) when there is none."""
    store = store_or_none()
    if store is None:
        st.info("The label store is not available in this build yet.", icon=":material/construction:")
        return None
    records = store.clips(order="created", limit=2000)
    if not records:
        st.info("The dataset is empty. Add clips on the **Label** page.", icon=":material/info:")
        return None
    by_id = {r.id: r for r in records}
    chosen = st.selectbox(
        "Clip from the dataset",
        list(by_id),
        format_func=lambda i: f"{by_id[i].name} · {by_id[i].label or 'unlabelled'} (#{i})",
        key=key,
    )
    rec = by_id[chosen]
    with show_errors(stop=False):
        return store.read_bytes(rec), rec.name
    return None


# --------------------------------------------------------------------------------------- training

#: Model families offered on the Train page, in this order.
FAMILY_TITLES = {
    "cnn": "CNN on log-mel windows (the recipe)",
    "inception": "Inception V3 transfer (ImageNet weights)",
    "yamnet": "YAMNet embeddings + small head (AudioSet)",
}


def model_families() -> dict[str, str]:
    """{family: title} of the model families this build has."""
    import importlib.util

    from soundkit.config import MODEL_FAMILIES

    return {
        f: FAMILY_TITLES.get(f, f)
        for f in MODEL_FAMILIES
        if importlib.util.find_spec(f"soundkit.models.{f}") is not None
    }


def default_epochs() -> int:
    """The recipe's number of epochs (TrainConfig's default)."""
    from soundkit.config import TrainConfig

    return TrainConfig().epochs


def test_fold_choices() -> dict[str, str]:
    """{--test-fold value: title} for the Train page ("auto" leaves the CLI's default)."""
    choices = {
        "auto": "Last fold (the official one where the data has folds)",
        "0": "None: report on the validation clips",
    }
    choices.update({str(k): f"Fold {k}" for k in range(1, 6)})
    return choices


def policies_dir() -> Path:
    """Where the Augment page saves training policies (HOME/policies/<name>.json)."""
    return home() / "policies"


def save_policy(policy: dict) -> Path:
    """Write a policy dict as HOME/policies/<name>.json (atomically) and return the path."""
    import json
    import re

    from soundkit.runs import write_atomic

    name = re.sub(r"[^A-Za-z0-9_.+-]+", "-", str(policy.get("name") or "custom")).strip("-.") or "custom"
    return write_atomic(policies_dir() / f"{name}.json", json.dumps(policy, indent=2) + "\n")


def policy_choices() -> dict[str, str]:
    """{--augment value: title}: the named policies, then the ones saved on the Augment page."""
    augment = optional("augment")
    names = list(getattr(augment, "POLICY_NAMES", ("none",))) if augment is not None else ["none"]
    choices = {n: n for n in names}
    d = policies_dir()
    if augment is not None and d.is_dir():
        for p in sorted(d.glob("*.json")):
            choices[str(p)] = f"saved: {p.stem}"
    return choices


@st.cache_data(show_spinner=False, max_entries=16, ttl=60)
def folder_counts(folder: str) -> dict[str, int]:
    """{label: clips} of a dataset folder on the server (DatasetError when it is not one)."""
    from soundkit import datasets

    return datasets.load(folder).counts()


def launch_training(
    dataset: str,
    *,
    classes: list[str] | None,
    model: str,
    epochs: int,
    test_fold: str,
    augment: str,
    limit_per_class: int | None = None,
    name: str = "",
) -> Path:
    """Start ``python -m soundkit train`` in the background; the run directory it will write.

    Raises JobError when a job of this data directory is running, ParameterError for a bad name.
    """
    import re
    import time

    from soundkit import jobs
    from soundkit.errors import ParameterError

    name = name.strip() or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,79}", name):
        raise ParameterError(f"run name {name!r} may hold letters, digits and _ . + - only (up to 80 characters)")
    args = [dataset, "--model", model, "--epochs", str(epochs)]
    if classes:
        args += ["--labels", ",".join(classes)]
    if test_fold != "auto":
        args += ["--test-fold", test_fold]
    if augment and augment != "none":
        args += ["--augment", augment]
    if limit_per_class:
        args += ["--limit-per-class", str(limit_per_class)]
    run_dir = home() / "runs" / name
    jobs.start_training(home(), args, run_dir)
    return run_dir


def current_job_dir() -> Path | None:
    """The run directory to show on the Train page: the running job of this data directory (from
    any session), else the last job started in this session."""
    from soundkit import jobs

    running = jobs.running_job(home())
    if running and running.get("run_dir"):
        return Path(running["run_dir"])
    mine = st.session_state.get("train_run")
    return Path(mine) if mine else None


def _eta(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or seconds < 0:
        return ""
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


def _status_curves(status: dict) -> None:
    import pandas as pd

    history = [h for h in status.get("history") or [] if isinstance(h, dict) and "epoch" in h]
    if not history:
        return
    h = pd.DataFrame(history).set_index("epoch")
    left, right = st.columns(2)
    loss = [c for c in ("loss", "val_loss") if c in h]
    acc = [c for c in ("accuracy", "val_accuracy") if c in h]
    if loss:
        left.caption("Loss")
        left.line_chart(h[loss], height=220, x_label="epoch")
    if acc:
        right.caption("Accuracy")
        right.line_chart(h[acc], height=220, x_label="epoch")


@st.fragment(run_every=1.0)
def job_panel_live(run_dir: str) -> None:
    """The running job: progress, stage, ETA, curves and Cancel; polls status.json every second."""
    from soundkit import jobs

    status = jobs.read_status(run_dir)
    if status is None or status.get("state") != "running":
        st.rerun()  # finished: redraw the whole page (the run now shows up everywhere)
    name = Path(run_dir).name
    with st.container(border=True):
        top, button = st.columns([5, 1], vertical_alignment="center")
        top.markdown(f"**Training {name}** · {status.get('stage') or 'starting'}")
        epoch, epochs = status.get("epoch"), status.get("epochs")
        detail = [status.get("message") or ""]
        if epoch and epochs:
            detail.append(f"epoch {epoch}/{epochs}")
        detail.append(_eta(status.get("eta_seconds")))
        st.progress(float(min(max(status.get("progress") or 0.0, 0.0), 1.0)), text=" · ".join(d for d in detail if d))
        if button.button("Cancel", key="train_cancel", icon=":material/stop:", width="stretch"):
            with st.spinner("Stopping..."):
                jobs.cancel(run_dir)
            st.toast(f"Cancelled {name}", icon=":material/stop:")
            st.rerun()
        _status_curves(status)


def job_panel_final(run_dir: str, status: dict) -> None:
    """A finished, failed or cancelled job of this session."""
    name = Path(run_dir).name
    state = status.get("state")
    with st.container(border=True):
        if state == "done":
            st.success(f"**{name}** finished: {status.get('message') or 'done'}.", icon=":material/check_circle:")
            l1, l2, _ = st.columns([1, 1, 3])
            page_link(l1, "results", label="See its results", icon=":material/analytics:")
            page_link(l2, "classify", label="Classify with it", icon=":material/graphic_eq:")
        elif state == "cancelled":
            st.warning(f"**{name}** was cancelled.", icon=":material/stop_circle:")
        else:
            st.error(f"**{name}** failed: {status.get('message') or 'unknown error'}", icon=":material/error:")
        _status_curves(status)


# --------------------------------------------------------------------------------------- spectrogram / augment


def clip_input(*, key: str) -> tuple[bytes, str] | None:
    """Pick a clip from the store or upload one: (bytes, name), or None (with a hint shown).

    The store id of a picked clip is kept in ``st.session_state[f"{key}_clip_id"]`` (None for uploads).
    """
    st.session_state[f"{key}_clip_id"] = None
    where = st.radio(
        "Clip", ["From the dataset", "Upload"], horizontal=True, key=f"{key}_source", label_visibility="collapsed"
    )
    if where == "Upload":
        f = st.file_uploader("An audio clip (wav, flac, ogg, mp3)", type=AUDIO_TYPES, key=f"{key}_upload")
        if f is None:
            st.caption("Upload a clip to look at it.")
            return None
        return uploaded_bytes(f)
    picked = stored_clip_picker(key=f"{key}_stored")
    if picked is not None:
        st.session_state[f"{key}_clip_id"] = st.session_state.get(f"{key}_stored")
    return picked


def feature_config(**changes: Any) -> Any:
    """The recipe's FeatureConfig with ``changes`` (ParameterError names a bad value)."""
    from soundkit.config import FeatureConfig

    return FeatureConfig(**changes)


@st.cache_data(show_spinner=False, max_entries=64)
def spectrogram_figure(data: bytes, name: str, features_json: str | None) -> bytes | None:
    """PNG: waveform + log-mel spectrogram (time and frequency axes, dB colour bar) of a clip."""
    from soundkit.config import FeatureConfig

    features = FeatureConfig.from_json(features_json) if features_json else FeatureConfig()
    y, sr = load_audio(data, name)
    return spectrogram_png(y, sr, features, waveform=True)


@st.cache_data(show_spinner="Augmenting...", max_entries=32)
def augmented(data: bytes, name: str, settings: dict) -> tuple[bytes, dict]:
    """(WAV bytes, applied parameters) of a clip through augment.preview with fixed ``settings``."""
    from soundkit import audio, augment

    y, sr = load_audio(data, name)
    z, params, _ = augment.preview(y, sr, **settings)
    return audio.to_wav_bytes(z, sr), params


def policy_from_settings(settings: dict, *, name: str, copies: int) -> dict:
    """A training policy whose ranges run from neutral to the previewed settings (validated).

    Stretch and pitch are made symmetric (a ratio r gives [min(r, 1/r), max(r, 1/r)], s semitones give
    [-|s|, |s|]); noise, gain and shift range from neutral to the value shown.
    """
    from soundkit import augment

    transforms: list[dict] = []
    r = settings["time_ratio"]
    if r != 1.0:
        transforms.append(
            {"type": "time_stretch", "min_ratio": round(min(r, 1 / r), 4), "max_ratio": round(max(r, 1 / r), 4)}
        )
    s = abs(settings["semitones"])
    if s:
        transforms.append({"type": "pitch_shift", "min_semitones": -s, "max_semitones": s})
    if settings.get("noise_snr_db") is not None:
        snr = settings["noise_snr_db"]
        transforms.append({"type": "add_noise", "min_snr_db": snr, "max_snr_db": max(snr, 40.0)})
    g = settings.get("gain_db", 0.0)
    if g:
        transforms.append({"type": "gain", "min_gain_db": min(g, 0.0), "max_gain_db": max(g, 0.0)})
    sh = abs(settings.get("shift_s", 0.0))
    if sh:
        transforms.append({"type": "shift", "min_seconds": -sh, "max_seconds": sh})
    policy = {"name": name, "copies": copies, "transforms": transforms}
    return augment.Policy.from_dict(policy).to_dict()  # validates; ParameterError names a bad value


def augmented_copy_label(*, key: str) -> str | None:
    """Label for an augmented copy: the original's (when it came from the store), else a picker."""
    store = store_or_none()
    clip_id = st.session_state.get("aug_clip_id")
    if store is not None and clip_id is not None:
        rec = store.get(int(clip_id))
        st.caption(f"Label: **{rec.label or 'unlabelled'}** (the original's)")
        return rec.label
    return label_picker("Label", store.labels() if store is not None else {}, key=key)


def add_augmented_copy(wav: bytes, *, name: str, original: bytes, label: str | None, params: dict) -> Any:
    """Store an augmented copy with the original's source (so splits keep them together)."""
    from soundkit.features import content_hash

    store_ = store()
    clip_id = st.session_state.get("aug_clip_id")
    source = None
    if clip_id is not None:
        rec = store_.get(int(clip_id))
        source = rec.source or rec.hash
    source = source or content_hash(original)
    stem = Path(safe_name(name)).stem
    tag = f"r{params.get('time_ratio', 1):g}-p{params.get('semitones', 0):+g}"
    return store_.add(wav, name=f"{stem}-aug-{tag}.wav", label=label, source=source, origin="augment")
