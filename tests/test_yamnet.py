"""YAMNet through LiteRT on the shared ../shared/weights/yamnet.tflite (skipped when it is absent)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from synth import noise, tone, write_wav

from soundkit import weights
from soundkit.errors import ModelError, ParameterError
from soundkit.models import yamnet
from soundkit.models.yamnet import model as yamnet_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Checksum records and downloads go to tmp; no SOUNDKIT_WEIGHTS_DIR unless a test sets it."""
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_CACHE", str(tmp_path / "weights-cache"))
    monkeypatch.delenv("SOUNDKIT_WEIGHTS_DIR", raising=False)


@pytest.fixture
def weights_dir(yamnet_path, monkeypatch) -> Path:
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(yamnet_path.parent))
    return yamnet_path.parent


# -- framing (no model) ----------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "expected"), [(1, 1), (15600, 1), (15601, 2), (15600 + 7680, 2), (80000, 10)])
def test_frame_count_covers_every_sample(n, expected):
    y = np.arange(n, dtype=np.float32)
    frames, starts = yamnet.frame(y)
    assert frames.shape == (expected, yamnet.FRAME_SAMPLES)
    np.testing.assert_allclose(starts, np.arange(expected) * 0.48)
    assert frames[-1].max() == n - 1  # the last sample is inside the last frame
    if expected > 1:
        assert frames[1][0] == 7680  # hop of 0.48 s
    start = (expected - 1) * 7680
    np.testing.assert_array_equal(frames[-1][: n - start], y[start:])
    assert not frames[-1][n - start :].any()  # zero padding after the clip


def test_frame_rejects_bad_input():
    with pytest.raises(ValueError, match="mono"):
        yamnet.frame(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        yamnet.frame(np.zeros(0, dtype=np.float32))


# -- the model ------------------------------------------------------------------------------------

def test_embedder_exposes_the_pooled_tensor(yamnet_path):
    e = yamnet.Embedder(yamnet_path)
    assert e.embedding_source in ("output", "patched")
    sr = 16000
    y = tone(440, 2.0, sr)
    scores, emb, starts = e.run(y, sr)
    assert scores.shape == (4, 521) and emb.shape == (4, 1024) and starts.shape == (4,)
    assert np.all((scores >= 0) & (scores <= 1)) and np.all(emb >= 0)  # sigmoid scores, ReLU'd embedding
    if e.embedding_source == "patched":
        # the exposed output is the tensor named ...global_average_pooling2d/Mean of the original model
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(yamnet_path), experimental_preserve_all_tensors=True)
        it.allocate_tensors()
        idx = [t["index"] for t in it.get_tensor_details() if t["name"].endswith("global_average_pooling2d/Mean")][0]
        frames, _ = yamnet.frame(y)
        it.set_tensor(it.get_input_details()[0]["index"], frames[1][None])
        it.invoke()
        np.testing.assert_allclose(emb[1], it.get_tensor(idx)[0], rtol=1e-5, atol=1e-5)


def test_resampling_and_clip_length(weights_dir):
    y44 = tone(1000, 5.0, 44100)
    emb, starts = yamnet.embed(y44, 44100)
    assert emb.shape == (10, 1024)
    emb16, _ = yamnet.embed(tone(1000, 5.0, 16000), 16000)
    assert np.corrcoef(emb[3], emb16[3])[0, 1] > 0.95  # the same sound at another rate


def test_zero_shot_names_synthetic_sounds(weights_dir):
    beep = yamnet.zero_shot(tone(1000, 3.0, 16000), 16000, top_k=5)
    assert len(beep) == 5 and beep[0][1] >= beep[-1][1]
    assert {"Beep, bleep", "Sine wave"} & {name for name, _ in beep}
    hiss = yamnet.zero_shot(noise(3.0, 16000, amp=0.3), 16000, top_k=3)
    assert {"White noise", "Noise", "Static", "Pink noise"} & {name for name, _ in hiss}


