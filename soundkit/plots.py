"""Matplotlib figures for the app and the CLI: spectrograms, confusion matrices, per-class
accuracy and training curves.

Every function returns a new :class:`matplotlib.figure.Figure` built without pyplot, so no global
figure state is created or leaked (callers save it with ``fig.savefig`` or hand it to
``st.pyplot``). Nothing is imported until a function is called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from soundkit.errors import ParameterError

__all__ = ["spectrogram", "confusion_matrix", "per_class_accuracy", "training_curves"]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def spectrogram(
    S: np.ndarray,
    *,
    sr: int,
    hop_length: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    y: np.ndarray | None = None,
    title: str | None = None,
    duration: float | None = None,
):
    """A log-mel spectrogram with time and mel-frequency axes and a dB colour bar.

    Parameters
    ----------
    S : np.ndarray, shape (n_mels, n_frames)
        Log-mel in dB (:func:`soundkit.features.log_mel`).
    sr, hop_length : int
        How ``S`` was computed (they set the time and frequency axes).
    fmin, fmax : float
        Frequency range of the mel bands (``fmax`` default sr / 2).
    y : np.ndarray, shape (n,), optional
        The waveform, drawn above the spectrogram on the same time axis.
    duration : float, optional
        Seconds the time axis spans (at least the clip's own length): two clips drawn with the same
        ``duration`` (an original and its stretched copy) take widths proportional to their lengths.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import librosa.display

    S = np.asarray(S)
    if S.ndim != 2 or S.size == 0:
        raise ParameterError(f"spectrogram expects a non-empty array of shape (n_mels, n_frames), got {S.shape}")
    if sr <= 0 or hop_length <= 0:
        raise ParameterError(f"sr and hop_length must be positive, got sr={sr}, hop_length={hop_length}")
    fig = _figure(9, 5.5 if y is not None else 3.8)
    if y is not None:
        ax_w, ax = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2.5))
        librosa.display.waveshow(np.asarray(y, dtype=np.float32), sr=sr, ax=ax_w, color="tab:blue")
        ax_w.set(ylabel="Amplitude", xlabel=None)
        ax_w.label_outer()
    else:
        ax = fig.subplots()
    img = librosa.display.specshow(
        S, sr=sr, hop_length=hop_length, x_axis="time", y_axis="mel", fmin=fmin, fmax=fmax or sr / 2, ax=ax, cmap="magma"
    )
    ax.set(xlabel="Time (s)", ylabel="Frequency (Hz)")
    if duration is not None:
        ax.set_xlim(0, max(float(duration), S.shape[1] * hop_length / sr))
    fig.colorbar(img, ax=ax, format="%+2.0f dB", label="dB")
    if title:
        fig.suptitle(title)
    return fig


def _report_dict(report: Any) -> dict[str, Any]:
    d = report.to_dict() if hasattr(report, "to_dict") else report
    if not isinstance(d, Mapping) or "labels" not in d:
        raise ParameterError("expected a soundkit.evaluation.Report or its report.json dict")
    return dict(d)


def confusion_matrix(report: Any, *, normalize: bool = False, title: str | None = None):
    """The report's confusion matrix as a heat map (rows true labels, columns predicted).

    Parameters
    ----------
    report : soundkit.evaluation.Report or dict
    normalize : bool
        Show each row as fractions of the true class instead of clip counts.
    """
    d = _report_dict(report)
    labels = list(d["labels"])
    cm = np.asarray(d["confusion_matrix"], dtype=np.float64)
    n = len(labels)
    if cm.shape != (n, n):
        raise ParameterError(f"confusion matrix has shape {cm.shape}, expected ({n}, {n})")
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = max(4.0, 0.55 * n + 2.5)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    img = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else max(1.0, cm.max()))
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set(xlabel="Predicted", ylabel="True", title=title or f"Confusion matrix (accuracy {float(d['accuracy']):.1%})")
    threshold = (1 if normalize else cm.max()) / 2
    for i in range(n):
        for j in range(n):
            v = cm[i, j]
            if v == 0:
                continue
            ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center", fontsize=8,
                    color="white" if v > threshold else "black")
    fig.colorbar(img, ax=ax, shrink=0.8)
    return fig


