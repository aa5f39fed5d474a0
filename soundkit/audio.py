"""Loading and validating audio from a path, bytes or a file-like object, in bounded memory.

Decoding is done by libsndfile (through soundfile: WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF); other
containers (m4a/AAC, WebM/Opus from browser recordings, ...) go to ffmpeg, but only when their leading
bytes are a known audio container (:func:`sniff`), so arbitrary bytes fail in milliseconds.
Resampling is done by soxr.

Every decode is bounded before it starts and while it runs:

- the header is read first (libsndfile, or ``ffprobe`` for the fallback) and a clip is refused when
  it claims more than ``max_seconds``, more than :data:`MAX_CHANNELS` channels, a rate above
  :data:`MAX_SAMPLE_RATE`, or more than :data:`MAX_DECODE_SAMPLES` samples in all (frames x channels:
  the work a decode costs, whatever the output);
- the audio is then decoded in blocks of :data:`BLOCK_FRAMES` frames; each block is checked
  (finite), mixed down and resampled (``soxr.ResampleStream``) before the next is read, so peak
  memory is bounded by the *output* (mono at the target rate), not by the input's channels or rate;
- the same limits are enforced on what is actually decoded (headers can lie or be missing);
- ``min_seconds`` (:data:`MIN_SECONDS` = 0.1 s where clips come from users: the store and
  prediction) refuses clips too short to hold a sound.

The ffmpeg fallback never writes a named temporary file: bytes go into an unnamed temporary file
(``tempfile.TemporaryFile``, O_TMPFILE on Linux) that ffmpeg reads through ``/proc/self/fd``, so no
signal (not even SIGKILL) can leave one behind; its output is read from a pipe, capped with ``-t`` and
a wall-clock timeout. Every failure is an :class:`~soundkit.errors.AudioError` whose one-line message
names the file.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from soundkit.errors import AudioError, ParameterError

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_MAX_SECONDS",
    "MIN_SECONDS",
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "MAX_DECODE_SAMPLES",
    "AudioInfo",
    "Source",
    "load",
    "info",
    "scan",
    "stream",
    "encode",
    "sniff",
    "probe_seconds",
    "resample",
    "is_silent",
    "to_wav_bytes",
    "save_wav",
]

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".oga", ".aiff", ".aif")
DEFAULT_MAX_SECONDS = 600.0
#: Shortest clip the store and prediction accept (a sound needs a few analysis frames).
MIN_SECONDS = 0.1
#: Most channels a file may have (7.1 surround).
MAX_CHANNELS = 8
#: Highest native sample rate accepted.
MAX_SAMPLE_RATE = 384_000
#: Most samples (frames x channels) one decode may produce: about 11.6 minutes of 96 kHz stereo.
MAX_DECODE_SAMPLES = 2**27
#: Frames per decoded block.
BLOCK_FRAMES = 65_536
#: Longest an ffmpeg fallback decode may run.
FALLBACK_TIMEOUT_S = 120.0
#: Peak amplitude below which a clip counts as silent (about -80 dBFS).
SILENCE_PEAK = 1e-4
#: Slack over ``max_seconds`` tolerated in headers of formats whose length is an estimate (MP3).
_HEADER_SLACK_S = 0.5

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


@dataclass(frozen=True)
class AudioInfo:
    """What a header (or a full :func:`scan`) says about a clip.

    ``frames`` is None where the header does not say (some streams); after :func:`scan` it is the
    number of frames actually decoded and ``peak`` the largest absolute sample. ``decoder`` is
    "libsndfile" or "ffmpeg"; ``format``/``subtype`` are soundfile's names (for ffmpeg: its format
    name and codec-less None).
    """

    samplerate: int
    channels: int
    frames: int | None
    format: str | None
    subtype: str | None
    decoder: str
    peak: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.frames is None else self.frames / self.samplerate


def _name_of(source: Source, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or "<audio bytes>"


def _read_bytes(source: Source, label: str) -> bytes | None:
    """Bytes for in-memory sources; None for paths (read by the decoder directly)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        return None
    try:
        return source.read()  # type: ignore[union-attr]
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem
        raise AudioError(f"{label}: cannot be read ({exc})") from None


