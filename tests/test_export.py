"""LiteRT export: the .tflite file gives what the .keras model gives."""

from __future__ import annotations

import os

import numpy as np
import pytest
from tiny_run import FEATURES, build_conv_model, make_run

from soundkit.errors import ModelError, ParameterError
from soundkit.export import export_run, export_tflite, verify
from soundkit.predict import LiteRTModel

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory):
    model = build_conv_model(n_classes=4, seed=7)
    run = make_run(tmp_path_factory.mktemp("export") / "conv", model=model, labels=list("abcd"))
    return run, model


def _inputs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-FEATURES.top_db, 0, (n, FEATURES.n_mels, FEATURES.frames, 1)).astype(np.float32)
    X[: n // 2, : FEATURES.n_mels // 2] += 30  # louder low bands in half of them
    return np.minimum(X, 0)


def test_tflite_matches_keras_top1_and_probabilities(conv_run):
    run, model = conv_run
    X = _inputs(24)
    p_keras = model.predict(X, verbose=0)
    p_lite = LiteRTModel(run / "model.tflite")(X)
    assert p_lite.shape == p_keras.shape == (24, 4)
    np.testing.assert_array_equal(p_lite.argmax(1), p_keras.argmax(1))
    np.testing.assert_allclose(p_lite, p_keras, atol=1e-4)
    # the batch dimension is dynamic: one window at a time gives the same numbers
    one = np.concatenate([LiteRTModel(run / "model.tflite")(X[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(one, p_lite[:3], atol=1e-5)


def test_verify(conv_run):
    run, _ = conv_run
    v = verify(run, _inputs(16, seed=1))
    assert v.ok and v.n == 16 and v.top1_agreement == 1.0
    assert v.max_abs_diff < 1e-4


def test_verify_detects_a_different_model(conv_run, tmp_path):
    """Pair the conv model's .keras with another model's .tflite: verify must notice."""
    run, _ = conv_run
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.keras").write_bytes((run / "model.keras").read_bytes())
    export_tflite(build_conv_model(n_classes=4, seed=99), other / "model.tflite")
    v = verify(other, _inputs(32, seed=2))
    assert v.max_abs_diff > 1e-3


def test_export_is_atomic_and_replaces(tmp_path, conv_run):
    _, model = conv_run
    target = tmp_path / "m.tflite"
    target.write_bytes(b"old")
    export_tflite(model, target)
    assert target.stat().st_size > 1000
    assert target.read_bytes()[4:8] == b"TFL3"  # the FlatBuffer identifier of a TFLite model
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]  # no temporary files left


def test_export_errors(tmp_path, conv_run):
    _, model = conv_run
    with pytest.raises(ParameterError, match=".tflite"):
        export_tflite(model, tmp_path / "m.bin")

    class NotAModel:
        name = "broken"

        def export(self, *a, **k):
            raise RuntimeError("conversion failed\nmore detail")

    target = tmp_path / "x.tflite"
    with pytest.raises(ModelError, match="broken.*conversion failed"):
        export_tflite(NotAModel(), target)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ModelError, match="no such file"):
        verify(tmp_path, _inputs(2))


@pytest.mark.slow
def test_export_run_from_the_command_line(conv_run, tmp_path):
    """`python -m soundkit.export RUN_DIR` converts model.keras into the same model the in-process
    export gives; errors are one line with exit status 2."""
    import subprocess
    import sys

    from soundkit.jobs import child_env

    run, _ = conv_run
    other = tmp_path / "run"
    other.mkdir()
    (other / "model.keras").write_bytes((run / "model.keras").read_bytes())
    cmd = [sys.executable, "-m", "soundkit.export"]
    done = subprocess.run([*cmd, str(other)], capture_output=True, text=True, env=child_env(), timeout=600)
    assert done.returncode == 0, done.stderr
    path = other / "model.tflite"
    assert done.stdout.strip() == str(path) and path.read_bytes()[4:8] == b"TFL3"
    X = _inputs(12, seed=3)
    np.testing.assert_allclose(LiteRTModel(path)(X), LiteRTModel(run / "model.tflite")(X), atol=1e-5)
    assert sorted(p.name for p in other.iterdir()) == ["model.keras", "model.tflite"]

    (other / "model.keras").write_bytes(b"not a zip file")
    bad = subprocess.run([*cmd, str(other)], capture_output=True, text=True, env=child_env(), timeout=600)
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert lines[-1].startswith("error: ") and "cannot be loaded as a Keras model" in lines[-1]
    assert path.read_bytes()[4:8] == b"TFL3"  # the earlier export is left as it was


def test_export_run_needs_a_model(tmp_path):
    with pytest.raises(ModelError, match="no model.keras to export"):
        export_run(tmp_path)
