"""Audio loading: formats from paths and bytes, mixing down, resampling, and the error table."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import noise, tone, wav_bytes, write_audio, write_wav

from soundkit import audio
from soundkit.errors import AudioError, ParameterError

SR = 22050


def _has_mp3() -> bool:
    return "MP3" in sf.available_formats()


FORMATS = [
    ("wav", "WAV", "PCM_16", 1e-3),
    ("flac", "FLAC", "PCM_16", 1e-3),
    ("ogg", "OGG", "VORBIS", 0.1),
    pytest.param(
        "mp3", "MP3", "MPEG_LAYER_III", 0.1,
        marks=pytest.mark.skipif(not _has_mp3(), reason=f"libsndfile {sf.__libsndfile_version__} cannot write MP3"),
    ),
]  # fmt: skip


def _encode(fmt: str, subtype: str, y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _dominant_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.fft.rfftfreq(y.size, 1 / sr)[np.argmax(spec)])


@pytest.mark.parametrize("ext, fmt, subtype, tol", FORMATS)
def test_formats_from_path_and_bytes(tmp_path, ext, fmt, subtype, tol):
    y0 = tone(1000, 1.0, SR, amp=0.5)
    data = _encode(fmt, subtype, y0, SR)
    path = tmp_path / f"tone.{ext}"
    path.write_bytes(data)
    for source in (path, str(path), data, bytearray(data), io.BytesIO(data)):
        y, sr = audio.load(source, sr=None)
        assert sr == SR and y.dtype == np.float32 and y.ndim == 1
        assert abs(y.size - y0.size) <= 2400  # lossy codecs may pad a little
        assert _dominant_hz(y, sr) == pytest.approx(1000, abs=3)
        assert np.max(np.abs(y)) == pytest.approx(0.5, abs=tol)
    if ext in ("wav", "flac"):
        np.testing.assert_allclose(audio.load(path, sr=None)[0], y0, atol=1e-4)


def test_stereo_to_mono_and_keeping_channels(tmp_path):
    left, right = tone(440, 0.5, SR, 0.4), tone(880, 0.5, SR, 0.2)
    path = write_audio(tmp_path / "st.wav", np.stack([left, right], axis=1), SR, subtype="FLOAT")
    y, _ = audio.load(path, sr=None)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-6)
    y2, _ = audio.load(path, sr=None, mono=False)
    assert y2.shape == (2, left.size)
    np.testing.assert_allclose(y2[0], left, atol=1e-6)


@pytest.mark.parametrize("target", [8000, 16000, 44100, 48000])
def test_resampling_keeps_duration_and_pitch(tmp_path, target):
    path = write_wav(tmp_path / "t.wav", tone(1000, 1.0, SR), SR)
    y, sr = audio.load(path, sr=target)
    assert sr == target and abs(y.size - target) <= 1
    assert _dominant_hz(y, sr) == pytest.approx(1000, abs=2)
    assert audio.probe_seconds(path) == pytest.approx(1.0)


def test_default_rate_is_44100(tmp_path):
    y, sr = audio.load(write_wav(tmp_path / "t.wav", tone(500, 0.5, SR), SR))
    assert sr == 44100 and abs(y.size - 22050) <= 1


def _write_nan(p: Path) -> Path:
    y = tone(440, 0.1, SR)
    y[100] = np.nan
    return write_audio(p, y, SR, subtype="FLOAT")


def _write_long(p: Path) -> Path:
    return write_wav(p, np.zeros(SR * 3, dtype=np.float32) + 0.1, SR)


@pytest.mark.parametrize(
    "make, kwargs, needle",
    [
        (lambda p: p.write_bytes(b"") or p, {}, "empty"),
        (lambda p: p, {}, "no such file"),
        (lambda p: p.mkdir() or p, {}, "is a directory"),
        (lambda p: p.write_bytes(b"RIFF\x00\x01\x02garbage" * 50) and p, {}, "cannot be decoded"),
        (lambda p: p.write_text("hello, I am a text file\n" * 20) and p, {}, "cannot be decoded"),
        (lambda p: write_wav(p, np.zeros(0, dtype=np.float32), SR), {}, "no audio samples"),
        (_write_nan, {}, "NaN"),
        (_write_long, {"max_seconds": 2}, "3.0 s long; the limit is 2 s"),
        (lambda p: write_wav(p, np.zeros(SR // 2, dtype=np.float32), SR), {"reject_silent": True}, "silent"),
    ],
    ids=["empty", "missing", "directory", "corrupt", "text", "zero-length", "nan", "too-long", "silent"],
)
def test_error_table(tmp_path, make, kwargs, needle):
    path = make(tmp_path / "clip.wav")
    with pytest.raises(AudioError, match=needle) as err:
        audio.load(path, **kwargs)
    message = str(err.value)
    assert "clip.wav" in message and "\n" not in message and "0x" not in message


def test_error_names_an_upload(tmp_path):
    with pytest.raises(AudioError, match=r"^my upload\.mp3: cannot be decoded"):
        audio.load(b"\x00\x01not audio" * 10, name="my upload.mp3")
    with pytest.raises(AudioError, match="empty"):
        audio.load(b"", name="x.wav")


def test_silence_is_accepted_unless_rejected(tmp_path):
    data = wav_bytes(np.zeros(1000, dtype=np.float32), SR)
    y, _ = audio.load(data, sr=None)
    assert audio.is_silent(y)
    assert not audio.is_silent(noise(0.1, SR))


def test_bad_parameters():
    data = wav_bytes(tone(), SR)
    with pytest.raises(ParameterError, match="sr"):
        audio.load(data, sr=10)
    with pytest.raises(ParameterError, match="max_seconds"):
        audio.load(data, max_seconds=0)


def test_wav_round_trip_and_atomic_save(tmp_path):
    y = tone(440, 0.2, SR, 0.5)
    data = audio.to_wav_bytes(y, SR)
    back, sr = audio.load(data, sr=None)
    assert sr == SR and np.max(np.abs(back - y)) < 1e-4
    out = audio.save_wav(tmp_path / "sub" / "o.wav", y, SR)
    assert out.is_file() and [p.name for p in out.parent.iterdir()] == ["o.wav"]
    assert audio.probe_seconds(out) == pytest.approx(0.2)
    assert audio.probe_seconds(b"not audio") is None