def _checked_source(source: Source, label: str) -> bytes | Path:
    """The bytes, or the path after checking it names a non-empty file."""
    data = _read_bytes(source, label)
    if data is None:
        path = Path(os.fspath(source))  # type: ignore[arg-type]
        if not path.exists():
            raise AudioError(f"{label}: no such file")
        if path.is_dir():
            raise AudioError(f"{label}: is a directory, not an audio file")
        if path.stat().st_size == 0:
            raise AudioError(f"{label}: file is empty")
        return path
    if len(data) == 0:
        raise AudioError(f"{label}: file is empty")
    return data


# -- containers ---------------------------------------------------------------------------------

def sniff(head: bytes) -> str | None:
    """The audio container the leading bytes announce, or None (then ffmpeg is never tried).

    Known: WAV (RIFF/RF64/BW64 ... WAVE), FLAC, Ogg, MP3 (ID3 tag or an MPEG frame sync), ADTS AAC,
    MP4/M4A/3GP (``ftyp``), AIFF/AIFC, Matroska/WebM (EBML), CAF, WavPack, APE, AU, AMR, ASF/WMA, and
    libsndfile's W64, NIST, VOC, 8SVX and PAF. Anything else is refused before any decoder runs (an
    MP3 that starts with junk before its first frame included).
    Of these, only the ones libsndfile does not decode itself (MP4, WebM, AAC, CAF, ...; WAV with
    a codec libsndfile lacks) are handed to ffmpeg.
    """
    b = bytes(head[:32])
    if len(b) < 4:
        return None
    if b[:4] in (b"RIFF", b"RF64", b"BW64") and b[8:12] == b"WAVE":
        return "wav"
    if b[:4] == b"FORM" and b[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if b[:4] == b"FORM" and b[8:12] in (b"8SVX", b"16SV"):
        return "svx"
    if b[:8] == b"riff\x2e\x91\xcf\x11":
        return "w64"
    if b[:7] == b"NIST_1A":
        return "nist"
    if b[:19] == b"Creative Voice File":
        return "voc"
    if len(b) >= 8 and b[4:8] == b"ftyp":
        return "mp4"
    simple = {
        b"fLaC": "flac", b"OggS": "ogg", b"\x1a\x45\xdf\xa3": "matroska", b"caff": "caf",
        b"wvpk": "wavpack", b"MAC ": "ape", b".snd": "au", b" paf": "paf", b"fap ": "paf", b"TTA1": "tta",
        b"MPCK": "musepack",
    }  # fmt: skip
    if b[:4] in simple:
        return simple[b[:4]]
    if b[:3] == b"ID3":
        return "mp3"
    if b[:5] == b"#!AMR":
        return "amr"
    if b[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "asf"
    if b[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return "aac"  # ADTS
    if b[0] == 0xFF and (b[1] & 0xE0) == 0xE0 and (b[1] & 0x06) != 0:
        return "mp3"  # an MPEG audio frame sync with a valid layer
    return None


def _sndfile_reads(kind: str) -> bool:
    """True for containers libsndfile decodes itself: when it fails on one, ffmpeg is not tried
    (it would only spend a process start on a damaged file)."""
    if kind in ("flac", "ogg", "aiff", "au", "svx", "w64", "nist", "voc", "paf"):
        return True
    if kind == "mp3":
        import soundfile as sf

        return "MP3" in sf.available_formats()
    return False


def _head(src: bytes | Path) -> bytes:
    if isinstance(src, bytes):
        return src[:32]
    with open(src, "rb") as fh:
        return fh.read(32)


def _clean_reason(exc: Exception) -> str:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = re.sub(r"^Error opening .*?: ", "", reason)  # drop libsndfile's "<_io.BytesIO object at 0x...>"
    if reason.startswith("File does not exist or is not a regular file"):  # libsndfile on bytes it cannot parse
        return "format not recognised"
    return reason


# -- decoders -----------------------------------------------------------------------------------

class _SndfileDecoder:
    """libsndfile: the header on open, then blocks."""

    def __init__(self, src: bytes | Path) -> None:
        import soundfile as sf

        self._f = sf.SoundFile(io.BytesIO(src) if isinstance(src, bytes) else str(src))
        f = self._f
        self.info = AudioInfo(int(f.samplerate), int(f.channels), int(f.frames) if f.frames > 0 else None,
                              f.format, f.subtype, "libsndfile")

    def blocks(self, n: int) -> Iterator[np.ndarray]:
        while True:
            block = self._f.read(n, dtype="float32", always_2d=True)
            if len(block) == 0:
                return
            yield block

    def close(self) -> None:
        self._f.close()


class _FFmpegDecoder:
    """ffmpeg for containers libsndfile cannot read: ffprobe's header, then f32le blocks from a pipe."""

    def __init__(self, src: bytes | Path, label: str, first_error: Exception) -> None:
        self._label, self._first = label, first_error
        self._stack = contextlib.ExitStack()
        self._proc: subprocess.Popen | None = None
        if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
            raise AudioError(f"{label}: cannot be decoded as audio ({_clean_reason(first_error)}; ffmpeg is not installed)")
        try:
            self._path, self._fds = self._input(src)
            self.info = self._probe()
        except BaseException:
            self._stack.close()
            raise

    def _input(self, src: bytes | Path) -> tuple[str, tuple[int, ...]]:
        if isinstance(src, Path):
            return str(src), ()
        if os.path.isdir("/proc/self/fd"):
            # unnamed (O_TMPFILE where available, else unlinked at once): nothing to leave behind
            fh = self._stack.enter_context(tempfile.TemporaryFile(prefix="soundkit-"))
            fh.write(src)
            fh.flush()
            return f"/proc/self/fd/{fh.fileno()}", (fh.fileno(),)
        tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="soundkit-"))
        path = os.path.join(tmp, "input")
        with open(path, "wb") as fh:
            fh.write(src)
        return path, ()

    def _fail(self, detail: str | None = None) -> AudioError:
        """One line: ffmpeg's own reason when it gave one, else libsndfile's."""
        reason = detail or _clean_reason(self._first)
        return AudioError(f"{self._label}: cannot be decoded as audio ({reason})")

    def _ffmpeg_reason(self, stderr: bytes) -> str | None:
        lines = stderr.decode("utf-8", "replace").strip().splitlines()
        if not lines:
            return None
        line = lines[-1].replace(self._path + ": ", "").replace(self._path, "<input>").strip()
        return f"ffmpeg: {line[:160]}"

    def _probe(self) -> AudioInfo:
        cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
               "stream=sample_rate,channels,duration:format=duration,format_name", "-of", "json", self._path]
        try:
            r = subprocess.run(cmd, capture_output=True, pass_fds=self._fds, timeout=30, check=False)
            meta = json.loads(r.stdout or b"{}")
        except (subprocess.TimeoutExpired, OSError, ValueError):
            raise self._fail() from None
        streams = meta.get("streams") or []
        if r.returncode != 0:
            raise self._fail(self._ffmpeg_reason(r.stderr))
        if not streams:
            raise self._fail("no audio stream")
        s, fmt = streams[0], meta.get("format") or {}
        try:
            sr, ch = int(s.get("sample_rate") or 0), int(s.get("channels") or 0)
        except (TypeError, ValueError):
            raise self._fail() from None
        if sr <= 0 or ch <= 0:
            raise self._fail("no sample rate or channel count")
        frames = None
        for d in (s.get("duration"), fmt.get("duration")):
            try:
                seconds = float(d)
            except (TypeError, ValueError):
                continue
            if math.isfinite(seconds) and seconds > 0:
                frames = int(round(seconds * sr))
                break
        return AudioInfo(sr, ch, frames, str(fmt.get("format_name") or "") or None, None, "ffmpeg")

    def blocks(self, n: int, *, max_seconds: float | None = None) -> Iterator[np.ndarray]:
        ch = self.info.channels
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", self._path,
               "-map", "0:a:0", "-vn", "-sn", "-dn"]
        if max_seconds is not None:
            cmd += ["-t", f"{max_seconds + 1:.3f}"]
        cmd += ["-f", "f32le", "-c:a", "pcm_f32le", "-ac", str(ch), "-ar", str(self.info.samplerate), "pipe:1"]
        err = self._stack.enter_context(tempfile.TemporaryFile(prefix="soundkit-ffmpeg-"))
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                      pass_fds=self._fds)
        timed_out = threading.Event()
        proc = self._proc

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(FALLBACK_TIMEOUT_S, kill)
        timer.daemon = True
        timer.start()
        try:
            size = n * ch * 4
            pending = b""
            assert self._proc.stdout is not None
            while True:
                chunk = self._proc.stdout.read(size)
                if not chunk:
                    break
                pending += chunk
                usable = len(pending) - len(pending) % (ch * 4)
                if usable:
                    yield np.frombuffer(pending[:usable], dtype="<f4").reshape(-1, ch)
                    pending = pending[usable:]
            rc = self._proc.wait()
        finally:
            timer.cancel()
            self._stop()
        if rc != 0:
            if timed_out.is_set():
                raise self._fail(f"ffmpeg took longer than {FALLBACK_TIMEOUT_S:g} s")
            err.seek(0)
            raise self._fail(self._ffmpeg_reason(err.read(4096)))

    def _stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()

    def close(self) -> None:
        self._stop()
        self._stack.close()


