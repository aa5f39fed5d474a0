"""Events: :class:`Event`, the :class:`EventDetector` (hysteresis per label, or segment then
classify) fed one window at a time, and :func:`detect_events` for a whole probability timeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from soundkit.errors import ParameterError

__all__ = ["Event", "EventDetector", "detect_events", "NON_EVENT_LABELS", "LABELINGS"]

#: Labels that never make an event (the optional background class, the open-set answer, AudioSet's silence).
NON_EVENT_LABELS = ("_background_", "unknown", "Silence")

#: How an event gets its label (:class:`EventDetector`'s ``labeling``).
LABELINGS = ("window", "event")

# -- events ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    """One detected sound: a label from ``start`` to ``end`` (seconds) with its peak and mean
    (smoothed) probability over the windows it spans. ``confidence`` is the mean."""

    label: str
    start: float
    end: float
    peak: float
    mean: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def confidence(self) -> float:
        return self.mean

    def to_dict(self) -> dict[str, Any]:
        """{"label", "start", "end", "duration", "confidence", "peak", "mean"} (seconds rounded to ms)."""
        return {"label": self.label, "start": round(self.start, 3), "end": round(self.end, 3),
                "duration": round(self.duration, 3), "confidence": round(self.mean, 4),
                "peak": round(self.peak, 4), "mean": round(self.mean, 4)}


@dataclass
class _Open:
    start: float
    end: float
    values: list[float] = field(default_factory=list)
    below_since: float | None = None  # end of the last window at or above ``off`` once it dropped


@dataclass
class _OpenSound:
    """The open event of ``labeling="event"``: every window's probabilities while it sounded."""

    start: float
    end: float
    rows: list[np.ndarray] = field(default_factory=list)
    below_since: float | None = None


