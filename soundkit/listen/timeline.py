"""Events of a whole recording classified at once: its windows laid on the time axis
(:func:`tile_spans`) and run through the event detector (:func:`timeline_events`), onsets placed
from the audio when it is given (``predict --events``, the Classify page, region suggestions)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from soundkit.errors import ParameterError
from soundkit.listen.events import Event, detect_events
from soundkit.listen.onsets import energy_onset

__all__ = ["tile_spans", "timeline_events"]


def tile_spans(starts: np.ndarray, ends: np.ndarray, *, duration: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each window's own slice of time: from the midpoint with the previous window's centre to the
    midpoint with the next one's (so overlapping windows tile the axis), clipped to [0, duration]."""
    starts, ends = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    if len(starts) == 0:
        return starts, ends
    c = (starts + ends) / 2
    if len(c) == 1:
        lo, hi = starts.copy(), ends.copy()
    else:
        step = float(np.median(np.diff(c)))  # the hop; a longer gap (left-out silence) stays a gap
        half = np.minimum(np.diff(c), step) / 2
        # the first window also stands for the stream's beginning, the last for its end
        lo = np.concatenate([[starts[0]], c[1:] - half])
        hi = np.concatenate([c[:-1] + half, [ends[-1]]])
    if duration is not None:
        lo, hi = np.clip(lo, 0, duration), np.clip(hi, 0, duration)
    return lo, hi


def timeline_events(prediction: Any, *, smooth: int = 1, duration: float | None = None, y: np.ndarray | None = None,
                    sr: int | None = None, onset_lookback: float = 3.0, **kwargs: Any) -> list[Event]:
    """Events of a :class:`soundkit.predict.Prediction` (its per-window probabilities), e.g. a long
    recording classified at once (``predict --events``, the Classify page).

    Windows are first laid on the time axis with :func:`tile_spans`; ``smooth`` > 1 averages each
    window with the ``smooth - 1`` before it, as the live listener does. Given the audio (``y`` at
    ``sr``, as classified), each event's start is placed from it as the :class:`Listener`'s
    ``onset="energy"`` does: moved back over the windows of the smoothing whose own probability was at
    or above ``off``, then to the start of the sound those windows heard (:func:`energy_onset`, in
    the audio from ``onset_lookback`` seconds before them).
    """
    P = np.asarray(prediction.window_probabilities, dtype=np.float64)
    if len(P) == 0:
        return []
    sounding = getattr(prediction, "window_sounding", None)
    if sounding is not None:  # silent windows and padding make no event
        P = P * np.asarray(sounding, dtype=bool)[:, None]
    starts = np.array([s.start for s in prediction.timeline])
    ends = np.array([s.end for s in prediction.timeline])
    lo, hi = tile_spans(starts, ends, duration=duration)
    raw = P
    if smooth > 1:
        c = np.cumsum(np.vstack([np.zeros((1, P.shape[1])), P]), axis=0)
        idx = np.arange(1, len(P) + 1)
        first = np.maximum(idx - smooth, 0)
        P = (c[idx] - c[first]) / (idx - first)[:, None]
    events = detect_events(P, lo, hi, prediction.labels, **kwargs)
    if y is None:
        return events
    if sr is None or not onset_lookback >= 0:
        raise ParameterError(f"placing onsets from the audio needs its sr and onset_lookback >= 0, got {sr!r}, {onset_lookback!r}")
    off = kwargs.get("off")
    off = 0.6 * kwargs.get("on", 0.5) if off is None else off
    thresholds = kwargs.get("thresholds") or {}
    labels = list(prediction.labels)
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    one_at_a_time = kwargs.get("labeling") == "event"
    ended: dict[str, float] = {}  # label ("" with one sound at a time) -> end of its last event
    out = []
    for ev in sorted(events, key=lambda e: e.start):
        key = "" if one_at_a_time else ev.label
        start = _energy_start(ev, labels.index(ev.label), y, sr=sr, raw=raw, lo=lo, starts=starts, ends=ends,
                              smooth=smooth, off=thresholds.get(ev.label, (None, off))[1], lookback=onset_lookback)
        if start is not None:  # never inside the event before it (a sound heard again after a gap)
            ev = replace(ev, start=max(min(start, ev.end), min(ended.get(key, -np.inf), ev.start)))
        ended[key] = ev.end
        out.append(ev)
    return sorted(out, key=lambda e: e.start)


def _energy_start(ev: Event, k: int, y: np.ndarray, *, sr: int, raw: np.ndarray, lo: np.ndarray, starts: np.ndarray,
                  ends: np.ndarray, smooth: int, off: float, lookback: float) -> float | None:
    """Where the sound of ``ev`` (column ``k``) began, from the audio the windows that opened it heard."""
    i = int(np.searchsorted(lo, ev.start + 1e-9)) - 1  # the window that opened it
    if i < 0 or i >= len(lo) or abs(lo[i] - ev.start) > 1e-6:
        return None
    j = i
    while j > max(0, i - smooth + 1) and raw[j - 1, k] >= off:
        j -= 1
    heard = (float(starts[j]), float(ends[i]))
    a = max(0, int((heard[0] - lookback) * sr))
    t = energy_onset(y[a : int(heard[1] * sr)], sr=sr, at=(heard[0] - a / sr, heard[1] - a / sr))
    return None if t is None else a / sr + t