@contextlib.contextmanager
def _open(src: bytes | Path, label: str) -> Iterator[_SndfileDecoder | _FFmpegDecoder]:
    # Bytes that announce no known container are refused before any decoder sees them: at once, and
    # without libsndfile's MP3 probe scanning (and complaining on stderr about) arbitrary data.
    kind = sniff(_head(src))
    if kind is None:
        raise AudioError(f"{label}: cannot be decoded as audio (not a known audio format)")
    try:
        dec: _SndfileDecoder | _FFmpegDecoder = _SndfileDecoder(src)
    except Exception as exc:  # noqa: BLE001 - libsndfile cannot read it; perhaps ffmpeg can
        unimplemented = "unimplemented" in str(exc) or "not supported" in str(exc)
        if _sndfile_reads(kind) or (kind == "wav" and not unimplemented):
            raise AudioError(f"{label}: cannot be decoded as audio ({_clean_reason(exc)})") from None
        dec = _FFmpegDecoder(src, label, exc)
    try:
        yield dec
    finally:
        dec.close()


def _check_header(h: AudioInfo, label: str, max_seconds: float | None) -> None:
    if h.channels > MAX_CHANNELS:
        raise AudioError(f"{label}: has {h.channels} channels; the limit is {MAX_CHANNELS}")
    if not 1 <= h.samplerate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{label}: has a sample rate of {h.samplerate} Hz; the limit is {MAX_SAMPLE_RATE} Hz")
    if h.frames is None:
        return
    seconds = h.frames / h.samplerate
    if max_seconds is not None and seconds > max_seconds + _HEADER_SLACK_S:
        raise AudioError(f"{label}: is {seconds:.1f} s long; the limit is {max_seconds:g} s")
    if h.frames * h.channels > MAX_DECODE_SAMPLES:
        raise AudioError(
            f"{label}: would decode {h.frames * h.channels / 1e6:.0f} million samples ({seconds:.1f} s x "
            f"{h.channels} channels at {h.samplerate} Hz); the limit is {MAX_DECODE_SAMPLES / 1e6:.0f} million"
        )


