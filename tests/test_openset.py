"""soundkit.openset: scores, calibration on clips the model did not fit, metrics, background clips."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from synth import tone, write_wav

from soundkit.datasets import Clip
from soundkit.errors import ParameterError
from soundkit.openset import (
    KEEP,
    OpenSet,
    _quantile_threshold,
    _Stats,
    background_clips,
    calibrate,
    open_set_metrics,
    parse_unknown,
    write_background,
)


def test_metrics_follow_their_definitions():
    rng = np.random.default_rng(0)
    known, unknown = rng.normal(1.0, 0.5, 200), rng.normal(-0.5, 0.5, 100)
    correct = rng.random(200) < 0.9
    thr = _quantile_threshold(known, KEEP)
    m = open_set_metrics(known, unknown, thr, known_correct=correct)
    assert m["auroc"] == pytest.approx(roc_auc_score(np.r_[np.ones(200), np.zeros(100)], np.r_[known, unknown]))
    assert m["known_accepted"] >= KEEP and m["known_accepted"] == pytest.approx((known >= thr).mean())
    assert m["unknown_rejected"] == pytest.approx((unknown < thr).mean())
    assert m["accuracy_on_accepted"] == pytest.approx(correct[known >= thr].mean())
    assert m["closed_set_accuracy"] == pytest.approx(correct.mean())
    with pytest.raises(ParameterError):
        open_set_metrics(known, np.array([]), thr)


def test_embedding_scores_rank_far_points_below_class_points():
    rng = np.random.default_rng(1)
    D, C = 32, 3
    centres = rng.normal(0, 3, (C, D))
    frames = [centres[k] + rng.normal(0, 1, (40, D)) for k in range(C)]
    stats = _Stats.fit(frames, list(range(C)), C)
    inside = np.concatenate([centres[k] + rng.normal(0, 1, (20, D)) for k in range(C)])
    outside = rng.normal(0, 3, (60, D)) + rng.normal(0, 1, (60, D))  # other centres
    s_in, s_out = stats.frame_scores(inside), stats.frame_scores(outside)
    for method in ("prototype", "mahalanobis"):
        auroc = roc_auc_score(np.r_[np.ones(60), np.zeros(60)], np.r_[s_in[method], s_out[method]])
        assert auroc > 0.9, (method, auroc)
    assert "energy" not in s_in  # no head weights given
    d = inside[:, None, :] - stats.means[None]
    direct = -np.sqrt(np.einsum("ncd,de,nce->nc", d, stats.precision, d).min(axis=1))
    np.testing.assert_allclose(s_in["mahalanobis"], direct, rtol=1e-3)


def test_energy_and_max_logit_from_head_weights():
    rng = np.random.default_rng(2)
    W1, b1, W2, b2 = rng.normal(size=(8, 5)), rng.normal(size=5), rng.normal(size=(5, 3)), rng.normal(size=3)
    stats = _Stats.fit([rng.normal(size=(10, 8)) for _ in range(3)], [0, 1, 2], 3, head=[W1, b1, W2, b2])
    E = rng.normal(size=(4, 8))
    logits = np.maximum(E @ W1 + b1, 0) @ W2 + b2
    s = stats.frame_scores(E)
    np.testing.assert_allclose(s["max_logit"], logits.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(s["energy"], np.log(np.exp(logits).sum(axis=1)), rtol=1e-5)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_run import make_run

    from soundkit.predict import Predictor

    root = tmp_path_factory.mktemp("os")
    run = make_run(root / "run")
    clips = []
    for k in range(6):
        for lab, f in (("low", 200 + 30 * k), ("high", 3000 + 200 * k)):
            path = write_wav(root / lab / f"{lab}{k}.wav", tone(f, 1.0, 22050, 0.4), 22050)
            clips.append(Clip(path=path, label=lab, fold=None, source=path.stem, id=path.stem))
    return Predictor.load(run), run, clips


def test_calibration_keeps_known_clips_and_is_used_by_predictions(tiny, tmp_path):
    predictor, run, clips = tiny
    os_ = calibrate(predictor, clips[:4], clips, keep=0.9, n_background=4)
    assert os_.method == "msp"  # a log-mel run: top probability
    assert os_.rates()["known_accepted"] >= 0.9
    assert len(os_.known_scores) == len(clips) and len(os_.background_scores) == 4
    os_.save(run)
    again = OpenSet.load(run)
    assert again.threshold == pytest.approx(os_.threshold) and again.known_scores == pytest.approx(os_.known_scores, abs=1e-4)
    from soundkit.predict import Predictor

    served = Predictor.load(run)
    assert served.open_set is not None
    pure = served.predict(tone(250, 1.0, 22050, 0.4), 22050)
    assert not pure.unknown and pure.label == "low" and pure.unknown_score >= again.threshold
    # a sound between the classes: both halves of the bands (top probability near 0.5)
    both = served.predict(tone(250, 1.0, 22050, 0.3) + tone(4000, 1.0, 22050, 0.3), 22050)
    assert both.unknown_score < pure.unknown_score
    strict = Predictor.load(run, open_set=again.with_threshold(max(both.unknown_score, pure.unknown_score) - 1e-6))
    assert strict.predict(tone(250, 1.0, 22050, 0.3) + tone(4000, 1.0, 22050, 0.3), 22050).label == "unknown"
    assert Predictor.load(run, open_set="off").open_set is None


def test_parse_unknown():
    base = OpenSet(method="mahalanobis", threshold=-3.0, window_threshold=-4.0, thresholds={"msp": 0.6, "mahalanobis": -3.0},
                   window_thresholds={"msp": 0.5, "mahalanobis": -4.0})
    assert parse_unknown("auto", base) is base and parse_unknown("off", base) is None
    p = parse_unknown("0.8", base)
    assert p.method == "msp" and p.threshold == 0.8 and p.window_threshold == pytest.approx(0.7)
    assert parse_unknown("0.7", None).threshold == 0.7
    for bad in ("2", "0", "x"):
        with pytest.raises(ParameterError):
            parse_unknown(bad, base)


def test_background_clips(tmp_path):
    clips = background_clips(10, seconds=1.0, sr=16000, seed=3)
    assert len(clips) == 10 and all(y.shape == (16000,) and y.dtype == np.float32 for _, y in clips)
    kinds = {name.split("-")[0] for name, _ in clips}
    assert kinds == {"silence", "white", "pink", "brown", "hum"}
    for name, y in clips:
        rms_db = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        assert (-71 <= rms_db <= -69) if name.startswith("silence") else (-51 <= rms_db <= -19), (name, rms_db)
    paths = write_background(tmp_path / "ds", n=3, seconds=0.5, sr=16000)
    assert [p.parent.name for p in paths] == ["_background_"] * 3 and all(p.stat().st_size > 1000 for p in paths)


def test_training_writes_a_calibration_that_predictions_use(class_folders, tmp_path):
    import json

    from tiny_run import FEATURES

    from soundkit import datasets
    from soundkit.config import TrainConfig
    from soundkit.predict import Predictor
    from soundkit.training import train

    run = train(datasets.load(class_folders), out=tmp_path / "run", features=FEATURES,
                config=TrainConfig(model="cnn", epochs=2, batch_size=8, test_fold=None, options={"filters": [4, 8]}))
    cal = json.loads((run.path / "calibration.json").read_text())
    assert cal["method"] == "msp" and cal["calibrated_on"]["split"] == "validation" and cal["calibrated_on"]["clips"] >= 1
    report = json.loads((run.path / "report.json").read_text())
    assert report["open_set"]["threshold"] == cal["threshold"]
    pred = Predictor.load(run.path).predict(tone(3000, 0.5, 22050, 0.5), 22050)
    assert pred.unknown_score is not None and pred.unknown == (pred.unknown_score < cal["threshold"])
