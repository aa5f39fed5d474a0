"""Evaluation reports: accuracy, per-class metrics, confusion matrix and misclassified clips.

Metrics come from :mod:`sklearn.metrics`. A :class:`Report` round-trips through the report.json
schema of docs/ARCHITECTURE.md (:meth:`Report.to_dict` / :meth:`Report.from_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from soundkit.errors import ParameterError

__all__ = ["Report", "window_weights", "pool_windows"]

_KEYS = (
    "accuracy",
    "per_class_accuracy",
    "precision",
    "recall",
    "f1",
    "support",
    "confusion_matrix",
    "labels",
    "n_test",
    "misclassified",
)


@dataclass(frozen=True)
class Report:
    """Evaluation of a classifier on labelled clips.

    Attributes
    ----------
    accuracy : float
        Fraction of clips whose top prediction is the true label.
    per_class_accuracy : dict[str, float]
        Per-class recall (the fraction of each class's clips classified correctly).
    precision, recall, f1 : dict[str, float]
        Per-class metrics (0 where undefined).
    support : dict[str, int]
        Number of clips of each class.
    confusion_matrix : list[list[int]], shape (n_classes, n_classes)
        Rows are true labels, columns predicted labels, both in ``labels`` order.
    labels : list[str]
    n_test : int
    misclassified : list[dict]
        ``{"id", "path", "true", "predicted", "top": [{"label", "probability"}, ...]}`` per wrong clip.
    clips : list[dict]
        Every clip tested: ``{"id", "path", "true", "predicted", "probability", "probabilities"}``
        (the predicted label's probability, and every label's as ``{label: p}``), in the order given.
    notes : list[str]
        What the evaluation could not do (e.g. test clips left out because their label had no
        training clips).

    ``accuracy_ci`` (property, also in report.json) is the 95 % Wilson interval of ``accuracy`` over
    ``n_test`` clips (:func:`soundkit.stats.wilson_interval`).
    """

    accuracy: float
    per_class_accuracy: dict[str, float]
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    confusion_matrix: list[list[int]]
    labels: list[str]
    n_test: int
    misclassified: list[dict[str, Any]] = field(default_factory=list)
    clips: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_correct(self) -> int:
        return int(round(self.accuracy * self.n_test))

    @property
    def accuracy_ci(self) -> tuple[float, float]:
        """95 % Wilson interval of the accuracy over the ``n_test`` clips."""
        from soundkit.stats import wilson_interval

        return wilson_interval(self.n_correct, self.n_test)

    def describe(self) -> str:
        """'87.5% (95% CI 76-94%, 40 test clips)'."""
        from soundkit.stats import format_accuracy

        return format_accuracy(self.accuracy, self.n_test, ci=self.accuracy_ci)

    @classmethod
    def from_probabilities(
        cls,
        probabilities: np.ndarray,
        y_true: Sequence[int] | np.ndarray,
        *,
        labels: Sequence[str],
        ids: Sequence[str] | None = None,
        paths: Sequence[str] | None = None,
        top_k: int = 3,
        notes: Sequence[str] = (),
    ) -> Report:
        """Build a report from class probabilities.

        Parameters
        ----------
        probabilities : np.ndarray, shape (n_clips, n_classes)
            One row per clip (for example window probabilities averaged over the clip).
        y_true : array of int, shape (n_clips,)
            Index of each clip's true label in ``labels``.
        labels : sequence of str, length n_classes
        ids, paths : sequences of str, length n_clips, optional
            Name the misclassified clips.
        top_k : int
            Predictions listed for each misclassified clip.
        notes : sequence of str
            Kept as :attr:`notes`.
        """
        from sklearn import metrics

        P = np.asarray(probabilities, dtype=np.float64)
        y = np.asarray(y_true, dtype=np.int64)
        labels = list(labels)
        if P.ndim != 2 or P.shape[1] != len(labels):
            raise ParameterError(f"probabilities must have shape (n_clips, {len(labels)}), got {P.shape}")
        if y.shape != (P.shape[0],):
            raise ParameterError(f"y_true must have shape ({P.shape[0]},), got {y.shape}")
        if P.shape[0] == 0:
            raise ParameterError("cannot evaluate on zero clips")
        if y.min() < 0 or y.max() >= len(labels):
            raise ParameterError(f"y_true holds label indices outside 0..{len(labels) - 1}")
        for name, seq in (("ids", ids), ("paths", paths)):
            if seq is not None and len(seq) != P.shape[0]:
                raise ParameterError(f"{name} must have {P.shape[0]} entries, got {len(seq)}")
        if top_k < 1:
            raise ParameterError(f"top_k must be >= 1, got {top_k}")
        pred = P.argmax(axis=1)
        idx = np.arange(len(labels))
        prec, rec, f1, sup = metrics.precision_recall_fscore_support(y, pred, labels=idx, zero_division=0)
        cm = metrics.confusion_matrix(y, pred, labels=idx)
        wrong = []
        k = min(top_k, len(labels))
        for i in np.flatnonzero(pred != y):
            order = np.argsort(-P[i], kind="stable")[:k]
            wrong.append(
                {
                    "id": str(ids[i]) if ids is not None else str(i),
                    "path": str(paths[i]) if paths is not None else "",
                    "true": labels[y[i]],
                    "predicted": labels[pred[i]],
                    "top": [{"label": labels[j], "probability": round(float(P[i, j]), 6)} for j in order],
                }
            )
        tested = [
            {
                "id": str(ids[i]) if ids is not None else str(i),
                "path": str(paths[i]) if paths is not None else "",
                "true": labels[y[i]],
                "predicted": labels[pred[i]],
                "probability": round(float(P[i, pred[i]]), 6),
                "probabilities": {lab: round(float(P[i, j]), 6) for j, lab in enumerate(labels)},
            }
            for i in range(P.shape[0])
        ]
        # per-class accuracy is recall; a class absent from the test set gets 0 (support tells)
        return cls(
            accuracy=float(metrics.accuracy_score(y, pred)),
            per_class_accuracy={lab: float(r) for lab, r in zip(labels, rec, strict=True)},
            precision={lab: float(v) for lab, v in zip(labels, prec, strict=True)},
            recall={lab: float(v) for lab, v in zip(labels, rec, strict=True)},
            f1={lab: float(v) for lab, v in zip(labels, f1, strict=True)},
            support={lab: int(v) for lab, v in zip(labels, sup, strict=True)},
            confusion_matrix=cm.astype(int).tolist(),
            labels=labels,
            n_test=int(P.shape[0]),
            misclassified=wrong,
            clips=tested,
            notes=[str(n) for n in notes],
        )

    def to_dict(self) -> dict[str, Any]:
        """The report.json object (keys as in docs/ARCHITECTURE.md)."""
        return {
            "accuracy": self.accuracy,
            "accuracy_ci": list(self.accuracy_ci),
            "per_class_accuracy": dict(self.per_class_accuracy),
            "precision": dict(self.precision),
            "recall": dict(self.recall),
            "f1": dict(self.f1),
            "support": dict(self.support),
            "confusion_matrix": [list(r) for r in self.confusion_matrix],
            "labels": list(self.labels),
            "n_test": self.n_test,
            "misclassified": [dict(m) for m in self.misclassified],
            "clips": [dict(c) for c in self.clips],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Read a report.json object; ParameterError when keys are missing or inconsistent."""
        if not isinstance(data, dict):
            raise ParameterError(f"a report must be a JSON object, got {type(data).__name__}")
        missing = [k for k in _KEYS if k not in data and k != "misclassified"]
        if missing:
            raise ParameterError(f"report is missing key(s): {', '.join(missing)}")
        labels = [str(x) for x in data["labels"]]
        cm = [[int(v) for v in row] for row in data["confusion_matrix"]]
        if len(cm) != len(labels) or any(len(row) != len(labels) for row in cm):
            raise ParameterError(f"report confusion_matrix must be {len(labels)}x{len(labels)}")
        return cls(
            accuracy=float(data["accuracy"]),
            per_class_accuracy={str(k): float(v) for k, v in data["per_class_accuracy"].items()},
            precision={str(k): float(v) for k, v in data["precision"].items()},
            recall={str(k): float(v) for k, v in data["recall"].items()},
            f1={str(k): float(v) for k, v in data["f1"].items()},
            support={str(k): int(v) for k, v in data["support"].items()},
            confusion_matrix=cm,
            labels=labels,
            n_test=int(data["n_test"]),
            misclassified=list(data.get("misclassified", [])),
            clips=list(data.get("clips", [])),
            notes=[str(n) for n in data.get("notes", [])],
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Report:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ParameterError(f"invalid report JSON: {exc.msg}") from None


def window_weights(W: np.ndarray, *, floor: float = -80.0, margin: float = 1.0) -> np.ndarray:
    """Which log-mel windows of a clip count when its prediction is pooled.

    A frame is silent when every mel band is within ``margin`` dB of ``floor`` (digital silence or
    padding). Windows holding at least half as many non-silent frames as the clip's best window get
    weight 1, the others 0; a clip with no sound at all keeps every window.

    Parameters
    ----------
    W : np.ndarray, shape (n_windows, n_mels, frames)
        Windows in dB (as :func:`soundkit.features.windows` returns them).

    Returns
    -------
    np.ndarray, float32, shape (n_windows,)
    """
    W = np.asarray(W)
    if W.ndim == 4 and W.shape[-1] == 1:
        W = W[..., 0]
    if W.ndim != 3:
        raise ParameterError(f"windows must have shape (n_windows, n_mels, frames), got {W.shape}")
    active = (W.max(axis=1) > floor + margin).sum(axis=1)
    best = active.max() if active.size else 0
    if best == 0:
        return np.ones(len(W), dtype=np.float32)
    return (active >= 0.5 * best).astype(np.float32)


def pool_windows(probabilities: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """A clip's class probabilities: the weighted mean of its windows' probabilities.

    Parameters
    ----------
    probabilities : np.ndarray, shape (n_windows, n_classes)
    weights : np.ndarray, shape (n_windows,), optional
        From :func:`window_weights`; None weighs every window equally.

    Returns
    -------
    np.ndarray, shape (n_classes,)
    """
    P = np.asarray(probabilities, dtype=np.float64)
    if P.ndim != 2 or len(P) == 0:
        raise ParameterError(f"probabilities must have shape (n_windows >= 1, n_classes), got {P.shape}")
    w = np.ones(len(P)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(P),):
        raise ParameterError(f"weights must have shape ({len(P)},), got {w.shape}")
    if w.sum() <= 0:
        w = np.ones(len(P))
    return (w[:, None] * P).sum(axis=0) / w.sum()