def test_sound_weights_follow_frame_loudness():
    sr = 16000
    y = np.concatenate([tone(1000, 1.0, sr, 0.5), noise(8.0, sr, amp=0.002, seed=1)])
    w = yamnet.sound_weights(y, sr)
    assert len(w) == len(yamnet.frame(y)[0]) and w.max() == 1.0
    assert w[0] == 1.0 and np.all(w[4:] == 0.0)  # the noise floor is ~48 dB down: no weight
    assert np.all(yamnet.sound_weights(np.zeros(sr), sr) == 1.0)  # digital silence: all alike
    quiet = np.concatenate([tone(1000, 1.0, sr, 0.5), tone(1000, 3.0, sr, 0.5 * 10 ** (-15 / 20))])
    assert yamnet.sound_weights(quiet, sr)[3] == pytest.approx(0.5, abs=0.01)  # a frame 15 dB down: half
    with pytest.raises(ParameterError, match="floor_db"):
        yamnet.sound_weights(y, sr, floor_db=0)


def test_zero_shot_listens_to_the_sound_not_the_silence_after_it(weights_dir):
    # a 1 s beep, then 8 s of a faint noise floor (about -54 dBFS): the tail outnumbers the beep 4:1
    sr = 16000
    y = np.concatenate([tone(1000, 1.0, sr, 0.5), noise(8.0, sr, amp=0.002, seed=1)])
    uniform = yamnet.zero_shot(y, sr, top_k=3, weighting="uniform")
    weighted = yamnet.zero_shot(y, sr, top_k=3)
    beeps = {"Beep, bleep", "Sine wave"}
    assert uniform[0][0] not in beeps  # every frame alike: the noise floor wins
    assert weighted[0][0] in beeps
    score = dict(weighted)[weighted[0][0]]
    assert score > 2 * dict(yamnet.zero_shot(y, sr, top_k=521, weighting="uniform"))[weighted[0][0]]
    with pytest.raises(ParameterError, match="weighting"):
        yamnet.zero_shot(y, sr, weighting="loud")


def test_zero_shot_on_a_real_dog_bark(weights_dir, esc10_dir):
    from soundkit import audio

    clip = sorted((esc10_dir / "001 - Dog bark").glob("*.ogg"))[0]
    y, sr = audio.load(clip, sr=16000)
    names = [n for n, _ in yamnet.zero_shot(y, sr, top_k=5)]
    assert "Dog" in names or "Animal" in names
    assert names[0] != "Silence"  # padding is left out of the clip score


def test_predictor_interface(weights_dir, tmp_path):
    from soundkit.predict import Prediction

    p = yamnet.YamnetPredictor.load()
    assert len(p.labels) == 521 and p.labels[0] == "Speech" and p.backend == "litert"
    y = np.concatenate([tone(1000, 2.0, 16000), np.zeros(32000, np.float32)])
    pred = p.predict(y, 16000, top_k=3)
    assert isinstance(pred, Prediction)
    assert len(pred.top) == 3 and pred.probabilities.shape == (521,)
    assert pred.window_probabilities.shape == (len(pred.timeline), 521) == (8, 521)
    assert pred.timeline[-1].label == "Silence" and pred.top[0][0] != "Silence"
    assert pred.to_dict()["label"] == pred.top[0][0]
    wav = write_wav(tmp_path / "beep.wav", y, 16000)
    assert p.predict_file(wav, top_k=3).top[0][0] == pred.top[0][0]


def test_sounding_frames_leave_out_digital_silence(weights_dir):
    e = yamnet.load_embedder()
    y = np.concatenate([np.zeros(16000 * 2, np.float32), tone(600, 2.0, 16000, amp=0.3)])
    _, emb, starts = e.run(y, 16000)
    keep = yamnet.sounding_frames(emb, e.silence)
    assert not keep[0] and keep[-1] and 0 < keep.sum() < len(keep)
    X, t = yamnet.clip_inputs(y, 16000, None, None)
    np.testing.assert_array_equal(t, starts[keep])
    assert X.shape == (int(keep.sum()), 1024)
    silent = yamnet.sounding_frames(emb[~keep], e.silence)  # all silent: keep everything
    assert silent.all()


