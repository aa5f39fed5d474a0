"""Inception V3 transfer family: weights handling without the network, the model, the recipe.

The loading code is proven on a weights file the test saves itself (from a weights=None base), so
no ImageNet download is needed; the ImageNet path is exercised up to its clear offline error.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from soundkit import weights
from soundkit.config import TrainConfig
from soundkit.errors import ModelError
from soundkit.models import inception

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """Keras' cache in tmp, no SOUNDKIT_WEIGHTS_DIR, and an ImageNet URL that refuses at once."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_CACHE", str(tmp_path / "weights-cache"))
    monkeypatch.delenv("SOUNDKIT_WEIGHTS_DIR", raising=False)
    spec = weights.INCEPTION_V3_NOTOP
    monkeypatch.setattr(
        weights, "INCEPTION_V3_NOTOP", weights.WeightsSpec(**{**spec.__dict__, "urls": ("http://127.0.0.1:9/" + spec.filename,)})
    )


@pytest.fixture(scope="module")
def saved_weights(tmp_path_factory):
    """A .weights.h5 file of an Inception V3 base (no top) with random weights, and those weights."""
    import keras

    keras.utils.set_random_seed(1)
    base = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(75, 75, 3), pooling="avg")
    path = tmp_path_factory.mktemp("iv3") / "inception_base.weights.h5"
    base.save_weights(path)
    return path, base.get_weights()


def cfg(**options) -> TrainConfig:
    return TrainConfig(model="inception", epochs=2, batch_size=4, options=options)


def test_imagenet_weights_unavailable_offline_is_a_clear_error():
    with pytest.raises(ModelError) as err:
        inception.build((128, 128, 1), 3, cfg())
    message = str(err.value)
    assert "Inception V3 ImageNet weights are not available" in message
    assert "SOUNDKIT_WEIGHTS_DIR" in message and "not transfer" in message and "\n" not in message


def test_corrupt_weights_in_weights_dir(tmp_path, monkeypatch):
    wdir = tmp_path / "w"
    wdir.mkdir()
    (wdir / weights.INCEPTION_V3_NOTOP.filename).write_bytes(b"\x89HDF\r\n" + os.urandom(1000))
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(wdir))
    with pytest.raises(ModelError, match="corrupt"):
        inception.resolve_weights("imagenet")


def test_weights_file_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        inception.resolve_weights(tmp_path / "missing.weights.h5")
    other = tmp_path / "notes.txt"
    other.write_text("x")
    with pytest.raises(ModelError, match=r"\.h5"):
        inception.resolve_weights(other)


@pytest.mark.slow
def test_weights_file_of_another_network_is_rejected(tmp_path):
    import keras

    tiny = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "tiny.weights.h5"
    tiny.save_weights(path)
    with pytest.raises(ModelError, match="not usable as Inception V3 weights"):
        inception.build((75, 75, 1), 3, cfg(weights=str(path)))


def test_build_loads_a_saved_weights_file(saved_weights):
    path, expected = saved_weights
    model = inception.build((64, 96, 1), 3, cfg(weights=str(path)))
    assert model.name == "inception_v3_transfer"
    assert model.input_shape == (None, 64, 96, 1) and model.output_shape == (None, 3)
    base = model.get_layer("inception_v3")
    assert base.input_shape == (None, 75, 96, 3)  # resized up to Inception's minimum side
    got = base.get_weights()
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not base.trainable and not base.trainable_weights
    assert len(model.trainable_weights) == 2  # only the new head's kernel and bias
    assert inception.run_info(cfg(weights=str(path))) == {"pretrained": path.name, "transfer": True}


def test_random_init_only_when_asked_and_labelled():
    model = inception.build((75, 75, 1), 2, cfg(weights="none"))
    assert model.name == "inception_v3_random_init"
    assert inception.run_info(cfg(weights=None)) == {"pretrained": None, "transfer": False}
    assert inception.run_info(cfg())["transfer"] is True
    with pytest.raises(ModelError, match=r"\(n_mels, frames, 1\)"):
        inception.build((75, 75, 3), 2, cfg(weights=None))


@pytest.mark.slow
def test_preprocessing_matches_inception_range():
    """-80 dB -> -1 and 0 dB -> +1 on three equal channels, as preprocess_input gives for 0..255."""
    import keras

    model = inception.build((75, 75, 1), 2, cfg(weights=None))
    rgb = keras.Model(model.input, model.get_layer("rgb").output)
    x = np.stack([np.full((75, 75, 1), -80.0), np.zeros((75, 75, 1))]).astype(np.float32)
    out = np.asarray(rgb(x))
    assert out.shape == (2, 75, 75, 3)
    np.testing.assert_allclose(out[0], -1.0)
    np.testing.assert_allclose(out[1], 1.0)
    pixels = np.stack([np.zeros((75, 75, 3)), np.full((75, 75, 3), 255.0)]).astype(np.float32)
    np.testing.assert_allclose(keras.applications.inception_v3.preprocess_input(pixels), out, atol=1e-6)


@pytest.mark.slow
def test_transfer_recipe_head_then_fine_tune(saved_weights, tmp_path):
    import keras

    path, _ = saved_weights
    rng = np.random.default_rng(0)
    X = rng.uniform(-80, 0, size=(8, 75, 75, 1)).astype(np.float32)
    y = np.arange(8) % 2

    class Data(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return X[i * 4 : (i + 1) * 4], y[i * 4 : (i + 1) * 4]

    config = TrainConfig(model="inception", epochs=2, batch_size=4, learning_rate=1e-3,
                         options={"weights": str(path), "head_epochs": 1})
    model = inception.build((75, 75, 1), 2, config)
    frozen_before = [w.numpy().copy() for w in model.get_layer("inception_v3").weights[:3]]
    hist = inception.fit(model, Data(), (X[:4], y[:4]), config, [])
    assert len(hist.history["loss"]) == 2 and len(hist.history["val_loss"]) == 2
    base = model.get_layer("inception_v3")
    names = [layer.name for layer in base.layers]
    top = names.index("mixed8")
    assert not any(layer.trainable_weights for layer in base.layers[: top + 1])
    tuned = [layer for layer in base.layers[top + 1 :] if layer.trainable_weights]
    assert tuned and not any(isinstance(layer, keras.layers.BatchNormalization) for layer in tuned)
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 1e-5, rtol=1e-6)  # recompiled, low rate
    for a, w in zip(frozen_before, base.weights[:3], strict=True):  # the bottom stayed frozen
        np.testing.assert_array_equal(a, w.numpy())
    # the model saves and loads as a plain .keras file (what the Predictor serves)
    from soundkit.models import load_model

    model.save(tmp_path / "model.keras")
    again = load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(again.predict(X[:2], verbose=0), model.predict(X[:2], verbose=0), atol=1e-5)
