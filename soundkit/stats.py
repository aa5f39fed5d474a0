"""Small-sample statistics for accuracies: Wilson score intervals and their display.

An accuracy measured on ``n`` test clips is a binomial proportion; with the few clips a user brings
its uncertainty is large, so every accuracy soundkit shows carries a 95 % interval and ``n``.
Wilson's score interval (Wilson 1927) stays inside [0, 1] and keeps close to its nominal coverage for
small ``n`` and proportions near 0 or 1, where the normal ("Wald") interval collapses to a point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from soundkit.errors import ParameterError

__all__ = ["Z95", "wilson_interval", "accuracy_interval", "format_accuracy", "fold_spread"]

#: The standard normal quantile for a two-sided 95 % interval.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    Parameters
    ----------
    successes : int
        Correctly classified clips, ``0 <= successes <= n``.
    n : int
        Test clips, ``n >= 0``. With ``n == 0`` the interval is (0, 1): nothing is known.
    z : float, keyword-only
        Normal quantile (1.96 for 95 %).

    Returns
    -------
    (low, high) : tuple of float, both within [0, 1]
    """
    if isinstance(successes, bool) or isinstance(n, bool):
        raise ParameterError("successes and n must be integers")
    successes, n = int(successes), int(n)
    if n < 0 or not 0 <= successes <= n:
        raise ParameterError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if not z > 0:
        raise ParameterError(f"z must be > 0, got {z}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    if successes == 0:
        low = 0.0
    if successes == n:
        high = 1.0
    return low, high


def accuracy_interval(accuracy: float, n: int, *, z: float = Z95) -> tuple[float, float]:
    """:func:`wilson_interval` of an accuracy given as a fraction of ``n`` clips."""
    return wilson_interval(int(round(float(accuracy) * n)), n, z=z)


def format_accuracy(accuracy: float, n: int, *, ci: Sequence[float] | None = None, unit: str = "test clips") -> str:
    """'87.5% (95% CI 76-94%, 40 test clips)'.

    Parameters
    ----------
    accuracy : float
        In [0, 1].
    n : int
        The number of clips it was measured on.
    ci : (low, high), optional
        The interval; default :func:`accuracy_interval`.
    """
    low, high = ci if ci is not None else accuracy_interval(accuracy, n)
    return f"{100 * accuracy:.1f}% (95% CI {100 * low:.0f}-{100 * high:.0f}%, {n} {unit})"


def fold_spread(values: Sequence[float]) -> dict[str, float]:
    """Min, median, max and population standard deviation of per-fold accuracies."""
    v = sorted(float(x) for x in values)
    if not v:
        raise ParameterError("fold_spread needs at least one value")
    mid = len(v) // 2
    median = v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / len(v))
    return {"min": v[0], "median": median, "max": v[-1], "std": std}


#: Below this many clips in its smallest class, a dataset is "small": one held-out fold of 5 would
#: test fewer than 4 clips per class, and its accuracy's 95 % interval spans more than about
#: +/- 10 points for 10 classes (Wilson, at 85 %: 40 clips give 71-93 %), while 5-fold
#: cross-validation tests every clip once (200 clips: 79-89 %). Training a YAMNet head or a small
#: CNN k times on so few clips costs little. BENCHMARKS.md ("Small data") has the figures.
SMALL_DATA_CLIPS_PER_CLASS = 20


def prefers_cross_validation(counts: dict[str, int] | Sequence[int], *, threshold: int = SMALL_DATA_CLIPS_PER_CLASS) -> bool:
    """Whether accuracy should be estimated by k-fold cross-validation rather than one held-out
    fold: True when the smallest class has fewer than ``threshold`` clips.

    Parameters
    ----------
    counts : dict label -> clips, or a sequence of clip counts
    """
    values = list(counts.values()) if isinstance(counts, dict) else list(counts)
    return bool(values) and min(int(v) for v in values) < int(threshold)
