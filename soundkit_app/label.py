"""Label page helpers: label pickers, uploads, the clip table, import, export and model suggestions."""

from __future__ import annotations

import importlib
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from soundkit.errors import SoundkitError
from soundkit_app import home, hosted, public, show_errors
from soundkit_app.classify import YAMNET_KEY, model_choices, predictor_for
from soundkit_app.rendering import safe_name

log = logging.getLogger(__name__)


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
    into.existing.extend(getattr(other, "existing", []))
    into.errors.extend(other.errors)
    into.skipped.extend(other.skipped)
    into.records.extend(other.records)


def report_import(result: Any, *, where: str = "dataset") -> None:
    """Say how an import went: a toast now, and a message kept in the session that
    :func:`show_import_outcome` shows where the import was started (the toast alone can be lost to
    the rerun that follows), with every file that could not be added."""
    msg = f"Added {result.added} clip(s)"
    if result.duplicates:  # stored clips keep their labels: say which
        msg += f", {result.existing_summary()}"
    if result.errors:
        msg += f"; {len(result.errors)} file(s) could not be added"
    st.toast(msg, icon=":material/check:")
    st.session_state["label_import_outcome"] = {
        "where": where,
        "message": msg,
        "errors": [f"{n}: {m}" for n, m in result.errors],
        "nothing_new": result.added == 0,
    }


def show_import_outcome(where: str) -> None:
    """The last import's outcome, if it was started here ("upload" or "dataset")."""
    outcome = st.session_state.get("label_import_outcome")
    if not outcome or outcome.get("where") != where:
        return
    errors = outcome.get("errors") or []
    if errors:
        st.warning(outcome["message"] + ":", icon=":material/warning:")
        st.code(public("\n".join(errors[:200])), language=None)  # hosted: no server paths
    elif outcome.get("nothing_new"):
        st.info(outcome["message"] + ": nothing new was added.", icon=":material/info:")
    else:
        st.success(outcome["message"] + ".", icon=":material/check:")


def clip_query(shown: str, *, search: str = "", source: str | None = None) -> dict[str, Any]:
    """Store.clips/count keyword arguments for the Label page's filters."""
    query: dict[str, Any] = {"search": search.strip() or None, "source": source}
    if shown == "Unlabelled":
        query["unlabelled"] = True
    elif shown != "All clips":
        query["label"] = shown
    return query


CLIP_COLUMNS = {
    "spectrogram": st.column_config.ImageColumn("Spectrogram", width="medium", help="The whole clip"),
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
                "source": (r.source if r.source != r.hash else f"#{r.hash[:10]}") if r.source else "",
                "origin": r.origin,
                "fold": r.fold,
            }
            for r in records
        ]
    )
    table["fold"] = table["fold"].astype("Int64")  # blank, not "None", where a clip has no fold
    table["confidence"] = table["confidence"].astype("Float64")
    return table


#: The clip table's thumbnails: the whole clip squeezed into a 2:1 image, which the table's image
#: cell (about 35 px high, "medium" width) shows whole; a wider image was cut to its middle.
THUMB_SIZE = (96, 48)


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
        png = _thumb_png(path, width=THUMB_SIZE[0], height=THUMB_SIZE[1])
    except SoundkitError:
        return None
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@st.cache_data(show_spinner=False, max_entries=256)
def spectrogram_thumb(path: str, digest: str, *, large: bool = False) -> bytes:
    """PNG of a clip's log-mel (a plain image; see the Spectrogram page for axes)."""
    return _thumb_png(path, width=640 if large else 160, height=200 if large else 48)


#: Export zips of other sessions older than this are removed too (their sessions have ended).
STALE_EXPORT_S = 24 * 3600.0


