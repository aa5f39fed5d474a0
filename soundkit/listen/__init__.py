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

Modules: ``events`` (Event, EventDetector, detect_events), ``onsets`` (energy_onset), ``timeline``
(tile_spans, timeline_events: a whole recording at once), ``scorers`` (WindowScorer, scorer_for),
``listener`` (RingBuffer, Frame, Listener, listen_array), ``metrics`` (event_f1). Each imports only
those before it; everything is importable from ``soundkit.listen``.
"""

from __future__ import annotations

from soundkit.listen.events import LABELINGS, NON_EVENT_LABELS, Event, EventDetector, detect_events
from soundkit.listen.listener import DEFAULT_LABELING, Frame, Listener, RingBuffer, labeling_for, listen_array
from soundkit.listen.metrics import event_f1
from soundkit.listen.onsets import energy_onset
from soundkit.listen.scorers import WindowScorer, scorer_for
from soundkit.listen.timeline import tile_spans, timeline_events

__all__ = [
    "Event",
    "Frame",
    "RingBuffer",
    "EventDetector",
    "detect_events",
    "tile_spans",
    "timeline_events",
    "WindowScorer",
    "scorer_for",
    "Listener",
    "listen_array",
    "event_f1",
    "energy_onset",
    "LABELINGS",
    "NON_EVENT_LABELS",
    "DEFAULT_LABELING",
    "labeling_for",
]
