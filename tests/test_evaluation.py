"""Evaluation reports against hand-computed cases; window pooling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from soundkit.errors import ParameterError
from soundkit.evaluation import Report, pool_windows, window_weights

LABELS = ["cat", "dog", "owl"]


def _onehot(pred, n=3, p=0.8):
    P = np.full((len(pred), n), (1 - p) / (n - 1))
    P[np.arange(len(pred)), pred] = p
    return P


@pytest.fixture
def report() -> Report:
    # true:      cat cat cat dog dog owl
    # predicted: cat cat dog dog owl owl
    y = [0, 0, 0, 1, 1, 2]
    P = _onehot([0, 0, 1, 1, 2, 2])
    return Report.from_probabilities(P, y, labels=LABELS, ids=[f"c{i}" for i in range(6)], paths=[f"/x/{i}.wav" for i in range(6)])


def test_hand_computed_metrics(report):
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.n_test == 6
    assert report.labels == LABELS
    assert report.confusion_matrix == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report.per_class_accuracy == pytest.approx({"cat": 2 / 3, "dog": 1 / 2, "owl": 1.0})
    assert report.recall == report.per_class_accuracy
    assert report.precision == pytest.approx({"cat": 1.0, "dog": 1 / 2, "owl": 1 / 2})
    assert report.f1["cat"] == pytest.approx(2 * 1.0 * (2 / 3) / (1 + 2 / 3))
    assert report.support == {"cat": 3, "dog": 2, "owl": 1}


def test_misclassified_clips_with_top_predictions(report):
    wrong = report.misclassified
    assert [m["id"] for m in wrong] == ["c2", "c4"]
    first = wrong[0]
    assert first["path"] == "/x/2.wav" and first["true"] == "cat" and first["predicted"] == "dog"
    assert [t["label"] for t in first["top"]][0] == "dog"
    assert first["top"][0]["probability"] == pytest.approx(0.8)
    assert len(first["top"]) == 3
    probs = [t["probability"] for t in first["top"]]
    assert probs == sorted(probs, reverse=True)


def test_every_tested_clip_carries_all_class_probabilities(report):
    c = report.clips[1]
    assert c["id"] == "c1" and c["predicted"] == "cat"
    assert c["probabilities"] == pytest.approx({"cat": 0.8, "dog": 0.1, "owl": 0.1})
    assert [max(c["probabilities"].values()) for c in report.clips] == [c["probability"] for c in report.clips]


def test_json_round_trip_matches_schema(report):
    d = json.loads(report.to_json())
    assert set(d) == {"accuracy", "per_class_accuracy", "precision", "recall", "f1", "support",
                      "confusion_matrix", "labels", "n_test", "misclassified", "accuracy_ci", "clips", "notes"}
    assert Report.from_dict(d) == report
    assert Report.from_json(report.to_json()) == report


def test_class_absent_from_test_set_gets_zero_support():
    r = Report.from_probabilities(_onehot([0, 1]), [0, 1], labels=LABELS)
    assert r.support["owl"] == 0 and r.per_class_accuracy["owl"] == 0.0
    assert r.confusion_matrix[2] == [0, 0, 0]
    assert r.accuracy == 1.0 and r.misclassified == []


@pytest.mark.parametrize(
    "P, y, match",
    [
        (np.ones((2, 2)), [0, 1], "shape"),
        (np.ones((2, 3)), [0], "y_true"),
        (np.ones((0, 3)), [], "zero clips"),
        (np.ones((2, 3)), [0, 3], "outside"),
    ],
)
def test_bad_inputs_raise_parameter_error(P, y, match):
    with pytest.raises(ParameterError, match=match):
        Report.from_probabilities(P, y, labels=LABELS)


@pytest.mark.parametrize(
    "data, match",
    [
        ([], "JSON object"),
        ({"accuracy": 1.0}, "missing key"),
    ],
)
def test_from_dict_rejects_bad_reports(data, match):
    with pytest.raises(ParameterError, match=match):
        Report.from_dict(data)


def test_from_dict_rejects_inconsistent_matrix(report):
    d = report.to_dict()
    d["confusion_matrix"] = [[1, 2], [3, 4]]
    with pytest.raises(ParameterError, match="3x3"):
        Report.from_dict(d)


def test_window_weights_drop_silent_windows():
    W = np.full((3, 8, 10), -80.0, dtype=np.float32)
    W[0] = -20.0                 # all sound
    W[1, :, :4] = -30.0          # 4 of 10 frames with sound: below half of the best -> dropped
    W[2, :, :6] = -30.0          # 6 of 10 -> kept
    assert window_weights(W, floor=-80).tolist() == [1.0, 0.0, 1.0]
    assert window_weights(W[..., None], floor=-80).tolist() == [1.0, 0.0, 1.0]  # channel axis accepted


def test_window_weights_silent_clip_keeps_all_windows():
    W = np.full((2, 4, 5), -80.0)
    assert window_weights(W, floor=-80).tolist() == [1.0, 1.0]


def test_pool_windows_weighted_mean():
    P = np.array([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]])
    assert pool_windows(P).tolist() == pytest.approx([0.5, 0.5])
    assert pool_windows(P, np.array([1, 0, 1])).tolist() == pytest.approx([0.7, 0.3])
    assert pool_windows(P, np.zeros(3)).tolist() == pytest.approx([0.5, 0.5])
    with pytest.raises(ParameterError):
        pool_windows(P, np.ones(2))
    with pytest.raises(ParameterError):
        pool_windows(np.zeros((0, 2)))


# -- honest estimates: Wilson intervals -----------------------------------------------------------

@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # reference values (Wilson score interval, z = 1.96), e.g. Newcombe (1998), Table I
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (20, 20, 0.8389, 1.0),
        (35, 40, 0.7388, 0.9454),
        (5, 5, 0.5655, 1.0),
    ],
)
def test_wilson_interval_known_values(k, n, low, high):
    from soundkit.stats import wilson_interval

    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=5e-4) and hi == pytest.approx(high, abs=5e-4)


def test_wilson_interval_edges_and_errors():
    from soundkit.stats import fold_spread, format_accuracy, wilson_interval

    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(7, 8)
    assert 0 < lo < 7 / 8 < hi < 1
    assert wilson_interval(50, 100)[1] - wilson_interval(50, 100)[0] > wilson_interval(500, 1000)[1] - wilson_interval(500, 1000)[0]
    for bad in [(-1, 5), (6, 5), (1, -1)]:
        with pytest.raises(ParameterError):
            wilson_interval(*bad)
    assert format_accuracy(35 / 40, 40) == "87.5% (95% CI 74-95%, 40 test clips)"
    assert fold_spread([0.5, 1.0, 0.75]) == pytest.approx({"min": 0.5, "median": 0.75, "max": 1.0, "std": 0.2041241})


def test_report_carries_interval_and_tested_clips(report):
    from soundkit.stats import wilson_interval

    d = report.to_dict()
    assert d["accuracy_ci"] == pytest.approx(list(wilson_interval(4, 6)))
    assert [c["id"] for c in d["clips"]] == [f"c{i}" for i in range(6)]
    assert [c["predicted"] for c in d["clips"]] == ["cat", "cat", "dog", "dog", "owl", "owl"]
    assert report.describe().startswith("66.7% (95% CI 30-90%, 6 test clips)")
    back = Report.from_dict(json.loads(report.to_json()))
    assert back.clips == report.clips and back.accuracy_ci == report.accuracy_ci