def test_embed_files_caches_by_content(weights_dir, tmp_path):
    a = write_wav(tmp_path / "a.wav", tone(500, 1.5, 22050), 22050)
    b = tmp_path / "copy-of-a.wav"
    shutil.copy(a, b)
    c = write_wav(tmp_path / "c.wav", noise(1.0, 22050), 22050)
    cache = tmp_path / "emb"
    seen = []
    first = yamnet.embed_files([a, b, c], cache=cache, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3)
    assert [e.shape for e in first] == [(3, 1024), (3, 1024), (2, 1024)]
    entries = sorted(cache.rglob("*.npy"))
    assert len(entries) == 2  # a and its copy share one entry
    again = yamnet.embed_files([a, c], cache=cache)
    np.testing.assert_allclose(again[0], first[0], rtol=2e-3, atol=2e-3)  # float16 on disk
    # the cache key holds the model checksum: another model never reads these entries
    assert entries[0].relative_to(cache).parts[0] == yamnet.load_embedder().key


def test_training_inputs_use_the_cache_root(weights_dir, tmp_path):
    a = write_wav(tmp_path / "a.wav", np.concatenate([tone(500, 1.0, 16000), np.zeros(48000, np.float32)]), 16000)
    (X,) = yamnet.training_inputs([a], None, cache_dir=tmp_path / "cache")
    assert X.shape[1] == 1024 and 1 <= len(X) < 8  # silent frames left out
    assert list((tmp_path / "cache" / "embeddings").rglob("*.npy"))


def test_class_names(yamnet_class_map):
    names = yamnet.class_names(yamnet_class_map)
    assert len(names) == 521 and names[0] == "Speech" and "Dog" in names


# -- locating, downloading and verifying the file --------------------------------------------------

def test_missing_model_is_a_clear_error():
    with pytest.raises(ModelError, match=r"yamnet\.tflite.*SOUNDKIT_WEIGHTS_DIR"):
        yamnet.model_path(allow_download=False)


def test_corrupt_model_files_are_rejected(tmp_path, yamnet_path, monkeypatch):
    wdir = tmp_path / "w"
    wdir.mkdir()
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(wdir))
    bad = wdir / "yamnet.tflite"
    bad.write_bytes(os.urandom(2_000_000))  # plausible size, not a model
    with pytest.raises(ModelError, match="corrupt or not"):
        yamnet.model_path()
    bad.write_bytes(yamnet_path.read_bytes()[:2_500_000])  # truncated
    weights.forget(bad)
    with pytest.raises(ModelError, match="corrupt"):
        yamnet.load_embedder()
    bad.write_bytes(b"tiny")
    weights.forget(bad)
    with pytest.raises(ModelError, match="bytes"):
        yamnet.model_path()


def test_download_from_kaggle_style_archive_is_verified_and_cached(tmp_path, yamnet_path):
    # the Kaggle tfLite/tflite/1 download is a tar.gz holding 1.tflite
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(yamnet_path, arcname="1.tflite")
    archive = tmp_path / "yamnet.tar.gz"
    archive.write_bytes(buf.getvalue())
    path = weights.fetch(weights.YAMNET_TFLITE, urls=[archive.as_uri()], validate=yamnet_model._validate)
    assert path == weights.cache_dir() / "yamnet.tflite"
    assert weights.sha256_file(path) == weights.sha256_file(yamnet_path)
    assert yamnet.model_path() == path  # found in the cache from now on, verified against the record


