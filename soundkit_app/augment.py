"""Spectrogram and Augment page helpers: clip input, spectrogram figures, augmentation previews,
policies from previewed settings, augmented copies in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from soundkit_app import AUDIO_TYPES
from soundkit_app.classify import stored_clip_picker
from soundkit_app.label import label_picker
from soundkit_app.rendering import load_audio, safe_name, spectrogram_png, uploaded_bytes
from soundkit_app.resources import store, store_or_none


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
def spectrogram_figure(data: bytes, name: str, features_json: str | None, duration: float | None = None) -> bytes | None:
    """PNG: waveform + log-mel spectrogram (time and frequency axes, dB colour bar) of a clip; with
    ``duration`` the time axis spans that many seconds, so an original and its stretched copy drawn
    with the longer one's duration take widths proportional to their lengths."""
    from soundkit.config import FeatureConfig

    features = FeatureConfig.from_json(features_json) if features_json else FeatureConfig()
    y, sr = load_audio(data, name)
    return spectrogram_png(y, sr, features, waveform=True, duration=duration)


@st.cache_data(show_spinner="Augmenting...", max_entries=32)
def augmented(data: bytes, name: str, settings: dict) -> tuple[bytes, dict]:
    """(WAV bytes, applied parameters) of a clip through augment.preview with fixed ``settings``."""
    from soundkit import audio, augment

    y, sr = load_audio(data, name)
    z, params, _ = augment.preview(y, sr, **settings)
    return audio.to_wav_bytes(z, sr), params


def policy_from_settings(settings: dict, *, name: str, copies: int, mixup: bool = False) -> dict:
    """A training policy whose ranges run from neutral to the previewed settings (validated).

    Stretch and pitch are made symmetric (a ratio r gives [min(r, 1/r), max(r, 1/r)], s semitones give
    [-|s|, |s|]); noise, gain and shift range from neutral to the value shown. ``mixup`` adds mixup
    (alpha ``soundkit.augment.MIXUP_ALPHA``).
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
    policy = {"name": name, "copies": copies, "transforms": transforms,
              "mixup": augment.MIXUP_ALPHA if mixup else 0.0}
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