def per_class_accuracy(report: Any, other: Any | None = None, *, names: Sequence[str] = ("A", "B"), title: str | None = None):
    """Per-class accuracy (recall) as horizontal bars; two reports side by side when ``other`` is given.

    Parameters
    ----------
    report, other : soundkit.evaluation.Report or dict
        ``other`` is compared class by class (labels of both, sorted).
    names : (str, str)
        Legend entries for ``report`` and ``other``.
    """
    d = _report_dict(report)
    reports = [d] if other is None else [d, _report_dict(other)]
    labels = sorted(set().union(*(r["labels"] for r in reports))) if other is not None else list(d["labels"])
    n = len(labels)
    fig = _figure(7.5, max(2.5, 0.38 * n * len(reports) + 1.2))
    ax = fig.subplots()
    height = 0.8 / len(reports)
    pos = np.arange(n)
    colors = ("tab:blue", "tab:orange")
    for k, r in enumerate(reports):
        vals = [float(r["per_class_accuracy"].get(lab, np.nan)) for lab in labels]
        offset = (k - (len(reports) - 1) / 2) * height
        label = f"{names[k]} ({float(r['accuracy']):.1%})" if other is not None else None
        bars = ax.barh(pos + offset, np.nan_to_num(vals), height=height, color=colors[k], label=label)
        ax.bar_label(bars, labels=["n/a" if np.isnan(v) else f"{v:.0%}" for v in vals], padding=2, fontsize=8)
    ax.set_yticks(pos, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set(xlabel="Accuracy (recall)", title=title or ("Per-class accuracy" if other is not None
                                                       else f"Per-class accuracy (overall {float(d['accuracy']):.1%})"))
    if other is not None:  # above the axes, never over the bars
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, frameon=False, fontsize=8)
        ax.set_title(ax.get_title(), pad=24)
    return fig


def _history_columns(history: Any) -> dict[str, np.ndarray]:
    """Columns from a list of per-epoch dicts (Run.load_history) or a dict of lists (keras History)."""
    h = getattr(history, "history", history)
    if isinstance(h, Mapping):
        return {k: np.asarray(v, dtype=np.float64) for k, v in h.items()}
    rows = list(h)
    keys = sorted({k for r in rows for k in r})
    return {k: np.asarray([r.get(k, np.nan) for r in rows], dtype=np.float64) for k in keys}


def training_curves(history: Any, *, title: str | None = None):
    """Loss and accuracy per epoch, training and validation.

    Parameters
    ----------
    history : list of dict, dict of lists, or keras History
        Rows as :meth:`soundkit.runs.Run.load_history` returns them (``epoch``, ``loss``,
        ``accuracy``, ``val_loss``, ``val_accuracy``).
    """
    cols = _history_columns(history)
    if not cols or "loss" not in cols or len(cols["loss"]) == 0:
        raise ParameterError("training history is empty or has no 'loss' column")
    n = len(cols["loss"])
    epochs = cols.get("epoch", np.arange(1, n + 1))
    fig = _figure(9, 3.4)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, style, name in ((metric, "-", "training"), (f"val_{metric}", "--", "validation")):
            if key in cols and np.isfinite(cols[key]).any():
                ax.plot(epochs, cols[key], style, marker="o", markersize=3, label=name)
        if metric == "loss" and "val_loss" in cols and np.isfinite(cols["val_loss"]).any():
            best = int(np.nanargmin(cols["val_loss"]))
            ax.axvline(epochs[best], color="grey", lw=0.8, ls=":", label=f"best epoch {int(epochs[best])}")
        ax.set(xlabel="Epoch", ylabel=metric.capitalize(), title=metric.capitalize())
        if metric == "accuracy":
            ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