def export_dataset(store: Any, *, include_unlabelled: bool, progress: Any = None) -> Path:
    """Write the store's export zip into cache/export and return it. Only this session's earlier
    exports are replaced (others' are left alone unless a day old)."""
    import secrets
    import time

    from soundkit_app import workspace

    workspace.check_disk(workspace.settings())
    tag = st.session_state.setdefault("_export_tag", secrets.token_hex(4))
    out_dir = home() / "cache" / "export"
    now = time.time()
    for old in out_dir.glob("soundkit-dataset-*.zip"):
        mine = old.name.startswith(f"soundkit-dataset-{tag}-")
        if mine or now - old.stat().st_mtime > STALE_EXPORT_S:
            old.unlink(missing_ok=True)
    dest = out_dir / time.strftime(f"soundkit-dataset-{tag}-%Y%m%d-%H%M%S.zip")
    return store.export_zip(dest, include_unlabelled=include_unlabelled, progress=progress)


def export_ready(path: str | None) -> Path | None:
    """The prepared export zip, when it still exists."""
    if not path:
        return None
    p = Path(path)
    return p if p.is_file() else None


def suggest_labels(store: Any, model_key: str, *, progress: Any = None, limit: int | None = None) -> int:
    """Predict every unlabelled clip with a model (a run directory, or YAMNet's AudioSet classes
    zero-shot) and store the top label and its score."""
    pred = predictor_for(model_key)
    source = pred.name if model_key == YAMNET_KEY else Path(model_key).name  # YAMNet: "yamnet-audioset"
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
    return store.set_predictions(items, run=source) if items else 0


def suggestions_section(store: Any) -> None:
    """Label page: a trained model, or YAMNet zero-shot, suggests labels for the unlabelled clips."""
    choices = model_choices()
    n = store.count(unlabelled=True)
    if not choices:
        st.caption("Train a model first; it will then suggest labels for unlabelled clips, least confident first.")
        return
    if n == 0:
        st.caption("Every clip is labelled.")
        return
    chosen = st.selectbox("Model", list(choices), format_func=choices.get, key="label_suggest_run")
    if chosen == YAMNET_KEY:
        st.caption(
            f"Names each of the {n} unlabelled clip(s) with the best of AudioSet's 521 classes (zero-shot: "
            "no training needed) and stores its score. Accept a name as the clip's label, or correct it."
        )
    else:
        st.caption(
            f"Predicts the {n} unlabelled clip(s) and stores the top label and its probability. Then sort by "
            "**Least confident suggestion** and accept or correct the suggestions."
        )
    if st.button(f"Suggest labels for {n} clip(s)", key="label_suggest", icon=":material/auto_awesome:"):
        bar = st.progress(0.0, text="Classifying...")
        with show_errors(stop=False):
            done = suggest_labels(store, chosen, progress=progress_callback(bar))
            st.toast(f"{done} suggestion(s) stored", icon=":material/check:")
        bar.empty()
        st.rerun()


@dataclass
class DatasetDownload:
    """A download-and-import of ESC-10 / ESC-50 running in a thread of the server process.

    The thread outlives the page's script run, so leaving the page (or closing the tab) does not
    stop a 600 MB download; the Label page shows its progress wherever the user comes back.
    """

    which: str
    state: str = "running"  # "running" | "done" | "failed"
    stage: str = "download"
    done: int = 0
    total: int = 0
    message: str = "starting"
    result: Any = None  # the store's ImportResult once done
    error: str | None = None
    announced: bool = False  # the import's outcome has been shown on the page

    def update(self, event: dict) -> None:
        self.stage = str(event.get("stage") or self.stage)
        self.done, self.total = int(event.get("done") or 0), int(event.get("total") or 0)
        self.message = str(event.get("message") or self.stage)

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total > 0 else 0.0


_START = threading.Lock()  # two sessions clicking at once start one download


@st.cache_resource(show_spinner=False)
def _downloads() -> dict[str, DatasetDownload]:
    """The latest dataset download of each data directory (shared by every session)."""
    return {}


