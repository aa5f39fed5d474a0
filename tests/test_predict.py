"""Predictor: LiteRT and Keras backends on a hand-weighted run, timeline, top-k, errors, speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from synth import noise, tone, write_wav
from tiny_run import FEATURES, LABELS, make_run

from soundkit.errors import AudioError, ModelError, ParameterError
from soundkit.predict import Prediction, Predictor, predict_files

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
SR = FEATURES.sr


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "band")


@pytest.fixture(scope="module")
def predictor(run_dir) -> Predictor:
    return Predictor.load(run_dir)


def test_load_prefers_litert(predictor, run_dir):
    assert predictor.backend == "litert"
    assert predictor.labels == LABELS
    assert predictor.features == FEATURES
    assert predictor.family == "cnn" and predictor.kind == "logmel"
    assert Predictor.load(run_dir, backend="keras").backend == "keras"


@pytest.mark.parametrize("freq, label", [(250.0, "low"), (6000.0, "high")])
def test_tone_classified_by_band(predictor, freq, label):
    pred = predictor.predict(tone(freq, 2.0, SR), SR)
    assert isinstance(pred, Prediction)
    assert pred.label == label
    assert pred.top[0][1] > 0.9
    assert pred.probabilities.shape == (len(LABELS),)
    assert pred.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_timeline_of_long_clip_follows_the_sound(predictor):
    """6 s low tone then 6 s high tone: windows in the first half say "low", in the second "high"."""
    y = np.concatenate([tone(250, 6.0, SR), tone(6000, 6.0, SR)])
    pred = predictor.predict(y, SR)
    n_frames = 1 + len(y) // FEATURES.hop_length
    n_windows = len(pred.timeline)
    assert n_windows == pred.window_probabilities.shape[0] > 10
    assert pred.window_probabilities.shape == (n_windows, len(LABELS))
    starts = np.array([s.start for s in pred.timeline])
    ends = np.array([s.end for s in pred.timeline])
    assert starts[0] == 0.0 and np.all(np.diff(starts) > 0)
    assert ends[-1] == pytest.approx(len(y) / SR, abs=FEATURES.hop_length / SR)
    assert np.all(ends - starts <= FEATURES.window_seconds + 1e-9)
    hop_s = FEATURES.window_hop * FEATURES.hop_length / SR
    assert starts[1] - starts[0] == pytest.approx(hop_s)
    assert n_windows == len(range(0, n_frames - FEATURES.frames + 1, FEATURES.window_hop)) + 1
    for seg in pred.timeline:
        if seg.end <= 5.9:
            assert seg.label == "low", seg
        elif seg.start >= 6.1:
            assert seg.label == "high", seg
        assert 0.5 <= seg.probability <= 1.0
    # the clip's probabilities pool the windows: both sounds are present in equal measure
    assert 0.3 < pred.probabilities[LABELS.index("low")] < 0.7


def test_top_k_sorted_and_capped(tmp_path):
    import keras
    from tiny_run import build_conv_model

    labels = [f"c{i}" for i in range(6)]
    run = make_run(tmp_path / "six", model=build_conv_model(n_classes=6, seed=3), labels=labels)
    p = Predictor.load(run)
    pred = p.predict(noise(3.0, SR, seed=1), SR, top_k=4)
    probs = [q for _, q in pred.top]
    assert len(pred.top) == 4
    assert probs == sorted(probs, reverse=True)
    assert [lab for lab, _ in pred.top] == [labels[k] for k in np.argsort(-pred.probabilities)[:4]]
    assert len(p.predict(noise(1.0, SR), SR, top_k=50).top) == 6
    keras.backend.clear_session()


def test_litert_and_keras_agree(run_dir, predictor):
    k = Predictor.load(run_dir, backend="keras")
    y = np.concatenate([tone(300, 2.0, SR), noise(2.0, SR, seed=4)])
    a, b = predictor.predict(y, SR), k.predict(y, SR)
    np.testing.assert_allclose(a.window_probabilities, b.window_probabilities, atol=1e-5)
    assert a.label == b.label


def test_long_clip_in_chunks_matches_window_by_window(run_dir, predictor):
    """More windows than MAX_BATCH go through in padded chunks and give the same numbers."""
    from soundkit.predict import MAX_BATCH, LiteRTModel

    y = np.concatenate([tone(250, 30.0, SR), noise(30.0, SR, seed=2)])
    X, _, _ = predictor.inputs(y, SR)
    assert len(X) > MAX_BATCH + 1 and len(X) % MAX_BATCH
    P = predictor._model(X)
    single = LiteRTModel(run_dir / "model.tflite")
    expected = np.concatenate([single(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(P, expected, atol=1e-6)
    k = Predictor.load(run_dir, backend="keras")
    np.testing.assert_allclose(k._model(X), expected, atol=1e-5)


def test_resamples_other_rates(predictor):
    y44 = tone(6000, 1.5, 44100)
    assert predictor.predict(y44, 44100).label == "high"


def test_silent_clip_is_an_audio_error(predictor):
    with pytest.raises(AudioError, match="silent"):
        predictor.predict(np.zeros(SR, np.float32), SR)
    pred = predictor.predict(np.zeros(SR, np.float32), SR, allow_silent=True)
    assert pred.probabilities.shape == (2,)


@pytest.mark.parametrize("y, sr, err", [
    (np.zeros(0, np.float32), SR, AudioError),
    (np.array([0.1, np.nan] * 1000, np.float32), SR, AudioError),
    (np.ones((3, 3, 3), np.float32), SR, AudioError),
    (tone(440, 1.0, SR), 0, ParameterError),
])
def test_bad_audio(predictor, y, sr, err):
    with pytest.raises(err):
        predictor.predict(y, sr)


def test_bad_top_k(predictor):
    with pytest.raises(ParameterError, match="top_k"):
        predictor.predict(tone(440, 1.0, SR), SR, top_k=0)


def test_load_errors(tmp_path, run_dir):
    with pytest.raises(ModelError, match="no such run directory"):
        Predictor.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a run directory"):
        Predictor.load(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "labels.json", "model.keras"):
        (broken / name).write_bytes((run_dir / name).read_bytes())
    (broken / "model.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelError, match="LiteRT"):
        Predictor.load(broken)
    (broken / "model.tflite").unlink()
    (broken / "labels.json").write_text(json.dumps(["a", "b", "c"]))
    with pytest.raises(ModelError, match="3 labels"):
        Predictor.load(broken)


def test_predict_files_and_to_dict(tmp_path, predictor):
    a = write_wav(tmp_path / "a.wav", tone(250, 1.0, 16000), 16000)
    b = write_wav(tmp_path / "b.wav", tone(7000, 1.0, 16000), 16000)
    out = predict_files(predictor, [a, b], top_k=1)
    assert [(p.name, pr.label) for p, pr in out] == [("a.wav", "low"), ("b.wav", "high")]
    d = out[0][1].to_dict()
    json.dumps(d)
    assert set(d) == {"label", "top", "probabilities", "timeline"}
    assert d["top"][0]["label"] == "low" and len(d["top"]) == 1
    with pytest.raises(AudioError, match="no such file"):
        predict_files(predictor, [a, tmp_path / "nope.wav"])


def test_litert_path_never_imports_tensorflow(run_dir):
    code = textwrap.dedent(f"""
        import sys, numpy as np
        from soundkit.predict import Predictor
        p = Predictor.load({str(run_dir)!r})
        t = np.arange(22050) / 22050
        pred = p.predict((0.5 * np.sin(2 * np.pi * 6000 * t)).astype("float32"), 22050)
        assert p.backend == "litert", p.backend
        assert pred.label == "high", pred.top
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "librosa"))
        print("LOADED", bad)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert "LOADED []" in res.stdout
