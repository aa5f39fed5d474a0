"""A tiny, hand-weighted run directory for serving tests (no training needed).

``make_run(run_dir)`` writes config.json, labels.json, model.keras and (optionally) model.tflite for a
real Keras model whose weights are set by hand: it averages each mel band over the window and scores
"low" by the energy in the lower half of the bands and "high" by the upper half. A low tone is thus
classified "low" and a high tone "high" - a prediction the tests can check without training.
Import with ``from tiny_run import make_run, FEATURES``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from soundkit.config import FeatureConfig, RunConfig, TrainConfig

#: Small, fast features: 32 bands, 32-frame windows (about 0.74 s) every 16 frames at 22.05 kHz.
FEATURES = FeatureConfig(sr=22050, n_fft=512, hop_length=512, n_mels=32, fmax=11025.0, frames=32, window_hop=16)
LABELS = ["high", "low"]


def build_band_model(features: FeatureConfig = FEATURES):
    """keras.Model (n_mels, frames, 1) -> softmax over LABELS, weights set by hand."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    n_mels, frames = features.n_mels, features.frames
    inp = keras.Input((n_mels, frames, 1))
    x = keras.layers.AveragePooling2D(pool_size=(1, frames))(inp)  # (n_mels, 1, 1): band means in dB
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(len(LABELS), activation="softmax", name="scores")(x)
    model = keras.Model(inp, out, name="band_model")
    w = np.zeros((n_mels, len(LABELS)), np.float32)
    half = n_mels // 2
    w[half:, LABELS.index("high")] = 0.05
    w[:half, LABELS.index("low")] = 0.05
    # dB values are in [-top_db, 0]: shift by top_db so silence scores 0 for both classes.
    b = np.full(len(LABELS), 0.05 * half * features.top_db, np.float32)
    model.get_layer("scores").set_weights([w, b])
    return model


def build_conv_model(features: FeatureConfig = FEATURES, n_classes: int = 3, seed: int = 0):
    """A small randomly initialised conv net (Normalization, Conv2D, BatchNorm, Dropout, Dense)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((features.n_mels, features.frames, 1))
    x = keras.layers.Normalization(axis=None, mean=-features.top_db / 2, variance=(features.top_db / 4) ** 2)(inp)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    out = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inp, out, name="conv_model")


def make_run(run_dir: str | os.PathLike, *, model=None, labels: list[str] | None = None,
             features: FeatureConfig = FEATURES, tflite: bool = True) -> Path:
    """Write a run directory around ``model`` (default: the band model)."""
    from soundkit.export import export_tflite

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model = model if model is not None else build_band_model(features)
    labels = labels if labels is not None else LABELS
    RunConfig(features=features, train=TrainConfig(model="cnn")).save(run_dir / "config.json")
    (run_dir / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    model.save(run_dir / "model.keras")
    if tflite:
        export_tflite(model, run_dir / "model.tflite")
    return run_dir