def _blocks(dec, label: str, max_seconds: float | None, blocksize: int) -> Iterator[np.ndarray]:
    """The decoder's blocks, checked: finite, within the duration and sample limits."""
    h = dec.info
    max_frames = MAX_DECODE_SAMPLES // h.channels
    if max_seconds is not None:
        max_frames = min(max_frames, int((max_seconds + _HEADER_SLACK_S) * h.samplerate) + 1)
    it = dec.blocks(blocksize, max_seconds=max_seconds) if isinstance(dec, _FFmpegDecoder) else dec.blocks(blocksize)
    done = 0
    try:
        for block in it:
            done += len(block)
            if done > max_frames:
                if max_seconds is not None and max_frames < MAX_DECODE_SAMPLES // h.channels:
                    raise AudioError(f"{label}: is longer than {max_seconds:g} s (the limit)")
                raise AudioError(f"{label}: decodes to more than {MAX_DECODE_SAMPLES / 1e6:.0f} million samples (the limit)")
            if not np.isfinite(block).all():
                raise AudioError(f"{label}: contains NaN or infinite samples")
            yield block
    except AudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - the header was fine but the data is not
        raise AudioError(f"{label}: is damaged or truncated ({_clean_reason(exc)})") from None


def info(source: Source, *, name: str | None = None) -> AudioInfo:
    """The header of a clip (no decoding; ffprobe for containers libsndfile cannot read)."""
    label = _name_of(source, name)
    with _open(_checked_source(source, label), label) as dec:
        return dec.info


