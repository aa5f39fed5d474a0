"""The region editor: a Streamlit ``components.v2`` component (components/regions/regions.js, plain
JavaScript, no build step) and the Python side that feeds it and applies its edits to the store.

What goes to the browser (``data``): the recording's duration, a min/max envelope of its waveform
(:data:`ENVELOPE_BINS` pairs, never the samples), its log-mel spectrogram as one PNG (at most
:data:`SPEC_COLUMNS` columns, rendered here), the stored regions, the known labels and, after a
"play", exactly that region's audio as a WAV data URL. What comes back: one trigger value ``edit``
per change ({"op": "add"|"move"|"relabel"|"delete"|"accept", ...}) and ``play`` ({"id"}), which
:func:`apply_edit` and :func:`region_clip` turn into store calls and audio. An edit is checked by
the store (one transaction each): a bad one raises a SoundkitError and stores nothing.

The pictures (the overview, about 0.7 MB of envelope and PNG, and a zoomed view's detail) go to a
session's browser once each, keyed by recording, content hash (and stretch): :func:`pictures_once`
sends a key's picture the first time and only its key on later reruns, and the component keeps the
pictures it got in its JavaScript (a few, the last used). So an edit's rerun sends the regions, a
few hundred bytes, not the overview again. Should the component lack a picture it is sent only the
key of (a page that never drew it, or one it let go), it asks for it with the state value ``need``
({"key", "nonce"}) and the next run sends it again.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from soundkit.errors import ParameterError

REGIONS_JS = Path(__file__).resolve().parents[1] / "components" / "regions" / "regions.js"
#: min/max pairs of the waveform envelope sent to the browser.
ENVELOPE_BINS = 4000
#: Most time columns of the spectrogram image.
SPEC_COLUMNS = 4000
#: Rate the overview is computed at.
OVERVIEW_SR = 22050
#: Finest spectrogram hop (samples at OVERVIEW_SR, about 6 ms).
MIN_HOP = 128
#: Columns (and envelope bins) of a zoomed-in view's detail picture.
DETAIL_COLUMNS = 2000
#: Longest stretch one "Play" sends to the browser (seconds).
MAX_PLAY_SECONDS = 60.0
#: ``suggested_by`` of what the user draws or accepts in the editor.
USER = "user"
#: The fields of a picture (overview or detail) sent once per session and key.
PICTURE_FIELDS = ("env_min", "env_max", "spec")
#: Picture keys remembered as sent, per editor and session.
MAX_SENT = 64

# viridis at 6 stops (enough for a smooth ramp by linear interpolation)
_VIRIDIS = np.array([[68, 1, 84], [65, 68, 135], [42, 120, 142], [34, 168, 132], [122, 209, 81], [253, 231, 37]], float)


@st.cache_resource(show_spinner=False)
def _component() -> Any:
    return st.components.v2.component("soundkit_regions", js=REGIONS_JS.read_text(encoding="utf-8"), isolate_styles=False)


def envelope(y: np.ndarray, bins: int = ENVELOPE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of ``y`` over ``bins`` equal stretches (fewer when ``y`` is shorter), in [-1, 1].

    Parameters
    ----------
    y : np.ndarray, shape (n,)
    bins : int

    Returns
    -------
    lo, hi : np.ndarray, float32, shape (min(bins, n),)
    """
    y = np.asarray(y, dtype=np.float32)
    if len(y) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    k = min(int(bins), len(y))
    edges = np.linspace(0, len(y), k + 1).astype(np.int64)[:-1]
    lo, hi = np.minimum.reduceat(y, edges), np.maximum.reduceat(y, edges)
    return np.clip(lo, -1, 1), np.clip(hi, -1, 1)


def spectrogram_hop(n: int, columns: int) -> int:
    """The hop (samples) of a spectrogram of ``n`` samples in at most ``columns`` columns (>= 128)."""
    return max(MIN_HOP, int(math.ceil(n / max(1, columns))))


