"""Run directories: save/load round trip, atomic writes, listing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from soundkit.config import FeatureConfig, RunConfig, TrainConfig
from soundkit.errors import ModelError
from soundkit.evaluation import Report
from soundkit.runs import HISTORY_COLUMNS, Run, list_runs, save_run, write_atomic

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LABELS = ["high", "low"]


@pytest.fixture(scope="module")
def model():
    from soundkit.models import family

    return family("cnn").build((16, 16, 1), 2, TrainConfig(options={"filters": [4]}))


def _save(out, model, **kw):
    config = RunConfig(features=FeatureConfig(sr=16000, n_mels=32, fmax=8000, frames=16, window_hop=8),
                       train=TrainConfig(epochs=3, test_fold=1))
    report = Report.from_probabilities(np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]), [0, 1, 1], labels=LABELS, ids=["a", "b", "c"])
    history = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4},
               {"epoch": 2, "loss": 0.5, "accuracy": 0.75}]
    args = dict(model=model, config=config, labels=LABELS, report=report, history=history, meta={"n_train": 10})
    args.update(kw)
    return save_run(out, **args), args


def test_save_and_load_round_trip(tmp_path, model):
    run, args = _save(tmp_path / "run1", model)
    assert run.complete
    names = sorted(p.name for p in run.path.iterdir())
    assert names == ["config.json", "history.csv", "labels.json", "meta.json", "model.keras", "report.json"]
    assert run.load_config() == args["config"]
    assert run.load_labels() == LABELS
    assert run.load_report() == args["report"]
    meta = run.load_meta()
    assert meta["n_train"] == 10 and "created" in meta
    hist = run.load_history()
    assert hist[0] == {"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4}
    assert hist[1] == {"epoch": 2, "loss": 0.5, "accuracy": 0.75}  # missing values are omitted
    assert run.history_path.read_text().splitlines()[0] == ",".join(HISTORY_COLUMNS)
    loaded = run.load_model()
    x = np.random.default_rng(0).uniform(-80, 0, (2, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_failed_model_save_leaves_no_files(tmp_path):
    class Broken:
        def save(self, path):
            with open(path, "wb") as fh:
                fh.write(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError):
        _save(tmp_path / "r", Broken())
    assert list((tmp_path / "r").iterdir()) == []
    assert not Run(tmp_path / "r").complete


def test_write_atomic_replaces_whole_file(tmp_path):
    p = tmp_path / "sub" / "x.json"
    write_atomic(p, "old")
    write_atomic(p, json.dumps({"a": 1}))
    assert json.loads(p.read_text()) == {"a": 1}
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]


def test_missing_and_corrupt_files_raise_model_error(tmp_path):
    run = Run(tmp_path / "empty")
    run.path.mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        run.load_config()
    run.labels_path.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        run.load_labels()
    run.labels_path.write_text("[]")
    with pytest.raises(ModelError, match="non-empty"):
        run.load_labels()
    run.config_path.write_text(json.dumps({"train": {"epochs": -1}}))
    with pytest.raises(ModelError, match="epochs"):
        run.load_config()
    assert run.load_report() is None and run.load_history() == [] and run.load_meta() == {}
    with pytest.raises(ModelError, match="no such model"):
        run.load_model()


def test_list_runs_newest_first(tmp_path):
    root = tmp_path / "runs"
    assert list_runs(root) == []
    for name, created in (("b", "2026-01-02T00:00:00+00:00"), ("a", "2026-01-03T00:00:00+00:00")):
        write_atomic(root / name / "config.json", RunConfig().to_json())
        write_atomic(root / name / "meta.json", json.dumps({"created": created}))
    write_atomic(root / "job" / "status.json", json.dumps({"state": "running"}))
    (root / "not-a-run").mkdir()
    names = [r.name for r in list_runs(root)]
    assert names == ["job", "a", "b"]  # the job has no meta.json: its folder's time (now) counts
    assert list_runs(root, complete_only=True) == []