def test_serving_path_never_imports_tensorflow(yamnet_path):
    code = (
        "import sys, numpy as np\n"
        "from soundkit.models import yamnet\n"
        "t = np.arange(32000) / 16000\n"
        "y = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)\n"
        "X, starts = yamnet.clip_inputs(y, 16000, None, None)\n"
        "top = yamnet.zero_shot(y, 16000, top_k=2)\n"
        "assert X.shape[1] == 1024 and len(top) == 2\n"
        "bad = [m for m in ('tensorflow', 'keras', 'librosa') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = dict(os.environ, SOUNDKIT_WEIGHTS_DIR=str(yamnet_path.parent), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# -- the trainable head -------------------------------------------------------------------------

def test_head_builds_for_embeddings_only():
    from soundkit.config import TrainConfig

    model = yamnet.build((1024,), 4, TrainConfig(model="yamnet"))
    assert model.output_shape == (None, 4) and model.input_shape == (None, 1024)
    with pytest.raises(ModelError, match="1024"):
        yamnet.build((128, 128, 1), 4, TrainConfig(model="yamnet"))


def test_ensemble_head_averages_differently_initialised_heads():
    from soundkit.config import TrainConfig

    config = TrainConfig(model="yamnet", options={"heads": 3, "hidden": 16, "input_dropout": 0.1})
    model = yamnet.build((1024,), 4, config)
    hidden = [layer for layer in model.layers if layer.name.startswith("hidden")]
    assert len(hidden) == 3 and model.output_shape == (None, 4)
    k0, k1 = (h.get_weights()[0] for h in hidden[:2])
    assert not np.allclose(k0, k1)  # different initialisations, or the ensemble is one head thrice
    X = np.random.default_rng(0).normal(size=(5, 1024)).astype(np.float32)
    P = model.predict(X, verbose=0)
    heads = [model.get_layer(f"probabilities_{k}").output for k in range(3)]
    import keras

    each = keras.Model(model.input, heads).predict(X, verbose=0)
    np.testing.assert_allclose(P, np.mean(each, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ParameterError, match="heads"):
        yamnet.build((1024,), 4, TrainConfig(model="yamnet", options={"heads": 0}))


def test_head_l2_family_default_and_overrides():
    from soundkit.config import TrainConfig

    def l2_of(config):
        mlp = config.replace(options={"classifier": "mlp", **config.options})  # l2 is the MLP's
        reg = yamnet.build((1024,), 3, mlp).get_layer("hidden").kernel_regularizer
        return None if reg is None else float(reg.get_config()["l2"])

    assert l2_of(TrainConfig(model="yamnet")) == pytest.approx(yamnet.HEAD_DEFAULTS["l2"])
    assert l2_of(TrainConfig(model="yamnet", l2=1e-3)) == pytest.approx(1e-3)  # an explicit l2 wins
    assert l2_of(TrainConfig(model="yamnet", options={"l2": 0})) is None


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_fit_learns_separable_embeddings(smoothing):
    """A couple of epochs on two well-separated frame clouds: both losses train the head."""
    from soundkit.config import TrainConfig

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(2, 1024)).astype(np.float32)
    y = np.repeat([0, 1], 64)
    X = centres[y] + 0.3 * rng.normal(size=(128, 1024)).astype(np.float32)
    w = np.ones(128, dtype=np.float32)
    config = TrainConfig(model="yamnet", epochs=3, options={"heads": 2, "hidden": 16, "label_smoothing": smoothing})
    model = yamnet.build((1024,), 2, config)
    hist = yamnet.fit(model, [(X, y, w)], (X[:16], y[:16]), config, [])
    assert len(hist.history["loss"]) == 3 and "val_loss" in hist.history
    assert (model.predict(X, verbose=0).argmax(axis=1) == y).mean() > 0.9


def test_default_classifier_is_logistic_unless_mlp_options_are_given():
    from soundkit.config import TrainConfig

    assert yamnet.classifier(TrainConfig(model="yamnet")) == "logistic"
    assert yamnet.build((1024,), 3, TrainConfig(model="yamnet")).name == "yamnet_logistic"
    assert yamnet.classifier(TrainConfig(model="yamnet", options={"hidden": 64})) == "mlp"
    assert yamnet.classifier(TrainConfig(model="yamnet", options={"heads": 2, "classifier": "logistic"})) == "logistic"
    assert yamnet.build((1024,), 3, TrainConfig(model="yamnet", options={"classifier": "mlp"})).get_layer("hidden")


@pytest.mark.parametrize("n_classes", [2, 4])
def test_logistic_head_is_sklearns_logistic_regression_in_keras(n_classes):
    """classifier=logistic: the Keras model's probabilities are scikit-learn's on the L2-normalised frames;
    a class without frames is never predicted; validation frames join when a test fold exists."""
    from sklearn.linear_model import LogisticRegression

    from soundkit.config import TrainConfig

    rng = np.random.default_rng(2)
    centres = rng.normal(size=(n_classes, 1024)).astype(np.float32)
    y = np.repeat(np.arange(n_classes), 40)
    X = (centres[y] + 0.8 * rng.normal(size=(len(y), 1024))).astype(np.float32)
    keep = y != n_classes - 1 if n_classes > 2 else np.ones(len(y), bool)  # the last class has no frames
    config = TrainConfig(model="yamnet", class_weights=False, options={"classifier": "logistic", "C": 0.5})
    model = yamnet.build((1024,), n_classes, config)
    assert [layer.name for layer in model.layers][-2:] == ["l2_normalize", "probabilities"]
    hist = yamnet.fit(model, [(X[keep], y[keep], np.ones(int(keep.sum()), np.float32))], (X[:8], y[:8]), config, [])
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(hist.history["loss"]) == 1
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    ref = LogisticRegression(C=0.5, max_iter=2000, tol=1e-5).fit(Xn[keep], y[keep])
    P = model.predict(X, verbose=0)
    np.testing.assert_allclose(P[:, ref.classes_], ref.predict_proba(Xn), atol=1e-4)
    if n_classes > 2:
        assert P[:, -1].max() < 1e-6  # no frames: never predicted
    # with a held-out test fold the validation frames are training frames too
    Xv, yv = X[~keep][:20] if n_classes > 2 else X[:8], y[~keep][:20] if n_classes > 2 else y[:8]
    merged = yamnet.build((1024,), n_classes, config.replace(test_fold=1))
    hist = yamnet.fit(merged, [(X[keep], y[keep], np.ones(int(keep.sum()), np.float32))], (Xv, yv), config.replace(test_fold=1), [])
    assert "val_loss" not in hist.history
    if n_classes > 2:
        assert merged.predict(Xv, verbose=0).argmax(axis=1).tolist() == yv.tolist()  # it learnt them
    with pytest.raises(ParameterError, match="options.classifier"):
        yamnet.build((1024,), 2, TrainConfig(model="yamnet", options={"classifier": "svm"}))
    with pytest.raises(ParameterError, match="options.C"):
        yamnet.fit(model, [(X, y, np.ones(len(y), np.float32))], None,
                   TrainConfig(model="yamnet", options={"classifier": "logistic", "C": 0}), [])


@pytest.mark.slow
def test_train_and_serve_a_yamnet_run(weights_dir, class_folders, tmp_path):
    from soundkit import datasets, training
    from soundkit.config import TrainConfig
    from soundkit.predict import Predictor

    ds = datasets.load(class_folders)
    config = TrainConfig(model="yamnet", epochs=3, batch_size=8, validation_fraction=0.25, patience=3)
    run = training.train(ds, out=tmp_path / "run", config=config, cache_dir=tmp_path / "cache")
    report = run.report if hasattr(run, "report") else None
    assert (tmp_path / "run" / "model.keras").is_file()
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["transfer"] is True and meta["pretrained"].startswith("yamnet sha256:")
    assert list((tmp_path / "cache" / "embeddings").rglob("*.npy"))
    predictor = Predictor.load(tmp_path / "run")
    pred = predictor.predict(tone(3000, 1.0, 22050), 22050, top_k=3)
    assert set(pred.labels) == {"high", "low", "noise"}
    assert pred.window_probabilities.shape[1] == 3 and len(pred.timeline) >= 1
    assert report is None or 0.0 <= report.accuracy <= 1.0


def test_model_file_is_verified_once_per_unchanged_file(yamnet_path, tmp_path, monkeypatch):
    """Serving must not re-run the checksum and test inference on every prediction, but a file that
    changes on disk is verified again."""
    wdir = tmp_path / "w"
    wdir.mkdir()
    local = wdir / "yamnet.tflite"
    shutil.copy(yamnet_path, local)
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(wdir))
    calls = []
    real_fetch = weights.fetch

    def counting_fetch(*args, **kwargs):
        calls.append(1)
        return real_fetch(*args, **kwargs)

    monkeypatch.setattr(weights, "fetch", counting_fetch)
    monkeypatch.setattr(yamnet_model, "_VERIFIED", {})
    first = yamnet.model_path()
    assert yamnet.model_path() == first and len(calls) == 1
    os.utime(local, ns=(local.stat().st_atime_ns, local.stat().st_mtime_ns + 10**9))
    assert yamnet.model_path() == first and len(calls) == 2
    local.write_bytes(b"not a model")
    with pytest.raises(ModelError):
        yamnet.model_path(allow_download=False)
