"""The listener: audio blocks of any size and rate in, a classified window every hop into a
:class:`RingBuffer`-backed :class:`Listener`, smoothed probabilities, events out."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from soundkit.errors import AudioError, ParameterError
from soundkit.listen.events import LABELINGS, Event, EventDetector
from soundkit.listen.onsets import energy_onset
from soundkit.listen.scorers import WindowScorer, _YamnetScorer, scorer_for

__all__ = ["RingBuffer", "Frame", "Listener", "listen_array", "DEFAULT_LABELING", "labeling_for"]

#: The :class:`Listener`'s default labeling: "auto" is "event" for a YAMNet-head run, "window" for the
#: others (chosen on the synthetic scenes of bench/listening.py ``sed``: segment-then-classify raised
#: the YAMNet head's F1 and lowered the CNN's, whose noisy windows keep some class above ``off``).
DEFAULT_LABELING = "auto"


def labeling_for(model: Any) -> str:
    """What ``labeling="auto"`` means for ``model`` (a Predictor, YamnetPredictor or WindowScorer):
    "event" for a YAMNet-head run, "window" for a log-mel run and YAMNet zero-shot."""
    if isinstance(model, _YamnetScorer):
        return "event" if model.head else "window"
    if isinstance(model, WindowScorer):
        return "window"
    return "event" if getattr(model, "kind", None) == "embedding" and getattr(model, "family", None) == "yamnet" else "window"


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
            labeling = labeling_for(self.scorer)
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
