"""Figures: built without pyplot, with the axes, labels and data they promise."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from soundkit import plots
from soundkit.errors import ParameterError
from soundkit.evaluation import Report
from soundkit.features import log_mel

LABELS = ["cat", "dog", "owl"]


@pytest.fixture
def report():
    P = np.eye(3)[[0, 0, 1, 1, 2, 0]]
    return Report.from_probabilities(P, [0, 0, 1, 2, 2, 2], labels=LABELS)


def _png(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000
    return path


def test_no_pyplot_state(report, tmp_path):
    plots.confusion_matrix(report)
    if "matplotlib.pyplot" in sys.modules:  # another test may have imported it; then no figures leak
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []


def test_spectrogram_axes_and_colour_bar(tmp_path):
    from synth import chirp

    sr, hop = 22050, 512
    y = chirp(200, 4000, 1.0, sr)
    S = log_mel(y, sr=sr, n_fft=1024, hop_length=hop, n_mels=64)
    fig = plots.spectrogram(S, sr=sr, hop_length=hop, fmax=sr / 2, title="chirp")
    ax, cbar = fig.axes
    assert ax.get_xlabel() == "Time (s)" and ax.get_ylabel() == "Frequency (Hz)"
    assert ax.get_xlim()[1] == pytest.approx(S.shape[1] * hop / sr, rel=0.05)
    assert "dB" in cbar.get_ylabel()
    _png(fig, tmp_path, "spec")
    with_wave = plots.spectrogram(S, sr=sr, hop_length=hop, y=y)
    assert len(with_wave.axes) == 3
    assert with_wave.axes[0].get_ylabel() == "Amplitude"
    with pytest.raises(ParameterError):
        plots.spectrogram(np.zeros(5), sr=sr, hop_length=hop)


def test_confusion_matrix_cells(report, tmp_path):
    fig = plots.confusion_matrix(report)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), np.array(report.confusion_matrix))
    assert [t.get_text() for t in ax.get_xticklabels()] == LABELS
    assert ax.get_xlabel() == "Predicted" and ax.get_ylabel() == "True"
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(str(v) for row in report.confusion_matrix for v in row if v)
    norm = plots.confusion_matrix(report.to_dict(), normalize=True)
    arr = norm.axes[0].images[0].get_array()
    np.testing.assert_allclose(arr.sum(axis=1), [1, 1, 1])
    _png(fig, tmp_path, "cm")


def test_per_class_accuracy_one_and_two_reports(report, tmp_path):
    fig = plots.per_class_accuracy(report)
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert widths == pytest.approx([report.per_class_accuracy[lab] for lab in LABELS])
    other = Report.from_probabilities(np.eye(3)[[0, 0, 1, 2, 2, 2]], [0, 0, 1, 2, 2, 2], labels=LABELS)
    both = plots.per_class_accuracy(report, other, names=("no aug", "aug"))
    assert len(both.axes[0].patches) == 6
    legend = [t.get_text() for t in both.axes[0].get_legend().get_texts()]
    assert legend[0].startswith("no aug") and legend[1].startswith("aug (100.0%")
    _png(both, tmp_path, "pca")


def test_compare_plot_legend_never_covers_bars_and_labels_fit(report, tmp_path):
    labels = ["board_typing", "washing_machine", "crackling_fire"]
    a = Report.from_probabilities(np.eye(3)[[0, 1, 2, 2]], [0, 1, 2, 2], labels=labels)
    b = Report.from_probabilities(np.eye(3)[[0, 0, 2, 2]], [0, 1, 2, 2], labels=labels)
    fig = plots.per_class_accuracy(a, b, names=("a run with a long name", "another run"))
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ax = fig.axes[0]
    renderer = canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    axes_box = ax.get_window_extent(renderer)
    assert legend.y0 >= axes_box.y1 - 1  # above the plotting area, not over the bars
    for tick in ax.get_yticklabels():  # every class name inside the figure
        box = tick.get_window_extent(renderer)
        assert box.x0 >= 0 and tick.get_text() in labels


def test_spectrogram_duration_sets_a_common_time_scale():
    from synth import chirp

    sr, hop = 22050, 512
    S = log_mel(chirp(200, 4000, 1.0, sr), sr=sr, n_fft=1024, hop_length=hop, n_mels=32)
    fig = plots.spectrogram(S, sr=sr, hop_length=hop, duration=1.5)
    assert fig.axes[0].get_xlim() == pytest.approx((0, 1.5))
    short = plots.spectrogram(S, sr=sr, hop_length=hop, duration=0.2)  # never cuts the clip
    assert short.axes[0].get_xlim()[1] == pytest.approx(S.shape[1] * hop / sr)


def test_training_curves(tmp_path):
    rows = [{"epoch": i + 1, "loss": 1 / (i + 1), "accuracy": i / 5, "val_loss": [1, 0.8, 0.6, 0.7, 0.9][i],
             "val_accuracy": 0.1 * i} for i in range(5)]
    fig = plots.training_curves(rows)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 3  # training, validation, best-epoch marker
    assert loss_ax.lines[2].get_xdata()[0] == 3  # lowest val_loss at epoch 3
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), [r["accuracy"] for r in rows])
    keras_like = plots.training_curves({"loss": [1.0, 0.5], "accuracy": [0.2, 0.6]})
    assert len(keras_like.axes[0].lines) == 1
    _png(fig, tmp_path, "curves")
    with pytest.raises(ParameterError):
        plots.training_curves([])
