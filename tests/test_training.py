"""Training, cross-validation and cancellation on synthetic data; a brief real ESC-10 run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from synth import noise, tone, write_wav

from soundkit import datasets
from soundkit.config import FeatureConfig, RunConfig, TrainConfig
from soundkit.errors import DatasetError, ModelError, ParameterError
from soundkit.runs import Run
from soundkit.training import CVResult, TrainingCancelled, cross_validate, train, validation_split

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SR = 16000
# Small features keep the synthetic runs fast: 1 s clips -> 32 mels x 63 frames -> 32x32 windows.
FEATURES = FeatureConfig(sr=SR, n_fft=512, hop_length=256, n_mels=32, fmax=8000, frames=32, window_hop=16)
FAST = TrainConfig(epochs=4, batch_size=4, learning_rate=3e-3, patience=4, test_fold=1, seed=0, options={"crops_per_clip": 3, "lr_schedule": "plateau"})


@pytest.fixture(scope="module")
def tones_vs_noise(tmp_path_factory):
    """Folder-per-class dataset: 10 tone clips (various pitches) and 10 white-noise clips, 1 s each."""
    root = tmp_path_factory.mktemp("tones_vs_noise")
    rng = np.random.default_rng(0)
    for k in range(10):
        y = tone(300 + 250 * k, 1.0, SR, 0.5) + noise(1.0, SR, 0.01, seed=100 + k)
        if k % 3 == 0:
            y[: SR // 3] = 0.0  # some clips start with digital silence
        write_wav(root / "tone" / f"t{k}.wav", y, SR)
        write_wav(root / "noise" / f"n{k}.wav", noise(1.0, SR, float(rng.uniform(0.05, 0.5)), seed=k), SR)
    return datasets.load(root)


@pytest.mark.slow
def test_train_writes_a_complete_run(tones_vs_noise, tmp_path):
    events = []
    run = train(tones_vs_noise, out=tmp_path / "run", features=FEATURES, config=FAST,
                cache_dir=tmp_path / "cache", progress=events.append)
    assert isinstance(run, Run) and run.complete
    for name in ("model.keras", "config.json", "labels.json", "report.json", "history.csv", "meta.json"):
        assert (run.path / name).is_file(), name
    assert not [p for p in run.path.iterdir() if p.name.startswith(".tmp")]
    assert run.load_config() == RunConfig(features=FEATURES, train=FAST)
    assert run.load_labels() == ["noise", "tone"]

    report = run.load_report()
    n_test = len(tones_vs_noise.with_folds(seed=0).split(1)[1])
    assert report.n_test == n_test and sum(report.support.values()) == n_test
    assert np.asarray(report.confusion_matrix).shape == (2, 2)
    assert np.asarray(report.confusion_matrix).sum() == n_test
    assert report.accuracy > 0.5  # tones vs noise is easy: better than chance after 4 epochs

    meta = run.load_meta()
    assert meta["weights"] == "last epoch"  # FAST: patience == epochs, the schedule runs to its end
    assert meta["n_test"] == n_test and meta["test_fold"] == 1 and meta["n_train"] + meta["n_val"] == 20 - n_test
    assert meta["export"] in ("ok", "failed", "unavailable")
    assert (meta["export"] == "ok") == run.tflite_path.is_file()
    history = run.load_history()
    assert 1 <= len(history) <= FAST.epochs and meta["epochs_run"] == len(history)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])

    stages = [e["stage"] for e in events]
    assert stages[0] == "features" and stages[-1] == "done"
    train_events = [e for e in events if e["stage"] == "train"]
    assert [e["epoch"] for e in train_events] == list(range(1, len(history) + 1))
    assert all(e["epochs"] == FAST.epochs and e["fold"] == 1 and "loss" in e for e in train_events)
    assert (tmp_path / "cache" / "features").is_dir()  # features were cached

    # the saved model reproduces the report's predictions
    from soundkit import features as feats
    from soundkit import models
    from soundkit.training import evaluate_model

    test_clips = tones_vs_noise.with_folds(seed=0).split(1)[1]
    items = feats.featurize_files([c.path for c in test_clips], FEATURES, cache=tmp_path / "cache" / "features")
    again = evaluate_model(run.load_model(), items, [run.load_labels().index(c.label) for c in test_clips],
                           labels=run.load_labels(), fam=models.family("cnn"), features=FEATURES)
    assert again.confusion_matrix == report.confusion_matrix


@pytest.mark.slow
def test_isolated_training_fits_and_exports_in_child_processes(tones_vs_noise, tmp_path):
    """options.isolate (the default for Inception V3): the fit runs in a spawned child, the export in
    another; progress comes back, the run is complete with both files and they agree."""
    from soundkit.predict import Predictor

    events = []
    cfg = FAST.replace(options={**FAST.options, "isolate": True})
    run = train(tones_vs_noise, out=tmp_path / "run", features=FEATURES, config=cfg, cache_dir=tmp_path / "cache",
                progress=events.append)
    meta = run.load_meta()
    assert meta["processes"] == "isolated"
    assert meta["export"] == "ok" and meta["export_from"] == "model.keras"
    assert run.complete and run.tflite_path.is_file()
    stages = [e["stage"] for e in events]
    assert stages.count("train") == cfg.epochs and stages[-1] == "done"  # epochs relayed from the child
    assert {e["fold"] for e in events} == {cfg.test_fold}
    clip = tones_vs_noise.clips[0].path
    lite, ker = Predictor.load(run.path, backend="litert"), Predictor.load(run.path, backend="keras")
    assert lite.predict_file(clip).top[0][0] == ker.predict_file(clip).top[0][0]


@pytest.mark.slow
def test_isolated_training_cancels_and_raises_child_errors(tones_vs_noise, tmp_path):
    seen = []
    cfg = FAST.replace(epochs=50, options={**FAST.options, "isolate": True})
    with pytest.raises(TrainingCancelled, match="cancelled"):
        train(tones_vs_noise, out=tmp_path / "run", features=FEATURES, config=cfg,
              progress=lambda e: seen.append(e) if e["stage"] == "train" else None, should_stop=lambda: len(seen) >= 1)
    assert 1 <= len(seen) < 50
    assert not Run(tmp_path / "run").model_path.exists()
    # an error inside the child (Inception V3 isolates by default) comes back as itself
    missing = tmp_path / "no-such-weights.h5"
    with pytest.raises(ModelError, match="no-such-weights"):
        train(tones_vs_noise, out=tmp_path / "bad", features=FEATURES,
              config=FAST.replace(model="inception", options={"weights": str(missing)}))
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ParameterError, match="isolate"):
        train(tones_vs_noise, out=tmp_path / "bad2", features=FEATURES, config=FAST.replace(options={"isolate": "yes"}))


@pytest.mark.slow
def test_training_is_seeded(tones_vs_noise, tmp_path):
    cfg = FAST.replace(epochs=2)
    a = train(tones_vs_noise, out=tmp_path / "a", features=FEATURES, config=cfg, cache_dir=tmp_path / "c")
    b = train(tones_vs_noise, out=tmp_path / "b", features=FEATURES, config=cfg, cache_dir=tmp_path / "c")
    ha, hb = a.load_history(), b.load_history()
    assert [r["loss"] for r in ha] == pytest.approx([r["loss"] for r in hb], rel=1e-3)


@pytest.mark.slow
def test_should_stop_cancels_and_writes_nothing(tones_vs_noise, tmp_path):
    seen = []

    def stop() -> bool:
        return len(seen) >= 1  # cancel once the first epoch has been reported

    with pytest.raises(TrainingCancelled, match="cancelled"):
        train(tones_vs_noise, out=tmp_path / "run", features=FEATURES, config=FAST.replace(epochs=50),
              progress=lambda e: seen.append(e) if e["stage"] == "train" else None, should_stop=stop)
    assert len(seen) == 1  # stopped within the second epoch
    assert not Run(tmp_path / "run").model_path.exists()
    assert issubclass(TrainingCancelled, ModelError)


@pytest.mark.slow
def test_cross_validate_selected_folds(tones_vs_noise, tmp_path):
    events = []
    res = cross_validate(tones_vs_noise, features=FEATURES, config=FAST.replace(epochs=2), folds=[1, 2],
                         cache_dir=tmp_path / "cache", progress=events.append)
    assert isinstance(res, CVResult)
    assert set(res.fold_accuracy) == {1, 2} and set(res.reports) == {1, 2}
    assert res.mean_accuracy == pytest.approx(np.mean(list(res.fold_accuracy.values())))
    assert res.std_accuracy == pytest.approx(np.std(list(res.fold_accuracy.values())))
    folds = tones_vs_noise.with_folds(seed=0)
    for f in (1, 2):
        assert res.reports[f].n_test == len(folds.split(f)[1])
        assert res.reports[f].accuracy == res.fold_accuracy[f]
    assert {e["fold"] for e in events if e["stage"] == "train"} == {1, 2}
    d = json.loads(json.dumps(res.to_dict()))
    assert set(d["fold_accuracy"]) == {"1", "2"}


def test_which_weights_training_keeps():
    from soundkit.training import _restores_best

    assert not _restores_best(TrainConfig())  # full schedule: the last epoch
    assert _restores_best(TrainConfig(epochs=50, patience=10))  # early stopping: the best epoch
    assert _restores_best(TrainConfig(options={"restore_best": True}))
    assert not _restores_best(TrainConfig(epochs=50, patience=10, options={"restore_best": False}))


def test_cosine_schedule_warms_up_then_decays():
    from soundkit.training import _lr_schedule

    cb = _lr_schedule(TrainConfig(epochs=23, learning_rate=1e-3), "val_loss")  # cosine is the default
    lrs = [cb.schedule(e, 0.0) for e in range(23)]
    assert lrs[0] == pytest.approx(1e-3 / 3) and lrs[2] == pytest.approx(1e-3) and lrs[3] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:], strict=False))
    assert lrs[-1] == pytest.approx(1e-3 * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * 19 / 20))))
    plateau = _lr_schedule(TrainConfig(options={"lr_schedule": "plateau"}), "val_loss")
    assert type(plateau).__name__ == "ReduceLROnPlateau"


@pytest.mark.slow
def test_fixed_crops_are_the_evaluation_windows_every_epoch():
    """crops="fixed" trains on each clip's non-silent evaluation windows, the same set every epoch
    (no time shift); the default random crops shift from epoch to epoch."""
    from soundkit.evaluation import window_weights
    from soundkit.features import windows
    from soundkit.models import family
    from soundkit.training import _make_train_data

    rng = np.random.default_rng(0)
    items = [rng.uniform(-60, -1, (32, 80)).astype(np.float32) for _ in range(6)]
    items[0][:, 40:] = -FEATURES.top_db  # a clip whose second half is digital silence
    y = np.arange(6) % 2
    w = np.ones(2, dtype=np.float32)

    def epoch(data):
        return np.concatenate([data[i][0][..., 0] for i in range(len(data))]), np.concatenate([data[i][1] for i in range(len(data))])

    def as_set(X, y):
        return sorted((int(label), x.tobytes()) for x, label in zip(X, y, strict=True))

    expected = []
    for S, label in zip(items, y, strict=True):
        W, _ = windows(S, frames=FEATURES.frames, hop=FEATURES.window_hop, floor=-FEATURES.top_db)
        expected += [(int(label), x.tobytes()) for x in W[window_weights(W, floor=-FEATURES.top_db) > 0]]
    fixed = _make_train_data(items, y, w, fam=family("cnn"), features=FEATURES, config=FAST.replace(options={"crops": "fixed"}))
    first = epoch(fixed)
    assert as_set(*first) == sorted(expected)
    fixed.on_epoch_end()
    second = epoch(fixed)
    assert as_set(*second) == sorted(expected) and not np.array_equal(second[0], first[0])  # reshuffled only

    # with mixup, batches gathered by index blend exactly as the reordered epoch would
    from soundkit import augment

    mixed = _make_train_data(items, y, w, fam=family("cnn"), features=FEATURES,
                             config=FAST.replace(options={"crops": "fixed"}, augment=augment.policy_from_arg("mixup").to_dict()))
    epoch_copy = mixed.X_all[mixed.rows]
    for i in range(len(mixed)):
        sl = slice(i * FAST.batch_size, (i + 1) * FAST.batch_size)
        for got, want in zip(mixed[i], augment.mix_rows(epoch_copy, mixed.y, *mixed.mix, sl, weights=mixed.w), strict=True):
            np.testing.assert_array_equal(got, want)
    assert ((mixed[0][1] > 0) & (mixed[0][1] < 1)).any()

    shifted = _make_train_data(items, y, w, fam=family("cnn"), features=FEATURES, config=FAST)
    before = as_set(*epoch(shifted))
    shifted.on_epoch_end()
    assert as_set(*epoch(shifted)) != before and not set(before) <= set(expected)


def test_validation_split_grouped_by_source(tones_vs_noise):
    clips = [c for c in tones_vs_noise.clips]
    # two takes per source: they must stay together
    twins = clips + [datasets.Clip(path=c.path.with_name("x" + c.path.name), label=c.label, source=c.source) for c in clips]
    fit, val = validation_split(twins, fraction=0.25, seed=3)
    assert len(fit) + len(val) == len(twins) and val
    assert not {c.source for c in fit} & {c.source for c in val}
    assert {c.label for c in val} == {"noise", "tone"}
    assert 0.1 <= len(val) / len(twins) <= 0.4
    assert validation_split(twins, fraction=0.25, seed=3) == (fit, val)
    assert validation_split(twins, fraction=0.0) == (twins, [])


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(test_fold=9), ParameterError, "test_fold 9 does not exist"),
        (dict(test_fold=None, validation_fraction=0.0), ParameterError, "nothing to evaluate"),
        (dict(options={"lr_schedule": "step"}), ParameterError, "lr_schedule"),
        (dict(options={"crops_per_clip": 0}), ParameterError, "crops_per_clip"),
        (dict(options={"crops": "center"}), ParameterError, "crops"),
        (dict(options={"filters": []}), ParameterError, "filters"),
        (dict(options={"input_pool": [2]}), ParameterError, "input_pool"),
    ],
)
def test_bad_configs_fail_before_training(tones_vs_noise, tmp_path, change, error, match):
    with pytest.raises(error, match=match):
        train(tones_vs_noise, out=tmp_path / "run", features=FEATURES, config=FAST.replace(**change))
    assert not (tmp_path / "run").exists()


def test_bad_datasets_and_outputs(tones_vs_noise, tmp_path):
    one_label = tones_vs_noise.select(["tone"])
    with pytest.raises(DatasetError, match="at least 2 labels"):
        train(one_label, out=tmp_path / "r", features=FEATURES, config=FAST)
    lonely = datasets.Dataset(tones_vs_noise.root, one_label.clips + tones_vs_noise.select(["noise"], 1).clips, "folders")
    with pytest.raises(DatasetError, match="'noise' have fewer than 2 clips"):
        train(lonely, out=tmp_path / "r", features=FEATURES, config=FAST)
    with pytest.raises(ParameterError, match="Dataset"):
        train("not a dataset", out=tmp_path / "r")  # type: ignore[arg-type]
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "model.keras").write_bytes(b"x")
    with pytest.raises(ModelError, match="already holds a trained model"):
        train(tones_vs_noise, out=taken, features=FEATURES, config=FAST)
    with pytest.raises(ParameterError, match="unknown model"):
        TrainConfig(model="resnet")
    with pytest.raises(ParameterError, match=r"fold\(s\) \[7\] do not exist"):
        cross_validate(tones_vs_noise, features=FEATURES, config=FAST, folds=[7])


@pytest.mark.slow
@pytest.mark.data
def test_brief_training_on_esc10(esc10_dir, tmp_path):
    ds = datasets.load(esc10_dir).select(["Dog bark", "Rain", "Rooster"])
    cfg = TrainConfig(epochs=3, batch_size=16, test_fold=1, patience=3)
    run = train(ds, out=tmp_path / "esc", config=cfg, cache_dir=tmp_path / "cache")
    report = run.load_report()
    assert report.labels == ["Dog bark", "Rain", "Rooster"]
    assert report.n_test == 24 and report.support == {"Dog bark": 8, "Rain": 8, "Rooster": 8}
    assert np.asarray(report.confusion_matrix).sum() == 24
    assert 0.0 <= report.accuracy <= 1.0
    from soundkit.predict import Predictor

    clip = next(c for c in ds.clips if c.fold == 1 and c.label == "Rooster")
    pred = Predictor.load(run.path).predict_file(clip.path, top_k=3)
    assert [lab for lab, _ in pred.top] and {lab for lab, _ in pred.top} <= set(report.labels)
    assert pred.probabilities.shape == (3,) and pred.probabilities.sum() == pytest.approx(1.0, abs=1e-4)


def test_a_label_without_training_clips_is_left_out_of_the_score_with_a_note():
    """The split the issue hit: every clip of 'washing_machine' sits in the test fold."""
    from pathlib import Path

    from soundkit.datasets import Clip
    from soundkit.training import _scorable

    def clip(label, k):
        return Clip(path=Path(f"/x/{label}{k}.wav"), label=label)

    labels = ["dog", "rain", "washing_machine"]
    fit = [clip("dog", 0), clip("rain", 0)]
    test = [clip("dog", 1), clip("rain", 1), clip("washing_machine", 0), clip("washing_machine", 1)]
    kept, notes = _scorable(labels, fit, test)
    assert [c.label for c in kept] == ["dog", "rain"]
    assert len(notes) == 1 and "'washing_machine' has no training clips" in notes[0] and "its 2 clip(s)" in notes[0]
    with pytest.raises(DatasetError, match="only 1 label"):
        _scorable(labels, [clip("dog", 0)], test)
    with pytest.raises(DatasetError, match="no test clip can be scored"):
        _scorable(labels, fit + [clip("dog", 2)], [clip("washing_machine", 0)])


def test_pooled_report_counts_every_fold_once():
    from soundkit.evaluation import Report
    from soundkit.training import _pool_reports

    labels = ["a", "b"]
    r1 = Report.from_probabilities(np.eye(2)[[0, 1, 1]], [0, 1, 0], labels=labels, ids=["x", "y", "z"])
    r2 = Report.from_probabilities(np.eye(2)[[0, 0]], [0, 1], labels=labels, ids=["u", "v"], notes=["n"])
    pooled = _pool_reports({1: r1, 2: r2})
    assert pooled.n_test == 5 and pooled.accuracy == pytest.approx(3 / 5)
    assert pooled.confusion_matrix == [[2, 1], [1, 1]]
    assert [c["fold"] for c in pooled.clips] == [1, 1, 1, 2, 2] and pooled.notes == ["fold 2: n"]
    assert pooled.accuracy_ci == pytest.approx(__import__("soundkit.stats", fromlist=["x"]).wilson_interval(3, 5))
    cv = CVResult(fold_accuracy={1: r1.accuracy, 2: r2.accuracy}, mean_accuracy=0.583, std_accuracy=0.08, seconds=1.0,
                  reports={1: r1, 2: r2}, notes={2: ["n"]})
    d = cv.to_dict()
    assert d["n_test"] == 5 and d["pooled_accuracy"] == pytest.approx(0.6) and d["warnings"] == ["fold 2: n"]
    assert d["fold_spread"]["min"] == pytest.approx(0.5) and len(d["clips"]) == 5
