"""What an upload must be before it is stored: the clip limits, reading the bytes, decoding them
whole, and the bytes to keep.

Every clip is decoded block by block in constant memory (:func:`soundkit.audio.scan`: header checked
first for duration, channels, rate and sample count; clips shorter than ``MIN_CLIP_SECONDS`` or
longer than ``MAX_CLIP_SECONDS`` refused, files above ``MAX_CLIP_BYTES`` never read). Stored bytes
are bounded by the audio they hold: a file larger than its decoded audio as 16-bit PCM (the file's
own sample width when wider) plus ``MAX_OVERHEAD_BYTES``, or one only ffmpeg reads, is stored
re-encoded as FLAC (lossless for the decoded samples, native rate and channels); otherwise the
upload's bytes are kept as they are. Bad audio raises :class:`~soundkit.errors.AudioError` before
anything is written. Uploaded names are display names only (:func:`_display_name`), never paths.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from soundkit.errors import AudioError
from soundkit.store.labels import _CONTROL
from soundkit.store.records import Data

__all__ = ["MAX_CLIP_BYTES", "MAX_CLIP_SECONDS", "MIN_CLIP_SECONDS", "MAX_OVERHEAD_BYTES", "MAX_NAME_LENGTH"]

log = logging.getLogger(__name__)

#: Largest accepted clip file and duration; shortest clip.
MAX_CLIP_BYTES = 200 * 1024 * 1024
MAX_CLIP_SECONDS = 600.0
MIN_CLIP_SECONDS = 0.1
#: Bytes a stored file may hold beyond its audio (headers, tags, cover art) before it is re-encoded.
MAX_OVERHEAD_BYTES = 256 * 1024
#: Longest display name kept (an upload's file name).
MAX_NAME_LENGTH = 200

# soundfile's format names -> the extension a stored file gets
_FORMAT_EXT = {"WAV": ".wav", "WAVEX": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3", "AIFF": ".aiff"}


def _display_name(name: Any) -> str:
    """The last component of an uploaded name, without control characters (never used as a path)."""
    text = str(name or "").replace("\\", "/").split("/")[-1]
    text = _CONTROL.sub("", text).strip()
    return text[:MAX_NAME_LENGTH] or "clip"


def _read_data(data: Data, name: str) -> bytes:
    """The upload's bytes (a path is read, a file-like read up to the limit); AudioError naming ``name``
    when it is missing, empty, unreadable or larger than ``MAX_CLIP_BYTES``."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        out = bytes(data)
    elif isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise AudioError(f"{name}: no such file" if not path.exists() else f"{name}: is not a file")
        if path.stat().st_size > MAX_CLIP_BYTES:
            raise AudioError(f"{name}: is larger than the {MAX_CLIP_BYTES // 2**20} MB limit")
        out = path.read_bytes()
    else:
        try:
            out = data.read(MAX_CLIP_BYTES + 1)
        except Exception as exc:  # noqa: BLE001 - a failing reader is the upload's problem
            raise AudioError(f"{name}: cannot be read ({exc})") from None
    if len(out) > MAX_CLIP_BYTES:
        raise AudioError(f"{name}: is larger than the {MAX_CLIP_BYTES // 2**20} MB limit")
    if not out:
        raise AudioError(f"{name}: file is empty")
    return out


#: Bytes per sample of soundfile subtypes wider than 16 bits (everything else counts as 2).
_SAMPLE_BYTES = {"PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}


def _validated(data: bytes, name: str) -> tuple[bytes, str, float, int, int]:
    """(bytes to store, extension, seconds, native sr, channels) after decoding the whole clip.

    The clip is decoded block by block (constant memory) with the store's limits. Formats
    libsndfile reads are kept as they are unless the file is larger than the audio it holds (see the
    module docstring); anything else is stored re-encoded as FLAC.
    """
    from soundkit import audio

    info = audio.scan(data, max_seconds=MAX_CLIP_SECONDS, min_seconds=MIN_CLIP_SECONDS, name=name)
    assert info.frames is not None
    ext = _FORMAT_EXT.get(info.format or "") if info.decoder == "libsndfile" else None
    width = _SAMPLE_BYTES.get(info.subtype or "", 2)
    bound = info.frames * info.channels * width + MAX_OVERHEAD_BYTES
    if ext is None or len(data) > bound:
        if ext is not None:
            log.info("%s: %d bytes for %.2f s of audio; storing it re-encoded as FLAC", name, len(data), info.seconds)
        data = audio.encode(data, format="FLAC", subtype="PCM_24" if width > 2 else "PCM_16",
                            max_seconds=MAX_CLIP_SECONDS, name=name)
        ext = ".flac"
    return data, ext, info.frames / info.samplerate, int(info.samplerate), int(info.channels)