def spectrogram_image(y: np.ndarray, sr: int, *, columns: int = SPEC_COLUMNS, n_mels: int = 64) -> bytes:
    """PNG of the log-mel spectrogram of ``y`` (low frequencies at the bottom, viridis), one column
    per hop, the hop chosen so there are at most ``columns`` columns."""
    from PIL import Image

    from soundkit.features import log_mel

    hop = spectrogram_hop(len(y), columns)
    S = log_mel(np.asarray(y, np.float32), sr=sr, n_fft=1024, hop_length=hop, n_mels=n_mels, fmin=0.0,
                fmax=sr / 2, top_db=80.0)
    v = (S - S.min()) / max(float(S.max() - S.min()), 1e-6)  # (n_mels, T) in [0, 1]
    pos = v[::-1] * (len(_VIRIDIS) - 1)
    i = np.minimum(pos.astype(int), len(_VIRIDIS) - 2)
    f = (pos - i)[..., None]
    rgb = (_VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@st.cache_data(show_spinner="Drawing the recording...", max_entries=16)
def overview(path: str, digest: str) -> dict[str, Any]:
    """{"duration", "env_min", "env_max", "spec"} of a stored recording (cached by content hash)."""
    from soundkit.regions import load_ranged

    y, sr = load_ranged(path, sr=OVERVIEW_SR, max_seconds=None)
    lo, hi = envelope(y)
    png = spectrogram_image(y, sr)
    return {"duration": len(y) / sr, "hop": spectrogram_hop(len(y), SPEC_COLUMNS), "env_min": np.round(lo, 3).tolist(), "env_max": np.round(hi, 3).tolist(),
            "spec": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}


def _stretch(path: str, start: float, end: float, sr: int) -> np.ndarray:
    """Mono samples ``start``-``end`` s of a stored recording at ``sr``: a seek and a partial read
    where libsndfile can (WAV, FLAC, OGG, ...), else the whole file decoded and cut."""
    import soundfile as sf

    from soundkit import audio
    from soundkit.regions import load_ranged, ranged_path

    try:
        with sf.SoundFile(path) as f:
            f.seek(int(start * f.samplerate))
            y = f.read(int(round((end - start) * f.samplerate)), dtype="float32", always_2d=True).mean(axis=1)
            rate = f.samplerate
    except (RuntimeError, sf.LibsndfileError, ValueError):
        return load_ranged(ranged_path(path, start, end), sr=sr)[0]
    return audio.resample(y, orig_sr=rate, target_sr=sr) if rate != sr else y


@st.cache_data(show_spinner=False, max_entries=32)
def detail(path: str, digest: str, start: float, end: float) -> dict[str, Any]:
    """{"t0", "t1", "env_min", "env_max", "spec"} of the stretch ``start``-``end`` s at full detail
    (:data:`DETAIL_COLUMNS` columns and envelope bins), for a zoomed-in view."""
    y = _stretch(path, start, end, OVERVIEW_SR)
    lo, hi = envelope(y, DETAIL_COLUMNS)
    png = spectrogram_image(y, OVERVIEW_SR, columns=DETAIL_COLUMNS)
    return {"t0": start, "t1": start + len(y) / OVERVIEW_SR, "env_min": np.round(lo, 3).tolist(),
            "env_max": np.round(hi, 3).tolist(), "spec": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}


def detail_window(view: Any, duration: float, hop: int) -> tuple[float, float] | None:
    """The stretch to draw in detail for a view {"t0", "t1"} (the view plus half its span on each
    side, on a power-of-two grid so nearby views reuse it), or None when the overview (spectrogram
    hop ``hop``) has at least :data:`DETAIL_COLUMNS` columns over the view already, is close to the
    finest hop, or the view is not valid."""
    try:
        t0, t1 = float(view["t0"]), float(view["t1"])
    except (TypeError, KeyError, ValueError):
        return None
    span = t1 - t0
    if not (math.isfinite(t0) and math.isfinite(t1) and span > 0 and duration > 0):
        return None
    if span * OVERVIEW_SR / hop >= DETAIL_COLUMNS or hop <= 2 * MIN_HOP:
        return None
    q = 2.0 ** math.floor(math.log2(span / 4))  # a power-of-two grid: the same window for nearby views
    a = max(0.0, math.floor((t0 - span / 2) / q) * q)
    b = min(duration, math.ceil((t1 + span / 2) / q) * q)
    return (round(a, 3), round(b, 3)) if b - a > 0.05 else None


def region_dicts(regions: list[Any]) -> list[dict[str, Any]]:
    """The regions as the component draws them."""
    from soundkit.regions import is_suggestion

    return [{"id": g.id, "start": g.start, "end": g.end, "label": g.label or "", "by": g.suggested_by or "",
             "suggestion": is_suggestion(g.suggested_by)} for g in regions]


def _region_id(edit: dict[str, Any], regions: list[Any]) -> int:
    try:
        rid = int(edit.get("id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"region id must be an integer, got {edit.get('id')!r}") from None
    if rid not in {g.id for g in regions}:
        raise ParameterError(f"region {rid} is not a region of this recording (deleted already?)")
    return rid


def apply_edit(store: Any, clip_id: int, edit: dict[str, Any]) -> tuple[str, int | None]:
    """Apply one edit from the component to the store.

    Parameters
    ----------
    store : soundkit.store.Store
    clip_id : int
        The recording the editor shows (edits naming another recording's region are refused).
    edit : dict
        {"op": "add", "start", "end", "label"} | {"op": "move", "id", "start", "end"} |
        {"op": "relabel", "id", "label"} | {"op": "delete", "id"} | {"op": "accept", "id"}

    Returns
    -------
    message : str, a line for a toast
    region_id : int or None, the region to select next

    Raises ParameterError / StoreError (nothing stored) on a bad edit.
    """
    if not isinstance(edit, dict):
        raise ParameterError(f"an edit must be an object, got {type(edit).__name__}")
    op = edit.get("op")
    if op == "add":
        g = store.add_region(clip_id, edit.get("start"), edit.get("end"), label=edit.get("label"), suggested_by=USER)
        return f"Region {g.start:g}-{g.end:g} s labelled {g.label!r}", g.id
    regions = store.regions(clip_id)
    if op not in ("move", "relabel", "delete", "accept"):
        raise ParameterError(f"unknown edit {op!r}")
    rid = _region_id(edit, regions)
    if op == "move":
        g = store.move_region(rid, edit.get("start"), edit.get("end"))
        return f"Region moved to {g.start:g}-{g.end:g} s", g.id
    if op == "relabel":
        g = store.relabel_region(rid, edit.get("label"))
        return f"Region {g.start:g}-{g.end:g} s labelled {g.label!r}", g.id
    if op == "accept":
        g = store.accept_region(rid, by=USER)
        return f"Accepted {g.label!r} at {g.start:g}-{g.end:g} s", g.id
    store.delete_region(rid)
    return "Region deleted", None


def region_clip(store: Any, region_id: Any) -> dict[str, Any]:
    """{"id", "seconds", "url"}: exactly the region's audio (its first MAX_PLAY_SECONDS) as a WAV
    data URL, for the component's player."""
    from soundkit import audio
    from soundkit.regions import load_ranged, ranged_path, split_range

    try:
        g = store.get_region(int(region_id))
    except (TypeError, ValueError):
        raise ParameterError(f"region id must be an integer, got {region_id!r}") from None
    real, _ = split_range(g.path)
    end = min(g.end, g.start + MAX_PLAY_SECONDS)
    y, sr = load_ranged(ranged_path(real, g.start, end), sr=22050)
    wav = audio.to_wav_bytes(y, sr)
    return {"id": g.id, "seconds": round(len(y) / sr, 3), "url": "data:audio/wav;base64," + base64.b64encode(wav).decode("ascii")}


def _trigger(key: str, name: str) -> Any:
    """This run's trigger (or state) value ``name`` of the component mounted at ``key`` (None when unset)."""
    state = st.session_state.get(key)
    if state is None:
        return None
    value = getattr(state, name, None)
    if value is None and hasattr(state, "get"):
        value = state.get(name)
    return value


def _ui(key: str) -> dict[str, Any]:
    return st.session_state.setdefault(f"{key}__ui", {})


def pictures_once(ui: dict[str, Any], pic_key: str, picture: dict[str, Any]) -> dict[str, Any]:
    """``picture`` with ``"key": pic_key`` the first time this session's editor (its ``ui`` state)
    sends it, afterwards without its :data:`PICTURE_FIELDS` (the browser keeps them by key)."""
    sent = ui.setdefault("sent", [])
    if pic_key in sent:
        return {"key": pic_key, **{k: v for k, v in picture.items() if k not in PICTURE_FIELDS}}
    sent.append(pic_key)
    del sent[:-MAX_SENT]
    return {"key": pic_key, **picture}


def _on_need(key: str) -> None:
    """The component lacks a picture it was sent only the key of: send it whole on this run."""
    need, ui = _trigger(key, "need"), _ui(key)
    if isinstance(need, dict) and need.get("key") in ui.get("sent", []):
        ui["sent"].remove(need.get("key"))


def _on_edit(store: Any, clip_id: int, key: str) -> None:
    from soundkit.errors import SoundkitError
    from soundkit_app import public

    edit, ui = _trigger(key, "edit"), _ui(key)
    if edit is None:
        return
    try:
        message, rid = apply_edit(store, clip_id, edit)
    except SoundkitError as exc:
        ui["error"] = public(str(exc))
    else:
        ui["message"] = message
        ui["focus"] = {"nonce": str(edit.get("nonce") or message), "id": rid}


def _on_play(store: Any, key: str) -> None:
    from soundkit.errors import SoundkitError
    from soundkit_app import public

    play, ui = _trigger(key, "play"), _ui(key)
    if not isinstance(play, dict):
        return
    try:
        ui["clip"] = {**region_clip(store, play.get("id")), "nonce": str(play.get("nonce"))}
    except SoundkitError as exc:
        ui["error"] = public(str(exc))


def editor(store: Any, rec: Any, *, key: str, default_label: str | None = None) -> Any:
    """Mount the editor for the recording ``rec``. Its edits are applied to the store in the
    component's callbacks (before this run draws it), so the regions drawn are the stored ones; a
    bad edit shows one st.error line and stores nothing. Returns the component's result."""
    ui = _ui(key)
    error, message, clip = ui.pop("error", None), ui.pop("message", None), ui.pop("clip", None)
    ov = overview(str(rec.path), rec.hash)
    regions = store.regions(rec.id)
    labels = sorted(set(store.labels()) | {g.label for g in regions if g.label})
    duration = min(ov["duration"], rec.seconds) or ov["duration"]
    window = detail_window(_trigger(key, "view"), duration, ov["hop"])
    fine = None
    if window:
        fine = pictures_once(ui, f"{rec.id}:{rec.hash}:{window[0]:.3f}-{window[1]:.3f}",
                             {**detail(str(rec.path), rec.hash, *window), "rec": rec.id})
    whole = pictures_once(ui, f"{rec.id}:{rec.hash}", {k: ov[k] for k in PICTURE_FIELDS})
    data = {"id": key, "rec": rec.id, "duration": duration, "overview": whole, "detail": fine,
            "regions": region_dicts(regions), "labels": labels, "default_label": default_label or "",
            "focus": ui.get("focus"), "clip": clip}
    result = _component()(key=key, data=data, height="content", on_view_change=lambda: None,
                          on_need_change=functools.partial(_on_need, key),
                          on_edit_change=functools.partial(_on_edit, store, rec.id, key),
                          on_play_change=functools.partial(_on_play, store, key))
    if error:
        st.error(error, icon=":material/error:")
    elif message:
        st.toast(message, icon=":material/check:")
    return result