def start_download(store: Any, which: str) -> DatasetDownload:
    """Start downloading ``which`` ("ESC-10" or "ESC-50") and importing it into ``store`` in a
    background thread; the running task of this data directory when one is under way already."""
    datasets = importlib.import_module("soundkit.datasets")
    tasks, key = _downloads(), str(home())
    with _START:
        current = tasks.get(key)
        if current is not None and current.state == "running":
            return current
        task = tasks[key] = DatasetDownload(which)

    def work() -> None:
        try:
            root = datasets.download(which.lower().replace("-", ""), progress=task.update)
            task.update({"stage": "import", "message": "importing into the label store"})
            ds = datasets.load(root, esc10=which == "ESC-10")
            task.result = store.import_dataset(ds, progress=lambda e: task.update({"stage": "import", **e}))
            task.state = "done"
        except SoundkitError as exc:
            task.error, task.state = str(exc), "failed"
        except Exception as exc:  # noqa: BLE001 - a thread's failure must reach the page, not vanish
            log.exception("dataset download failed")
            task.error, task.state = f"{which}: download failed ({type(exc).__name__}: {exc})", "failed"

    threading.Thread(target=work, name=f"soundkit-download-{which}", daemon=True).start()
    return task


def _download_status() -> None:
    """The running download's progress, refreshed every second; the whole page once it ends."""
    task = _downloads().get(str(home()))
    if task is None:
        return
    if task.state == "running":
        st.progress(task.fraction, text=public(f"{task.which}: {task.message}")[:120])
    else:
        st.rerun()  # the whole page: the clip table and the counts change


def demo_section(store: Any) -> None:
    """Hosted mode: copy the server's demo dataset into this workspace in one click."""
    from soundkit_app import workspace

    s = workspace.settings()
    if not workspace.demo_available(s):
        st.caption("Upload clips or a zip above: this server offers no demo dataset.")
        return
    ds = workspace.demo_dataset(s)
    if ds is not None:
        st.caption(
            f"A demo dataset to start with: {len(ds.clips)} clips of {len(ds.labels)} classes from "
            f"{Path(ds.root).name} ({s.demo_per_class} per class, over its folds), copied into your workspace."
        )
    else:
        st.caption(
            f"A demo dataset to start with: {s.demo_per_class} clips per class of ESC-10 (10 classes), copied "
            "into your workspace. The very first copy downloads ESC-10 (about 40 MB), once for everyone."
        )
    if st.button("Copy the demo dataset", key="label_demo", icon=":material/library_add:"):
        bar = st.progress(0.0, text="Copying the demo dataset...")
        with show_errors(stop=False):
            report_import(workspace.import_demo(store, s, progress=progress_callback(bar)))
            st.rerun()
        bar.empty()


def dataset_import_section(store: Any) -> None:
    """Label page: import ESC-10 / ESC-50 (downloaded in the background when soundkit can, or from
    a folder on the server). Hosted mode: the demo dataset only (no server folder, no download)."""
    datasets = importlib.import_module("soundkit.datasets")
    download = getattr(datasets, "download", None)
    show_import_outcome("dataset")
    if hosted():
        demo_section(store)
        return
    if download is not None:
        task = _downloads().get(str(home()))
        running = task is not None and task.state == "running"
        d1, d2 = st.columns([3, 1], vertical_alignment="bottom")
        which = d1.selectbox(
            "Download",
            ["ESC-10", "ESC-50"],
            key="label_download_which",
            disabled=running,
            help="ESC-10: 400 clips, 10 classes (about 40 MB, CC BY). ESC-50: 2000 clips, 50 classes (about 600 MB, "
            "CC BY-NC). The download goes on in the background if you leave this page.",
        )
        if d2.button("Download and import", key="label_download", icon=":material/cloud_download:",
                     width="stretch", disabled=running):
            task = start_download(store, which)
            running = True
        if running:
            st.fragment(_download_status, run_every=1.0)()
        elif task is not None and task.state == "failed":  # shown until the next download
            st.error(task.error or f"{task.which}: the download failed", icon=":material/error:")
        elif task is not None and not task.announced:
            task.announced = True
            report_import(task.result)
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
