"""Scoring detected events against a reference: event-based F1 on onsets (:func:`event_f1`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from soundkit.listen.events import Event

__all__ = ["event_f1"]


def event_f1(reference: Sequence[Event | tuple], estimated: Sequence[Event | tuple], *, collar: float = 0.5) -> dict[str, Any]:
    """Event-based precision, recall and F1 on onsets (the DCASE event-based metric with
    ``evaluate_offset=False``): an estimated event is a hit when it has the label of a reference
    event whose onset is within ``collar`` seconds of its own; each reference matches at most one
    estimate (a maximum matching per label, scipy's linear_sum_assignment).

    Parameters
    ----------
    reference, estimated : sequences of Event or (label, start, end)

    Returns
    -------
    dict: {"f1", "precision", "recall", "tp", "fp", "fn", "per_label": {label: {"f1", "tp", "fp", "fn"}},
    "onset_errors": [estimated - reference onset of each hit]}
    """
    from scipy.optimize import linear_sum_assignment

    def norm(events):
        return [(e.label, float(e.start)) if isinstance(e, Event) else (str(e[0]), float(e[1])) for e in events]

    ref, est = norm(reference), norm(estimated)
    per: dict[str, dict[str, float]] = {}
    errors: list[float] = []
    for lab in sorted({r[0] for r in ref} | {e[0] for e in est}):
        r = np.array([t for x, t in ref if x == lab])
        e = np.array([t for x, t in est if x == lab])
        tp = 0
        if len(r) and len(e):
            diff = np.abs(e[:, None] - r[None, :])
            rows, cols = linear_sum_assignment(np.where(diff <= collar, diff - 1e6, 0.0))
            hits = diff[rows, cols] <= collar
            tp = int(hits.sum())
            errors += list((e[rows] - r[cols])[hits])
        fp, fn = len(e) - tp, len(r) - tp
        per[lab] = {"tp": tp, "fp": fp, "fn": fn, "f1": 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0}
    tp = sum(v["tp"] for v in per.values())
    fp = sum(v["fp"] for v in per.values())
    fn = sum(v["fn"] for v in per.values())
    return {"f1": 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "per_label": per, "onset_errors": [round(float(x), 3) for x in errors]}