class EventDetector:
    """Hysteresis per label on a probability timeline, fed one window at a time.

    Parameters
    ----------
    labels : sequence of str
        The probability columns' labels.
    on : float
        A label's event opens when its probability reaches ``on``.
    off : float, optional
        ... and closes when it falls below ``off`` (default ``0.6 * on``); ``off <= on``.
    min_duration : float
        Events shorter than this (seconds) are dropped.
    merge_gap : float
        Two events of one label separated by at most this many seconds are one event.
    thresholds : dict label -> (on, off), optional
        Per-label thresholds overriding ``on`` / ``off``.
    ignore : sequence of str
        Labels that never make events (default :data:`NON_EVENT_LABELS`).
    refine_onset : callable(label_index, start) -> float, optional
        Called when an event opens with its label's column and the opening window's start; returns
        the event's start (the :class:`Listener` moves it back to where the sound began).
    labeling : {"window", "event"}
        "window" (default here): hysteresis per label, each label's windows make its own events (a
        sound whose windows are heard as two classes makes two events). "event": segment, then
        classify - an event is open while any event label is above its thresholds (hysteresis on
        the activity, the same ``on``/``off``/``min_duration``/``merge_gap``), and its label is the
        argmax of the mean probabilities over all its windows, updated while it is open and final
        when it ends; a change of the leading label inside one sound does not split it. After a dip
        shorter than ``merge_gap`` the event goes on only if the window that comes back leads with
        the event's label; otherwise a new event begins.

    Feed :meth:`update` with each window's span and probabilities in time order; it returns the
    events that ended. :meth:`flush` ends the open ones (end of the stream). :attr:`active` maps
    each label whose event is open to (start, current peak) ("event": the open event's current label).
    """

    def __init__(self, labels: Sequence[str], *, on: float = 0.5, off: float | None = None, min_duration: float = 0.25,
                 merge_gap: float = 0.5, thresholds: dict[str, tuple[float, float]] | None = None,
                 ignore: Sequence[str] = NON_EVENT_LABELS,
                 refine_onset: Callable[[int, float], float] | None = None, labeling: str = "window") -> None:
        if labeling not in LABELINGS:
            raise ParameterError(f"labeling must be one of {LABELINGS}, got {labeling!r}")
        self.labeling = labeling
        off = 0.6 * on if off is None else off
        _check_thresholds(on, off)
        if min_duration < 0 or merge_gap < 0:
            raise ParameterError(f"min_duration and merge_gap must be >= 0, got {min_duration}, {merge_gap}")
        self.labels = list(labels)
        self.on, self.off, self.min_duration, self.merge_gap = float(on), float(off), float(min_duration), float(merge_gap)
        self.thresholds = {}
        for lab, (a, b) in (thresholds or {}).items():
            if lab not in self.labels:
                raise ParameterError(f"threshold for unknown label {lab!r}")
            _check_thresholds(a, b)
            self.thresholds[lab] = (float(a), float(b))
        self._on = np.array([self.thresholds.get(lab, (self.on, self.off))[0] for lab in self.labels])
        self._off = np.array([self.thresholds.get(lab, (self.on, self.off))[1] for lab in self.labels])
        skip = set(ignore)
        self._event_cols = np.array([lab not in skip for lab in self.labels])
        self._open: dict[int, _Open] = {}
        self._sound: _OpenSound | None = None
        self._last_end = 0.0
        self._ended: dict[int, float] = {}  # column (-1: any sound, labeling "event") -> end of its last event
        self.refine_onset = refine_onset

    @property
    def active(self) -> dict[str, tuple[float, float]]:
        if self.labeling == "event":
            o = self._sound
            if o is None or o.below_since is not None:
                return {}
            k = self._sound_label(o)
            return {self.labels[k]: (o.start, float(np.max(np.asarray(o.rows)[:, k])))}
        return {self.labels[k]: (o.start, max(o.values)) for k, o in self._open.items() if o.below_since is None}

    def _sound_label(self, o: _OpenSound) -> int:
        """The column of the open sound's label: argmax of its windows' mean, over event labels."""
        m = np.mean(o.rows, axis=0)
        return int(np.argmax(np.where(self._event_cols, m, -np.inf)))

    def _lead(self, p: np.ndarray, mask: np.ndarray) -> int:
        return int(np.argmax(np.where(mask, p, -np.inf)))

    def _update_sound(self, start: float, end: float, p: np.ndarray) -> list[Event]:
        closed: list[Event] = []
        over_on = self._event_cols & (p >= self._on)
        over_off = self._event_cols & (p >= self._off)
        o = self._sound
        if o is not None:
            if o.below_since is None and start - o.end > self.merge_gap + 1e-9:
                o.below_since = o.end  # a gap in the timeline ends it
            if o.below_since is not None and start - o.below_since > self.merge_gap + 1e-9:
                closed += self._close_sound()
            elif o.below_since is None and over_off.any():
                o.end = end
                o.rows.append(p)
            elif o.below_since is not None and over_on.any():
                if self._lead(p, over_on) == self._sound_label(o):  # the same sound after a dip
                    o.end, o.below_since = end, None
                    o.rows.append(p)
                else:  # another sound: this one ended at the dip
                    closed += self._close_sound()
            elif o.below_since is None:
                o.below_since = o.end
                if self.merge_gap == 0:
                    closed += self._close_sound()
        if self._sound is None and over_on.any():
            k = self._lead(p, over_on)
            t0 = start if self.refine_onset is None else self._refined(k, -1, start, end)
            self._sound = _OpenSound(t0, end, [p])
        return closed

    def _refined(self, k: int, key: int, start: float, end: float) -> float:
        """``refine_onset``'s start for column ``k``, within (end of the last event of ``key``, ``end``]:
        a sound heard again after a gap never starts inside the event before it."""
        t0 = min(float(self.refine_onset(k, start)), end)
        return max(t0, min(self._ended.get(key, -np.inf), start))

    def _close_sound(self) -> list[Event]:
        o, self._sound = self._sound, None
        if o is not None:
            self._ended[-1] = o.end
        if o is None or o.end - o.start < self.min_duration - 1e-9:
            return []
        k = self._sound_label(o)
        col = np.asarray(o.rows)[:, k]
        return [Event(self.labels[k], o.start, o.end, float(col.max()), float(col.mean()))]

    def update(self, start: float, end: float, probabilities: np.ndarray) -> list[Event]:
        """Add one window (its span in seconds and probabilities, shape (n_labels,)); return closed events."""
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        if p.shape[0] != len(self.labels):
            raise ParameterError(f"expected {len(self.labels)} probabilities, got {p.shape[0]}")
        self._last_end = float(end)
        if self.labeling == "event":
            return self._update_sound(float(start), float(end), p)
        closed: list[Event] = []
        for k in list(self._open):
            o = self._open[k]
            if o.below_since is None and float(start) - o.end > self.merge_gap + 1e-9:
                o.below_since = o.end  # a gap in the timeline (e.g. silent frames left out) ends it
            if o.below_since is not None and float(start) - o.below_since > self.merge_gap + 1e-9:
                closed.extend(self._close(k))  # too long a gap: a new event may open below
            elif p[k] >= self._off[k] and (o.below_since is None or p[k] >= self._on[k]):
                o.end, o.below_since = float(end), None
                o.values.append(float(p[k]))
            elif o.below_since is None:
                o.below_since = o.end
                if self.merge_gap == 0:
                    closed.extend(self._close(k))
        for k in np.flatnonzero(self._event_cols & (p >= self._on)):
            if int(k) not in self._open:
                t0 = float(start) if self.refine_onset is None else self._refined(int(k), int(k), float(start), float(end))
                self._open[int(k)] = _Open(t0, float(end), [float(p[k])])
        return closed

    def _close(self, k: int) -> list[Event]:
        o = self._open.pop(k)
        self._ended[k] = o.end
        if o.end - o.start < self.min_duration - 1e-9:
            return []
        vals = np.asarray(o.values)
        return [Event(self.labels[k], o.start, o.end, float(vals.max()), float(vals.mean()))]

    def flush(self) -> list[Event]:
        """Close every open event (end of stream); return them in start order."""
        out: list[Event] = self._close_sound()
        for k in list(self._open):
            out.extend(self._close(k))
        return sorted(out, key=lambda e: e.start)

    def reset(self) -> None:
        self._open.clear()
        self._sound = None
        self._ended.clear()


