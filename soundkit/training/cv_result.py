"""The outcome of cross-validation: :class:`CVResult` (per-fold and pooled accuracy, its interval,
the folds' reports) and :func:`_pool_reports`, the one Report over every fold's test clips."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from soundkit.evaluation import Report


@dataclass
class CVResult:
    """Cross-validation outcome. ``fold_accuracy`` maps test fold -> clip accuracy.

    ``pooled_accuracy`` counts every test clip of every fold once (correct / tested) and carries a
    95 % Wilson interval (``accuracy_ci``) over ``n_test`` clips; ``fold_spread`` gives the folds'
    min/median/max/std. ``notes`` maps fold -> what that fold could not evaluate (e.g. a label with
    no training clips there); ``warnings`` lists them all.
    """

    fold_accuracy: dict[int, float]
    mean_accuracy: float
    std_accuracy: float
    seconds: float
    reports: dict[int, Report] = field(default_factory=dict)
    fold_seconds: dict[int, float] = field(default_factory=dict)
    notes: dict[int, list[str]] = field(default_factory=dict)

    @property
    def n_test(self) -> int:
        return sum(r.n_test for r in self.reports.values())

    @property
    def n_correct(self) -> int:
        return sum(r.n_correct for r in self.reports.values())

    @property
    def pooled_accuracy(self) -> float:
        return self.n_correct / self.n_test if self.n_test else float("nan")

    @property
    def accuracy_ci(self) -> tuple[float, float]:
        from soundkit.stats import wilson_interval

        return wilson_interval(self.n_correct, self.n_test)

    @property
    def warnings(self) -> list[str]:
        return [f"fold {f}: {n}" for f, ns in sorted(self.notes.items()) for n in ns]

    def describe(self) -> str:
        """'87.5% (95% CI 76-94%, 40 test clips)' for the pooled accuracy."""
        from soundkit.stats import format_accuracy

        return format_accuracy(self.pooled_accuracy, self.n_test, ci=self.accuracy_ci)

    def pooled_report(self) -> Report:
        """One Report over every fold's test clips (confusion matrices summed, per-class metrics of
        the pooled predictions, each clip with its ``fold``)."""
        return _pool_reports(self.reports)

    def clips(self) -> list[dict[str, Any]]:
        """Every tested clip with its fold: ``{"fold", "id", "path", "true", "predicted", "probability", "probabilities"}``."""
        return [{"fold": f, **c} for f, r in sorted(self.reports.items()) for c in r.clips]

    def to_dict(self) -> dict[str, Any]:
        from soundkit.stats import fold_spread

        return {
            "fold_accuracy": {str(k): v for k, v in self.fold_accuracy.items()},
            "mean_accuracy": self.mean_accuracy,
            "std_accuracy": self.std_accuracy,
            "pooled_accuracy": self.pooled_accuracy,
            "accuracy_ci": list(self.accuracy_ci),
            "n_test": self.n_test,
            "fold_spread": fold_spread(list(self.fold_accuracy.values())) if self.fold_accuracy else None,
            "fold_n_test": {str(k): r.n_test for k, r in self.reports.items()},
            "notes": {str(k): list(v) for k, v in self.notes.items()},
            "warnings": self.warnings,
            "seconds": self.seconds,
            "fold_seconds": {str(k): v for k, v in self.fold_seconds.items()},
            "clips": self.clips(),
            "reports": {str(k): r.to_dict() for k, r in self.reports.items()},
        }


def _pool_reports(reports: dict[int, Report]) -> Report:
    """One Report over the test clips of every fold (each clip tested once, in its fold)."""
    from sklearn import metrics

    labels = next(iter(reports.values())).labels
    index = {lab: i for i, lab in enumerate(labels)}
    clips = [{**c, "fold": f} for f, r in sorted(reports.items()) for c in r.clips]
    y = np.array([index[c["true"]] for c in clips])
    pred = np.array([index[c["predicted"]] for c in clips])
    idx = np.arange(len(labels))
    prec, rec, f1, sup = metrics.precision_recall_fscore_support(y, pred, labels=idx, zero_division=0)
    cm = np.sum([np.asarray(r.confusion_matrix) for r in reports.values()], axis=0)
    return Report(
        accuracy=float((y == pred).mean()),
        per_class_accuracy={lab: float(v) for lab, v in zip(labels, rec, strict=True)},
        precision={lab: float(v) for lab, v in zip(labels, prec, strict=True)},
        recall={lab: float(v) for lab, v in zip(labels, rec, strict=True)},
        f1={lab: float(v) for lab, v in zip(labels, f1, strict=True)},
        support={lab: int(v) for lab, v in zip(labels, sup, strict=True)},
        confusion_matrix=cm.astype(int).tolist(),
        labels=list(labels),
        n_test=len(clips),
        misclassified=[{**m, "fold": f} for f, r in sorted(reports.items()) for m in r.misclassified],
        clips=clips,
        notes=[f"fold {f}: {n}" for f, r in sorted(reports.items()) for n in r.notes],
    )
