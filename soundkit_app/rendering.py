"""Rendering: matplotlib figures to PNG, decoded audio and WAV bytes, file names, images and players."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import streamlit as st

from soundkit_app import optional


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


def recording_name() -> str:
    """A display name for a browser recording (recording-YYYYmmdd-HHMMSS.wav)."""
    import time

    return time.strftime("recording-%Y%m%d-%H%M%S.wav")


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


def image(where: Any, png: bytes | None) -> None:
    """Show a PNG (full width), or a short note when plotting is not available in this build."""
    if png is None:
        where.caption("Spectrogram plots are not available in this build yet.")
    else:
        where.image(png, width="stretch")


def spectrogram_png(
    y: Any, sr: int, features: Any, *, title: str | None = None, waveform: bool = False, duration: float | None = None
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
        y=y if waveform else None, title=title, duration=duration,
    )  # fmt: skip
    return fig_png(fig)