def _check_thresholds(on: float, off: float) -> None:
    if not (0 < on <= 1 and 0 <= off <= on):
        raise ParameterError(f"thresholds must satisfy 0 <= off <= on <= 1 and on > 0, got on={on}, off={off}")


def detect_events(probabilities: np.ndarray, starts: Sequence[float], ends: Sequence[float], labels: Sequence[str],
                  **kwargs: Any) -> list[Event]:
    """Events of a whole probability timeline (the offline form of :class:`EventDetector`).

    Parameters
    ----------
    probabilities : np.ndarray, shape (n_windows, n_labels)
    starts, ends : sequences of float, shape (n_windows,)
        Each window's span in seconds, in time order.
    labels : sequence of str
    **kwargs
        :class:`EventDetector` parameters (``on``, ``off``, ``min_duration``, ``merge_gap``, ...).

    Returns
    -------
    list of Event, by start time
    """
    P = np.asarray(probabilities, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != len(labels) or len(starts) != len(P) or len(ends) != len(P):
        raise ParameterError(f"probabilities must have shape (n_windows, {len(labels)}) matching starts and ends, got {P.shape}")
    det = EventDetector(labels, **kwargs)
    events: list[Event] = []
    for a, b, p in zip(starts, ends, P, strict=True):
        events.extend(det.update(float(a), float(b), p))
    events.extend(det.flush())
    return sorted(events, key=lambda e: (e.start, e.label))