def stream(
    source: Source,
    *,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    blocksize: int = BLOCK_FRAMES,
    name: str | None = None,
) -> Iterator[tuple[AudioInfo, np.ndarray]]:
    """Decode block by block, with the header checked first and the limits enforced throughout.

    Yields
    ------
    info : AudioInfo
        The header (the same object for every block).
    block : np.ndarray, float32, shape (n, channels)
    """
    label = _name_of(source, name)
    src = _checked_source(source, label)
    with _open(src, label) as dec:
        _check_header(dec.info, label, max_seconds)
        for block in _blocks(dec, label, max_seconds, blocksize):
            yield dec.info, block


def scan(
    source: Source,
    *,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    min_seconds: float | None = None,
    name: str | None = None,
) -> AudioInfo:
    """Decode a whole clip without keeping it: validation in constant memory.

    Returns the header's AudioInfo with ``frames`` the frames actually decoded and ``peak`` the
    largest absolute sample. Raises AudioError as :func:`load` does.
    """
    label = _name_of(source, name)
    head, frames, peak = None, 0, 0.0
    for h, block in stream(source, max_seconds=max_seconds, name=name):
        head = h
        frames += len(block)
        peak = max(peak, float(np.max(np.abs(block))))
    if head is None or frames == 0:
        raise AudioError(f"{label}: contains no audio samples")
    _check_duration(frames / head.samplerate, label, max_seconds, min_seconds)
    return AudioInfo(head.samplerate, head.channels, frames, head.format, head.subtype, head.decoder, peak)


def encode(
    source: Source,
    *,
    format: str = "FLAC",
    subtype: str = "PCM_16",
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    name: str | None = None,
) -> bytes:
    """Decode ``source`` block by block and re-encode it (native rate and channels) as ``format``.

    Memory holds one block plus the encoded output. Samples beyond [-1, 1] are clipped.
    """
    import soundfile as sf

    out = io.BytesIO()
    f = None
    try:
        for head, block in stream(source, max_seconds=max_seconds, name=name):
            if f is None:
                f = sf.SoundFile(out, "w", samplerate=head.samplerate, channels=head.channels, format=format,
                                 subtype=subtype)
            f.write(np.clip(block, -1.0, 1.0))
    finally:
        if f is not None:
            f.close()
    if f is None:
        raise AudioError(f"{_name_of(source, name)}: contains no audio samples")
    return out.getvalue()


def probe_seconds(source: Source, *, name: str | None = None) -> float | None:
    """Duration in seconds from the header alone, or None where the header does not say."""
    import soundfile as sf

    label = _name_of(source, name)
    data = _read_bytes(source, label)
    try:
        h = sf.info(io.BytesIO(data) if data is not None else os.fspath(source))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001
        return None
    if h.samplerate <= 0 or h.frames <= 0:
        return None
    return h.frames / h.samplerate


def _check_duration(seconds: float, label: str, max_seconds: float | None, min_seconds: float | None) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(f"{label}: is {seconds:.1f} s long; the limit is {max_seconds:g} s")
    if min_seconds is not None and seconds < min_seconds:
        raise AudioError(f"{label}: is {seconds:.3f} s long; the shortest accepted clip is {min_seconds:g} s")


class _Buffer:
    """A growing float32 array (preallocated from the header's estimate when there is one)."""

    def __init__(self, channels: int, estimate: int | None) -> None:
        self._a = np.empty((estimate if estimate else BLOCK_FRAMES, channels), dtype=np.float32)
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        if len(x) == 0:
            return
        need = self.n + len(x)
        if need > len(self._a):
            grown = np.empty((max(need, 2 * len(self._a)), self._a.shape[1]), dtype=np.float32)
            grown[: self.n] = self._a[: self.n]
            self._a = grown
        self._a[self.n : need] = x
        self.n = need

    def result(self) -> np.ndarray:
        """The frames so far (a copy when much of the buffer went unused, so that it is freed)."""
        out = self._a[: self.n]
        return out.copy() if self.n < 0.75 * len(self._a) else out


