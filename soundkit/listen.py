"""Listening: audio blocks in, a classified window every hop, smoothed probabilities, events out.

A :class:`Listener` takes audio blocks of any size and sample rate (resampled on the fly with a
streaming soxr resampler to the model's rate; a change of rate starts a new resampler), keeps the
most recent seconds in a :class:`RingBuffer`, classifies a window every ``hop`` seconds with any
Predictor-like model (a CNN run, a YAMNet-head run, YAMNet zero-shot), averages the probabilities of
the last ``smooth`` windows and feeds them to an :class:`EventDetector`.

The :class:`EventDetector` (and :func:`detect_events` for a whole timeline at once) turns a
probability timeline into :class:`Event` objects with hysteresis per label: an event opens when a
label's probability reaches ``on``, stays open while it stays at or above ``off``, is merged with
the next one of the same label when the gap is under ``merge_gap`` seconds and is kept only when it
lasts at least ``min_duration`` seconds - so one bark is one event, not a flicker of windows.
With ``labeling="event"`` (the :class:`Listener`'s default for a YAMNet-head run) it segments, then classifies: one event
is open while any label is above the thresholds, and it takes the label of the mean of its windows,
so a sound whose first window is heard as another class is still one event with its own label.

Times are seconds of audio since the stream began. Each window stands for the ``hop``-long slice
around its centre (``centre +- hop / 2``), so consecutive windows tile the time axis.

No Streamlit here; TensorFlow is never imported (models run through LiteRT, or Keras for a run
without a ``model.tflite``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from soundkit.errors import AudioError, ParameterError

__all__ = [
    "Event",
    "Frame",
    "RingBuffer",
    "EventDetector",
    "detect_events",
    "timeline_events",
    "WindowScorer",
    "scorer_for",
    "Listener",
    "listen_array",
    "event_f1",
    "energy_onset",
]

log = logging.getLogger(__name__)

#: Labels that never make an event (the optional background class, the open-set answer, AudioSet's silence).
NON_EVENT_LABELS = ("_background_", "unknown", "Silence")

#: How an event gets its label (:class:`EventDetector`'s ``labeling``).
LABELINGS = ("window", "event")
#: The :class:`Listener`'s default labeling: "auto" is "event" for a YAMNet-head run, "window" for the
#: others (chosen on the synthetic scenes of bench/listening.py ``sed``: segment-then-classify raised
#: the YAMNet head's F1 and lowered the CNN's, whose noisy windows keep some class above ``off``).
DEFAULT_LABELING = "auto"


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
            t0 = start if self.refine_onset is None else min(float(self.refine_onset(k, start)), end)
            self._sound = _OpenSound(t0, end, [p])
        return closed

    def _close_sound(self) -> list[Event]:
        o, self._sound = self._sound, None
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
                t0 = float(start) if self.refine_onset is None else min(float(self.refine_onset(int(k), float(start))), float(end))
                self._open[int(k)] = _Open(t0, float(end), [float(p[k])])
        return closed

    def _close(self, k: int) -> list[Event]:
        o = self._open.pop(k)
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


def energy_onset(y: np.ndarray, *, sr: int, at: float | tuple[float, float] | None = None, rise_db: float = 10.0,
                 frame: float = 0.02, gap: float = 0.25) -> float | None:
    """Where a sound begins in a stretch of audio: the first point at which its short-time energy
    rises clearly above the stretch's floor.

    The floor is the 10th percentile of the energy (in dB, ``frame``-second moving average); the
    stretch is loud where the energy is at or above ``floor + max(rise_db, a quarter of the peak's
    rise)``, and loud runs separated by dips shorter than ``gap`` seconds (between the ticks of a
    clock, the syllables of a cry) are one sound. The onset is the start of the sound heard at
    ``at``: the last upward crossing at or before ``at``, or, when ``at`` is a span, the start of the
    sound holding the first loud point within it (the span of audio a classifier window heard); else
    the first crossing. Used to
    place an event's start within the windows that detected it (a window is 0.5-1 s long, and
    smoothing adds a hop or two of delay), as the onset detectors of sound event detection do.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
    sr : int
    at : float or (float, float), optional
        Seconds into ``y`` where the sound is known to be, or a span of seconds it is heard within
        (None: the first rise is the onset).
    rise_db : float
        The least rise above the floor (dB) that counts as an onset.
    frame : float
        Seconds of the energy's moving average.
    gap : float
        The shortest quiet stretch (seconds) that separates two onsets.

    Returns
    -------
    float or None
        Seconds from the start of ``y``; None when nothing rises ``rise_db`` above the floor
        (a stretch of steady noise, or too short a stretch).
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    f = max(1, int(round(frame * sr)))
    if y.size < 2 * f:
        return None
    e = 10 * np.log10(np.convolve(y * y, np.ones(f) / f, mode="valid") + 1e-12)
    floor, peak = float(np.percentile(e, 10)), float(e.max())
    if peak - floor < rise_db:
        return None
    loud = e >= floor + max(rise_db, 0.25 * (peak - floor))
    ups = np.flatnonzero(loud & ~np.concatenate([[False], loud[:-1]]))  # starts of loud runs
    if len(ups) > 1:  # ... after a quiet stretch of at least ``gap``
        downs = np.flatnonzero(~loud & np.concatenate([[True], loud[:-1]]))  # starts of quiet runs
        prev_down = np.searchsorted(downs, ups) - 1
        first = downs[np.maximum(prev_down, 0)]
        quiet = np.where((prev_down >= 0) & (first > 0), ups - first, len(e))  # the stretch began quiet: enough
        ups = ups[quiet >= max(1, int(round(gap * sr)))]
    i = int(ups[0])
    if at is not None:
        if isinstance(at, tuple):  # the first loud point within the span (else its end)
            a, b = (min(max(0, int(round(t * sr)) - f // 2), len(e)) for t in at)
            inside = np.flatnonzero(loud[a:b])
            at_i = a + int(inside[0]) if len(inside) else b
        else:
            at_i = max(0, int(round(at * sr)) - f // 2)
        before = ups[ups <= at_i]
        i = int(before[-1]) if len(before) else i
    return (i + f // 2) / sr


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
    out = []
    for ev in events:
        k = labels.index(ev.label)
        i = int(np.searchsorted(lo, ev.start + 1e-9)) - 1  # the window that opened it
        if i < 0 or i >= len(lo) or abs(lo[i] - ev.start) > 1e-6:
            out.append(ev)
            continue
        j, k_off = i, thresholds.get(ev.label, (None, off))[1]
        while j > max(0, i - smooth + 1) and raw[j - 1, k] >= k_off:
            j -= 1
        heard = (float(starts[j]), float(ends[i]))
        a = max(0, int((heard[0] - onset_lookback) * sr))
        t = energy_onset(y[a : int(heard[1] * sr)], sr=sr, at=(heard[0] - a / sr, heard[1] - a / sr))
        if t is not None:
            ev = replace(ev, start=min(a / sr + t, ev.end))
        out.append(ev)
    return sorted(out, key=lambda e: e.start)


# -- the ring buffer ---------------------------------------------------------------------------------

class RingBuffer:
    """The last ``capacity`` samples of a stream (float32), with the count of all samples written.

    :meth:`write` appends a block of any length; :meth:`read` returns the samples between two
    absolute positions (zeros for positions before the stream began; positions older than the
    buffer holds raise ParameterError).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ParameterError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._data = np.zeros(self.capacity, dtype=np.float32)
        self.written = 0  # samples written since the start

    def write(self, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        tail = y[-self.capacity:]
        first = (self.written + y.size - tail.size) % self.capacity  # position p lives at p % capacity
        n1 = min(tail.size, self.capacity - first)
        self._data[first : first + n1] = tail[:n1]
        self._data[: tail.size - n1] = tail[n1:]
        self.written += y.size

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples at absolute positions [start, stop), shape (stop - start,)."""
        if stop > self.written or stop < start:
            raise ParameterError(f"cannot read [{start}, {stop}) of a stream of {self.written} samples")
        if max(start, 0) < min(stop, self.written - self.capacity):
            raise ParameterError(f"samples before {self.written - self.capacity} are no longer buffered")
        out = np.zeros(stop - start, dtype=np.float32)
        lo = max(start, 0)
        if lo < stop:
            idx = np.arange(lo, stop) % self.capacity
            out[lo - start :] = self._data[idx]
        return out


# -- window scorers: one interface over every kind of model -------------------------------------------

class WindowScorer:
    """Probabilities of single windows for one model.

    Attributes
    ----------
    labels : list of str
    sample_rate : int
        The model's rate (audio is resampled to it).
    window : int
        Samples in one window.
    context : int
        Samples the scorer looks at for each window (>= ``window``; log-mel models normalise their
        decibels over a few seconds, as over the clips they were trained on).
    name : str
    """

    labels: list[str]
    sample_rate: int
    window: int
    context: int
    name: str = "model"

    def score(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Score windows.

        Parameters
        ----------
        segments : np.ndarray, float32, shape (n, context)
            The last ``context`` samples up to each window's end.

        Returns
        -------
        P : np.ndarray, shape (n, n_labels)
        sounding : np.ndarray of bool, shape (n,)
            False for a window of (near) digital silence: it makes no event.
        embeddings : np.ndarray, shape (n, dim), or None
            The window's embedding for embedding models (the open-set novelty score uses it).
        """
        raise NotImplementedError


class _LogMelScorer(WindowScorer):
    def __init__(self, predictor: Any, *, context_seconds: float) -> None:
        fc = predictor.features
        self.predictor, self.labels, self.sample_rate = predictor, list(predictor.labels), int(fc.sr)
        self.window = int(fc.frames * fc.hop_length)
        self.context = max(self.window, int(round(context_seconds * fc.sr)))
        self.name = str(predictor.run_dir)

    def score(self, segments):
        from soundkit.audio import is_silent
        from soundkit.features import clip_log_mel

        fc = self.predictor.features
        W = np.stack([clip_log_mel(seg, fc)[:, -fc.frames:] for seg in segments])[..., np.newaxis]
        sounding = np.array([not is_silent(seg[-self.window:]) for seg in segments])
        return self.predictor.window_probabilities(W.astype(np.float32)), sounding, None


def _sounding(E: np.ndarray, silence: np.ndarray) -> np.ndarray:
    return np.linalg.norm(E - silence, axis=1) > 0.02 * float(np.linalg.norm(silence))


class _YamnetScorer(WindowScorer):
    """YAMNet frames: the head of an embedding run on their embeddings, or YAMNet's own scores."""

    def __init__(self, model: Any, *, head: bool) -> None:
        from soundkit.models import yamnet

        self.model, self.head = model, head
        self.embedder = yamnet.load_embedder() if head else model.embedder
        self.labels = list(model.labels)
        self.sample_rate, self.window = yamnet.SAMPLE_RATE, yamnet.FRAME_SAMPLES
        self.context = self.window
        self.name = str(model.run_dir) if head else "yamnet"

    def score(self, segments):
        scores, emb = self.embedder._run(np.ascontiguousarray(segments[:, -self.window:], dtype=np.float32))
        sounding = _sounding(emb, self.embedder.silence)
        P = self.model.window_probabilities(emb) if self.head else scores
        return P, sounding, emb


def scorer_for(model: Any, *, context_seconds: float = 5.0) -> WindowScorer:
    """The :class:`WindowScorer` of a :class:`~soundkit.predict.Predictor` (log-mel or YAMNet-head
    run) or a :class:`~soundkit.models.yamnet.YamnetPredictor` (zero-shot)."""
    if isinstance(model, WindowScorer):
        return model
    from soundkit.models.yamnet import YamnetPredictor

    if isinstance(model, YamnetPredictor):
        return _YamnetScorer(model, head=False)
    kind = getattr(model, "kind", None)
    if kind == "logmel":
        return _LogMelScorer(model, context_seconds=context_seconds)
    if kind == "embedding" and getattr(model, "family", None) == "yamnet":
        return _YamnetScorer(model, head=True)
    raise ParameterError(f"cannot listen with {model!r}: expected a log-mel run, a YAMNet-head run or YAMNet zero-shot")


# -- the listener ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """One classified window: its slice of time, smoothed probabilities, the top label.

    ``label`` is "unknown" when the open-set check rejected the window, "" when it was silent."""

    start: float
    end: float
    probabilities: np.ndarray
    label: str
    confidence: float
    unknown: bool = False
    sounding: bool = True


class Listener:
    """Continuous classification of an audio stream.

    Parameters
    ----------
    model : Predictor, YamnetPredictor or WindowScorer
    hop : float
        Seconds between windows (default 0.5).
    smooth : int
        Probabilities are averaged over the last ``smooth`` windows (1: none).
    on, off, min_duration, merge_gap, thresholds :
        :class:`EventDetector` parameters.
    open_set : soundkit.openset.OpenSet, optional
        Rejects windows that look like none of the classes (their label becomes "unknown" and they
        make no event). None: every window gets one of the model's labels.
    history : float
        Seconds of frames kept in :attr:`frames` (the page's scrolling timeline).
    on_event : callable(Event), optional
        Called for every event as it ends.
    context_seconds : float
        Audio a log-mel model sees for each window (its decibels are relative to that stretch's peak).
    onset : {"energy", "window"}
        Where an event starts. "window": at the start of the first window whose smoothed
        probability reached ``on``. "energy" (default): moved back over the preceding windows still
        within the smoothing whose own probability was at or above ``off`` (smoothing delays the
        rise), then placed by :func:`energy_onset` at the start of the sound those windows heard,
        found in the audio from ``onset_lookback`` seconds before them to the end of the opening
        window - a window is longer than its hop, so the windows alone place an onset only to
        within about half a second, and a model often knows a sound only a second or two after it began.
    onset_lookback : float
        Seconds of audio before the opening windows searched for the sound's start (default 3:
        on the development scenes of bench/listening.py ``sed``, 1 s placed 17 onsets of 218 more
        than the 0.5 s collar late, 3 s none of those).
    labeling : {"window", "event"}
        How an event gets its label (:class:`EventDetector`): "window", per-label hysteresis (each
        label's windows make its events); "event", segment then classify (one event per sound, the
        label of the mean of its windows; the open event's label can change until it ends). "auto"
        (default, :data:`DEFAULT_LABELING`): "event" for a YAMNet-head run, "window" for a log-mel run
        and YAMNet zero-shot (measured in bench/listening.py ``sed``; see BENCHMARKS.md).

    Feed audio with :meth:`feed` (returns events that ended), end with :meth:`flush`.
    """

    def __init__(self, model: Any, *, hop: float = 0.5, smooth: int = 3, on: float = 0.5, off: float | None = None,
                 min_duration: float = 0.25, merge_gap: float = 0.5, thresholds: dict | None = None,
                 open_set: Any | None = None, history: float = 60.0,
                 on_event: Callable[[Event], None] | None = None, context_seconds: float = 5.0,
                 onset: str = "energy", labeling: str = DEFAULT_LABELING, onset_lookback: float = 3.0) -> None:
        if not (isinstance(smooth, (int, np.integer)) and smooth >= 1):
            raise ParameterError(f"smooth must be a positive integer, got {smooth!r}")
        if not 0.05 <= hop <= 10:
            raise ParameterError(f"hop must be within 0.05..10 seconds, got {hop}")
        if onset not in ("energy", "window"):
            raise ParameterError(f"onset must be 'energy' or 'window', got {onset!r}")
        if labeling not in ("auto", *LABELINGS):
            raise ParameterError(f"labeling must be one of {('auto', *LABELINGS)}, got {labeling!r}")
        self.onset = onset
        self.scorer = scorer_for(model, context_seconds=context_seconds)
        if labeling == "auto":
            labeling = "event" if isinstance(self.scorer, _YamnetScorer) and self.scorer.head else "window"
        self.labels = self.scorer.labels
        self.sample_rate = self.scorer.sample_rate
        self.hop = float(hop)
        self.hop_samples = max(1, int(round(hop * self.sample_rate)))
        self.smooth = int(smooth)
        self.detector = EventDetector(self.labels, on=on, off=off, min_duration=min_duration, merge_gap=merge_gap,
                                      thresholds=thresholds, refine_onset=self._refine_onset if onset == "energy" else None,
                                      labeling=labeling)
        self.labeling = labeling
        self.open_set = open_set
        self.on_event = on_event
        if not 0 <= onset_lookback <= 10:
            raise ParameterError(f"onset_lookback must be within 0..10 seconds, got {onset_lookback}")
        self.onset_lookback = float(onset_lookback)
        self.buffer = RingBuffer(self.scorer.context + (self.smooth + 3) * self.hop_samples
                                 + int((self.onset_lookback + 1.0) * self.sample_rate))
        self.frames: deque[Frame] = deque(maxlen=max(1, int(np.ceil(history / self.hop))))
        self.events: list[Event] = []
        self._recent: deque[np.ndarray] = deque(maxlen=self.smooth)
        self._raw: deque[tuple[float, np.ndarray]] = deque(maxlen=self.smooth)  # (slice start, raw p) of the last windows
        # the first window ends once a whole window of the stream is in: a window mostly made of the
        # zeros before the stream began heard the step from digital silence to the room as a sound
        self._next_end = max(self.hop_samples, int(self.scorer.window))
        self._in_sr: int | None = None
        self._resampler: Any = None
        self.windows = 0

    @property
    def seconds(self) -> float:
        """Audio received so far, in seconds at the model's rate."""
        return self.buffer.written / self.sample_rate

    def _resample(self, y: np.ndarray, sr: int, *, last: bool = False) -> np.ndarray:
        if sr == self.sample_rate:
            return y
        import soxr

        if self._resampler is None:
            self._resampler = soxr.ResampleStream(sr, self.sample_rate, 1, dtype="float32", quality="HQ")
        return self._resampler.resample_chunk(y, last=last)

    def feed(self, y: np.ndarray, sr: int) -> list[Event]:
        """Add a block of audio.

        Parameters
        ----------
        y : np.ndarray, shape (n,) or (n, channels)
            Any length (including 0); channels are averaged.
        sr : int
            Its sample rate; a change from the previous block's rate starts a new resampler.

        Returns
        -------
        list of Event
            Events that ended with this block.
        """
        if not isinstance(sr, (int, np.integer)) or not 1000 <= sr <= 384000:
            raise ParameterError(f"sr must be an integer within 1000..384000 Hz, got {sr!r}")
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=1)
        if y.ndim != 1:
            raise AudioError(f"expected audio of shape (n,) or (n, channels), got shape {y.shape}")
        if y.size and not np.all(np.isfinite(y)):
            raise AudioError("the audio block contains NaN or infinite samples")
        out: list[Event] = []
        if self._in_sr is not None and sr != self._in_sr and self._resampler is not None:
            out += self._push(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
            self._resampler = None
        self._in_sr = int(sr)
        out += self._push(self._resample(y, int(sr)))
        return out

    def _push(self, y: np.ndarray) -> list[Event]:
        out: list[Event] = []
        # write in pieces no longer than the ring can hold beyond one context
        step = max(1, self.buffer.capacity - self.scorer.context)
        for i in range(0, len(y), step):
            self.buffer.write(y[i : i + step])
            out += self._classify_ready()
        return out

    def _classify_ready(self, *, final: bool = False) -> list[Event]:
        ends = []
        while self._next_end <= self.buffer.written:
            ends.append(self._next_end)
            self._next_end += self.hop_samples
        if final and (self.buffer.written > (self._next_end - self.hop_samples) + self.hop_samples // 4
                      or (self.windows == 0 and self.buffer.written > 0 and not ends)):
            ends.append(self.buffer.written)  # the last part of the stream (or all of a stream shorter than a window)
            self._next_end = self.buffer.written + self.hop_samples
        if not ends:
            return []
        ctx = self.scorer.context
        segs = np.stack([self.buffer.read(e - ctx, e) for e in ends])
        P, sounding, emb = self.scorer.score(segs)
        out: list[Event] = []
        for i, e in enumerate(ends):
            out += self._step(e, np.asarray(P[i], dtype=np.float64), bool(sounding[i]), None if emb is None else emb[i])
        return out

    def _step(self, end: int, p: np.ndarray, sounding: bool, emb: np.ndarray | None) -> list[Event]:
        self.windows += 1
        if not sounding:
            p = np.zeros_like(p)
        self._recent.append(p)
        ps = np.mean(self._recent, axis=0)
        unknown = False
        if sounding and self.open_set is not None:
            unknown = bool(self.open_set.reject_window(ps, emb))
        sr = self.sample_rate
        centre = (end - self.scorer.window / 2) / sr
        t0, t1 = max(0.0, centre - self.hop / 2), max(0.0, centre + self.hop / 2)
        k = int(ps.argmax())
        label = "unknown" if unknown else (self.labels[k] if sounding else "")
        self.frames.append(Frame(t0, t1, ps.astype(np.float32), label, float(ps[k]), unknown, sounding))
        self._raw.append((t0, p))
        events = self.detector.update(t0, t1, np.zeros_like(ps) if unknown else ps)
        return self._emit(events)

    def _refine_onset(self, k: int, start: float) -> float:
        """The start of an event of column ``k`` opening at ``start`` (see ``onset``).

        The windows that opened it (the opening one and the earlier ones still in the smoothing
        whose own probability was at or above ``off``) heard the sound somewhere in their audio;
        :func:`energy_onset` finds the start of the sound heard there, in the audio from
        :attr:`onset_lookback` seconds before the first of them to the end of the opening one."""
        off = float(self.detector._off[k])
        opening = start
        earlier = list(self._raw)[:-1]  # the windows before the one that opened it, newest last
        for t, p in reversed(earlier):
            if p[k] < off:
                break
            start = min(start, t)
        sr = self.sample_rate
        half = self.scorer.window / sr / 2
        heard = (start + self.hop / 2 - half, opening + self.hop / 2 + half)  # those windows' audio
        lo = max(0, int((heard[0] - self.onset_lookback) * sr), self.buffer.written - self.buffer.capacity)
        hi = min(self.buffer.written, int(heard[1] * sr))
        if hi - lo < int(0.1 * sr):
            return start
        t = energy_onset(self.buffer.read(lo, hi), sr=sr, at=(max(0.0, heard[0] - lo / sr), heard[1] - lo / sr))
        return start if t is None else lo / sr + t

    def _emit(self, events: Iterable[Event]) -> list[Event]:
        events = sorted(events, key=lambda e: e.start)
        for ev in events:
            self.events.append(ev)
            if self.on_event is not None:
                self.on_event(ev)
        return events

    def flush(self) -> list[Event]:
        """End of the stream: classify what is left and close open events."""
        out: list[Event] = []
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            self._resampler = None
            if tail.size:
                out += self._push(tail)
        out += self._classify_ready(final=True)
        out += self._emit(self.detector.flush())
        return out

    @property
    def latest(self) -> Frame | None:
        return self.frames[-1] if self.frames else None


def listen_array(model: Any, y: np.ndarray, sr: int, *, block: int = 4096, **kwargs: Any) -> tuple[list[Event], Listener]:
    """Run a :class:`Listener` over a whole array in blocks of ``block`` samples (what a live stream
    would give it); returns (events, listener)."""
    listener = model if isinstance(model, Listener) else Listener(model, **kwargs)
    y = np.asarray(y, dtype=np.float32)
    for i in range(0, len(y), block):
        listener.feed(y[i : i + block], sr)
    listener.flush()
    return list(listener.events), listener


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
