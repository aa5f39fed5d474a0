"""Log-mel features against librosa, windows, and the feature cache."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from synth import chirp, noise, tone, write_wav

from soundkit import audio, features
from soundkit.config import FeatureConfig
from soundkit.errors import AudioError, ParameterError
from soundkit.features import FeatureCache, featurize_files, log_mel, mel_filterbank, windows


@pytest.mark.parametrize(
    "sr, n_fft, n_mels, fmin, fmax",
    [(44100, 1024, 128, 0.0, 22050.0), (22050, 2048, 64, 50.0, 8000.0), (16000, 512, 40, 125.0, None)],
)
def test_mel_filterbank_equals_librosa(sr, n_fft, n_mels, fmin, fmax):
    ours = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.shape == (n_mels, 1 + n_fft // 2)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("signal", ["tone", "chirp", "noise"])
def test_log_mel_equals_librosa(signal):
    sr = 22050
    y = {"tone": tone(1000, 1.0, sr), "chirp": chirp(100, 8000, 1.0, sr), "noise": noise(1.0, sr)}[signal]
    kw = dict(sr=sr, n_fft=1024, hop_length=512, n_mels=64)
    ours = log_mel(y, **kw, fmin=0.0, fmax=None, top_db=80.0)
    M = librosa.feature.melspectrogram(y=y, **kw, power=2.0, center=True, pad_mode="reflect")
    ref = librosa.power_to_db(M, ref=np.max, top_db=80.0)
    assert ours.shape == ref.shape == (64, 1 + y.size // 512)
    assert ours.dtype == np.float32
    assert ours.max() == pytest.approx(0.0, abs=1e-6) and ours.min() >= -80.0
    np.testing.assert_allclose(ours, ref, atol=0.02)


def test_log_mel_shapes_and_errors():
    y = tone(440, 0.5, 44100)
    S = log_mel(y, sr=44100, n_fft=1024, hop_length=1024, n_mels=128)
    assert S.shape == (128, 1 + y.size // 1024)
    short = log_mel(np.ones(100, dtype=np.float32) * 0.1, sr=44100)
    assert short.shape == (128, 1)
    with pytest.raises(ParameterError, match="mono"):
        log_mel(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(ParameterError, match="empty"):
        log_mel(np.zeros(0, dtype=np.float32))
    with pytest.raises(ParameterError, match="hop_length"):
        log_mel(y, hop_length=0)


def test_clip_log_mel_uses_config():
    cfg = FeatureConfig(sr=22050, n_fft=512, hop_length=256, n_mels=40, fmax=11025.0)
    y = tone(700, 0.5, 22050)
    np.testing.assert_array_equal(
        features.clip_log_mel(y, cfg), log_mel(y, sr=22050, n_fft=512, hop_length=256, n_mels=40, fmax=11025.0)
    )


# -- windows --------------------------------------------------------------------------------------


def test_windows_overlap_and_last_window():
    S = np.arange(10 * 300, dtype=np.float32).reshape(10, 300)
    W, starts = windows(S, frames=128, hop=64)
    assert list(starts) == [0, 64, 128, 172]  # plus one aligned to the end
    assert W.shape == (4, 10, 128)
    for w, s in zip(W, starts, strict=True):
        np.testing.assert_array_equal(w, S[:, s : s + 128])
    W2, starts2 = windows(S[:, :256], frames=128, hop=64)
    assert list(starts2) == [0, 64, 128]  # exact fit: no extra window


def test_windows_pad_short_spectrogram():
    S = -np.arange(8 * 50, dtype=np.float32).reshape(8, 50)
    W, starts = windows(S, frames=128, hop=64)
    assert W.shape == (1, 8, 128) and list(starts) == [0]
    np.testing.assert_array_equal(W[0, :, :50], S)
    assert np.all(W[0, :, 50:] == S.min())
    W3, _ = windows(S, frames=128, hop=64, floor=-80.0)
    assert np.all(W3[0, :, 50:] == -80.0)
    with pytest.raises(ParameterError):
        windows(S[0], frames=128, hop=64)
    with pytest.raises(ParameterError):
        windows(S, frames=0, hop=64)


def test_random_window_is_seeded():
    S = np.random.default_rng(0).standard_normal((8, 400)).astype(np.float32)
    a = features.random_window(S, frames=128, rng=np.random.default_rng(3))
    b = features.random_window(S, frames=128, rng=np.random.default_rng(3))
    assert a.shape == (8, 128)
    np.testing.assert_array_equal(a, b)


# -- cache and featurize_files ----------------------------------------------------------------------


@pytest.fixture
def wavs(tmp_path):
    return [write_wav(tmp_path / "in" / f"{k}.wav", tone(300 + 200 * k, 0.5, 22050), 22050) for k in range(4)]


CFG = FeatureConfig(sr=22050, n_fft=512, hop_length=256, n_mels=40, fmax=11025.0)


def test_featurize_files_caches(tmp_path, wavs, monkeypatch):
    cache = FeatureCache(tmp_path / "cache")
    calls = []
    real = features.clip_log_mel
    monkeypatch.setattr(features, "clip_log_mel", lambda y, c: calls.append(1) or real(y, c))
    events = []
    cold = featurize_files(wavs, CFG, cache=cache, workers=1, progress=lambda d, t: events.append((d, t)))
    assert len(calls) == 4 and events[-1] == (4, 4)
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(entries) == 4 and all(p.parent.parent.name == CFG.key for p in entries)
    warm = featurize_files(wavs, CFG, cache=cache, workers=1)
    assert len(calls) == 4  # nothing recomputed
    for a, b, p in zip(cold, warm, wavs, strict=True):
        np.testing.assert_array_equal(a, b)  # cold and warm runs hand out identical values
        direct = features.clip_log_mel(audio.load(p, sr=CFG.sr)[0], CFG)
        np.testing.assert_allclose(a, direct, atol=0.05)  # float16 storage: within 0.05 dB
    # another config is another key
    n = len(calls)
    featurize_files(wavs[:1], CFG.replace(n_mels=32), cache=cache, workers=1)
    assert len(calls) == n + 1


def test_damaged_cache_entry_is_recomputed(tmp_path, wavs):
    cache = FeatureCache(tmp_path / "cache")
    first = featurize_files(wavs, CFG, cache=cache, workers=1)
    entry = next((tmp_path / "cache").rglob("*.npy"))
    entry.write_bytes(b"\x93NUMPY garbage")
    again = featurize_files(wavs, CFG, cache=cache, workers=1)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.load(entry).shape == (40, 1 + 11025 // 256)  # rewritten


def test_featurize_files_pool_matches_serial(tmp_path, wavs):
    serial = featurize_files(wavs, CFG, workers=1)
    pooled = featurize_files(wavs, CFG, workers=2)
    for a, b in zip(serial, pooled, strict=True):
        np.testing.assert_array_equal(a, b)
    cached = featurize_files(wavs, CFG, cache=tmp_path / "c", workers=2)
    assert all(
        np.array_equal(a, b) for a, b in zip(cached, featurize_files(wavs, CFG, cache=tmp_path / "c"), strict=True)
    )


def test_featurize_files_bad_file(tmp_path, wavs):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope" * 100)
    with pytest.raises(AudioError, match="bad.wav"):
        featurize_files([*wavs[:1], bad], CFG, workers=1)


def test_content_hash():
    assert features.content_hash(b"abc") == features.content_hash(b"abc")
    assert features.content_hash(b"abc") != features.content_hash(b"abd")
    assert len(features.content_hash(b"")) == 40


@pytest.mark.data
def test_esc10_featurize_cached_is_fast(esc10_dir, tmp_path):
    from soundkit import datasets

    paths = [c.path for c in datasets.load(esc10_dir).select(limit_per_class=2).clips]
    cache = FeatureCache(tmp_path / "cache")
    cold = featurize_files(paths, FeatureConfig(), cache=cache, workers=1)
    assert all(S.shape[0] == 128 and 210 <= S.shape[1] <= 216 for S in cold)  # 5 s clips (a few ESC files are 4.96 s)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == len(paths)
    warm = featurize_files(paths, FeatureConfig(), cache=cache, workers=1)
    assert all(np.array_equal(a, b) for a, b in zip(cold, warm, strict=True))


def test_batch_featurizing_uses_one_blas_thread():
    import threadpoolctl

    with features._single_blas_thread():
        blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas)
