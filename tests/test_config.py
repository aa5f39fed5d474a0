"""Config dataclasses: JSON round trip, validation messages naming the bad value, data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soundkit import config
from soundkit.config import FeatureConfig, RunConfig, TrainConfig
from soundkit.errors import ParameterError


def test_defaults_are_the_recipe():
    f = FeatureConfig()
    assert (f.sr, f.n_fft, f.hop_length, f.n_mels, f.frames) == (44100, 1024, 1024, 128, 128)
    assert f.window_seconds == pytest.approx(128 * 1024 / 44100)
    assert TrainConfig().model == "cnn"


@pytest.mark.parametrize(
    "cfg",
    [
        FeatureConfig(),
        FeatureConfig(sr=16000, n_fft=512, hop_length=160, n_mels=64, fmin=50.0, fmax=8000.0, top_db=60.0),
        TrainConfig(),
        TrainConfig(model="yamnet", epochs=3, test_fold=2, augment={"stretch": {"p": 0.5}}, options={"x": [1, 2]}),
    ],
)
def test_json_round_trip(cfg):
    text = cfg.to_json()
    assert json.loads(text) == cfg.to_dict()
    assert type(cfg).from_json(text) == cfg
    assert type(cfg).from_dict(cfg.to_dict()) == cfg


def test_run_config_save_load(tmp_path):
    rc = RunConfig(features=FeatureConfig(n_mels=64), train=TrainConfig(epochs=5, test_fold=1))
    path = tmp_path / "config.json"
    rc.save(path)
    assert RunConfig.load(path) == rc
    assert RunConfig.from_dict({}) == RunConfig()  # missing sections take defaults


def test_key_ignores_windowing_only():
    f = FeatureConfig()
    assert f.key == FeatureConfig().key and len(f.key) == 12
    assert f.replace(frames=64, window_hop=32).key == f.key
    assert f.replace(n_mels=64).key != f.key
    assert f.replace(top_db=60.0).key != f.key


@pytest.mark.parametrize(
    "cls, kwargs, needle",
    [
        (FeatureConfig, {"sr": 100}, "sr must be within 8000..192000 Hz, got 100"),
        (FeatureConfig, {"n_fft": 32}, "n_fft must be within 64..16384, got 32"),
        (FeatureConfig, {"hop_length": 0}, "hop_length must be within 1..4\\*n_fft, got 0"),
        (FeatureConfig, {"n_mels": 4}, "n_mels must be within 8..512, got 4"),
        (FeatureConfig, {"fmin": 500.0, "fmax": 100.0}, "fmin=500.0, fmax=100.0"),
        (FeatureConfig, {"fmax": 30000.0}, "fmax must be at most sr/2 = 22050 Hz, got 30000.0"),
        (FeatureConfig, {"top_db": 0}, "top_db must be positive, got 0"),
        (FeatureConfig, {"frames": 2}, "frames must be within 8..4096, got 2"),
        (FeatureConfig, {"window_hop": 500}, "window_hop must be within 1..frames, got 500"),
        (TrainConfig, {"model": "resnet"}, "unknown model 'resnet'; choose one of cnn, crnn, inception, yamnet"),
        (TrainConfig, {"epochs": 0}, "epochs must be within 1..10000, got 0"),
        (TrainConfig, {"batch_size": 0}, "batch_size must be within 1..4096, got 0"),
        (TrainConfig, {"learning_rate": 2.0}, "learning_rate must be within \\(0, 1\\), got 2.0"),
        (TrainConfig, {"patience": 0}, "patience must be >= 1, got 0"),
        (TrainConfig, {"validation_fraction": 0.7}, "validation_fraction must be within \\[0, 0.5\\), got 0.7"),
        (TrainConfig, {"dropout": 1.0}, "dropout must be within \\[0, 1\\), got 1.0"),
        (TrainConfig, {"l2": -1.0}, "l2=-1.0"),
        (TrainConfig, {"test_fold": 0}, "test_fold must be >= 1, got 0"),
    ],
)
def test_bad_values_are_named(cls, kwargs, needle):
    with pytest.raises(ParameterError, match=needle) as err:
        cls(**kwargs)
    assert "\n" not in str(err.value)
    with pytest.raises(ParameterError, match=needle):  # the same check on the JSON path
        cls.from_dict({**cls().to_dict(), **kwargs})


@pytest.mark.parametrize(
    "text, needle",
    [
        ("{not json", "invalid FeatureConfig JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        ('{"n_mels": 64, "colour": "red"}', "unknown FeatureConfig field\\(s\\): colour"),
    ],
)
def test_bad_json(text, needle):
    with pytest.raises(ParameterError, match=needle):
        FeatureConfig.from_json(text)


def test_run_config_rejects_non_object(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[]")
    with pytest.raises(ParameterError, match="JSON object"):
        RunConfig.load(path)


def test_home_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SOUNDKIT_HOME", str(tmp_path / "h"))
    assert config.home() == tmp_path / "h"
    assert config.runs_dir() == tmp_path / "h" / "runs" and config.cache_dir() == tmp_path / "h" / "cache"
    monkeypatch.delenv("SOUNDKIT_HOME")
    assert config.home() == Path("soundkit_data")


def test_tmp_home_fixture(tmp_home):
    assert config.home() == tmp_home
