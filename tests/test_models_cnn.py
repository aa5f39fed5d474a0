"""Model families: the registry and the CNN builder."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from soundkit.config import TrainConfig
from soundkit.errors import ModelError
from soundkit.models import family

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def test_family_returns_cnn_module():
    cnn = family("cnn")
    assert cnn.KIND == "logmel" and callable(cnn.build)


def test_unknown_family_is_a_model_error():
    with pytest.raises(ModelError, match="unknown model family 'resnet'"):
        family("resnet")


def test_missing_family_module_is_a_model_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "soundkit.models.inception", None)  # import of it now fails
    with pytest.raises(ModelError, match="model family 'inception' is not available"):
        family("inception")


def test_importing_models_does_not_import_tensorflow():
    import subprocess

    code = "import sys, soundkit.models, soundkit.models.cnn; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cnn_builds_uncompiled_softmax_model():
    config = TrainConfig(dropout=0.3, l1=1e-5, l2=1e-3)
    model = family("cnn").build((128, 128, 1), 10, config)
    assert model.input_shape == (None, 128, 128, 1)
    assert model.output_shape == (None, 10)
    assert not model.compiled  # uncompiled
    x = np.random.default_rng(0).uniform(-80, 0, (3, 128, 128, 1)).astype(np.float32)
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert (p >= 0).all()
    # the config's regularisation reaches the layers
    assert model.get_layer("dropout").rate == pytest.approx(0.3)
    reg = model.get_layer("conv0").kernel_regularizer
    assert reg.l1 == pytest.approx(1e-5) and reg.l2 == pytest.approx(1e-3)
    assert len(model.losses) > 0  # weight penalties are active


def test_cnn_normalises_raw_db_inside_the_model():
    model = family("cnn").build((32, 32, 1), 2, TrainConfig())
    rescale = model.get_layer("normalise")
    out = np.asarray(rescale(np.array([[-80.0], [-40.0], [0.0]], dtype=np.float32)))
    np.testing.assert_allclose(out.ravel(), [-1.0, 0.0, 1.0])


def test_cnn_options_change_architecture():
    small = family("cnn").build((32, 32, 1), 2, TrainConfig(options={"filters": [4, 8], "input_pool": [1, 1]}))
    default = family("cnn").build((32, 32, 1), 2, TrainConfig())
    assert small.count_params() < default.count_params()
    assert small.get_layer("conv1").filters == 8
    with pytest.raises(ValueError):
        small.get_layer("conv2")


def test_crnn_family_builds_a_conv_gru_model():
    import numpy as np

    from soundkit.config import MODEL_FAMILIES, TrainConfig
    from soundkit.models import family

    assert "crnn" in MODEL_FAMILIES
    crnn = family("crnn")
    assert crnn.KIND == "logmel"
    model = crnn.build((32, 32, 1), 3, TrainConfig(model="crnn", options={"filters": [8, 16], "gru_units": 8}))
    names = [layer.name for layer in model.layers]
    assert "gru" in names and names.index("gru") > names.index("conv1")  # convolutions, then the GRU over time
    P = model.predict(np.full((2, 32, 32, 1), -40.0, np.float32), verbose=0)
    assert P.shape == (2, 3) and np.allclose(P.sum(axis=1), 1.0, atol=1e-5)
