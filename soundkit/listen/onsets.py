"""Onsets: where a sound begins in a stretch of audio (:func:`energy_onset`), which the listener and
the offline timeline use to place an event's start within the windows that detected it."""

from __future__ import annotations

import numpy as np

__all__ = ["energy_onset"]


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