def load(
    source: Source,
    *,
    sr: int | None = 44100,
    mono: bool = True,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    min_seconds: float | None = None,
    reject_silent: bool = False,
    name: str | None = None,
) -> tuple[np.ndarray, int]:
    """Decode, validate, mix down and resample audio, block by block (memory bounded by the output).

    Parameters
    ----------
    source : path, bytes or binary file-like
        The audio. Paths are decoded in place; bytes are never written to a named file.
    sr : int or None
        Target sample rate; None keeps the file's own rate.
    mono : bool
        Average the channels into one.
    max_seconds : float or None
        Longest accepted duration (checked from the header before decoding, and while decoding).
    min_seconds : float or None
        Shortest accepted duration (:data:`MIN_SECONDS` where clips come from users).
    reject_silent : bool
        Raise for a clip whose peak amplitude is below about -80 dBFS.
    name : str, optional
        How to call the source in error messages (an upload's file name, say).

    Returns
    -------
    y : np.ndarray, float32, shape (n,) if mono else (channels, n)
    sr : int

    Raises
    ------
    AudioError
        Missing, empty, undecodable, damaged, zero-length, non-finite, over-long, too short, with too
        many channels or samples (or silent) audio.
    """
    if sr is not None and not (1000 <= sr <= 384000):
        raise ParameterError(f"sr must be within 1000..384000 Hz, got {sr}")
    if max_seconds is not None and max_seconds <= 0:
        raise ParameterError(f"max_seconds must be positive, got {max_seconds}")
    if min_seconds is not None and min_seconds < 0:
        raise ParameterError(f"min_seconds must be >= 0, got {min_seconds}")
    label = _name_of(source, name)
    buf = rs = None
    native = channels = 0
    for head, block in stream(source, max_seconds=max_seconds, name=name):
        if buf is None:
            native, channels = head.samplerate, (1 if mono else head.channels)
            target = native if sr is None else sr
            estimate = None if head.frames is None else math.ceil(head.frames * target / native) + 16
            buf = _Buffer(channels, estimate)
            if target != native:
                import soxr

                rs = soxr.ResampleStream(native, target, channels, dtype="float32", quality="HQ")
        x = block.mean(axis=1, keepdims=True, dtype=np.float32) if mono and block.shape[1] > 1 else block
        if mono:
            x = x[:, :1]
        buf.append(rs.resample_chunk(x) if rs is not None else x)
    if buf is None:
        raise AudioError(f"{label}: contains no audio samples")
    if rs is not None:
        buf.append(rs.resample_chunk(np.zeros((0, channels), np.float32), last=True))
    out_sr = native if sr is None else sr
    y = buf.result()
    if y.shape[0] == 0:
        raise AudioError(f"{label}: contains no audio samples")
    _check_duration(y.shape[0] / out_sr, label, max_seconds, min_seconds)
    y = np.ascontiguousarray(y[:, 0] if mono else y.T, dtype=np.float32)
    if reject_silent and is_silent(y):
        raise AudioError(f"{label}: is silent (peak below -80 dBFS)")
    return y, int(out_sr)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality)."""
    if orig_sr == target_sr:
        return y
    import soxr

    if y.ndim == 1:
        return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)
    return soxr.resample(y.T, orig_sr, target_sr, quality="HQ").T.astype(np.float32, copy=False)


def is_silent(y: np.ndarray, *, peak: float = SILENCE_PEAK) -> bool:
    """True when no sample exceeds ``peak`` in absolute value."""
    return y.size == 0 or float(np.max(np.abs(y))) < peak


def to_wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit PCM WAV bytes for playback widgets and downloads."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(y, dtype=np.float32).T, -1.0, 1.0), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def save_wav(path: str | os.PathLike, y: np.ndarray, sr: int) -> Path:
    """Write a WAV atomically (temporary file in the same folder, then rename)."""
    from soundkit.fileio import write_atomic

    return write_atomic(path, to_wav_bytes(y, sr))
