"""The label-by-time chart shared by Classify and Listen: one row per label, bars as opaque as their
probability, an x axis fixed to the clip (or the last minute), and a height that grows with the
number of rows so labels never overlap."""

from __future__ import annotations

from typing import Any

ROW_PX = 26


def spec(*, x0: float, x1: float) -> dict[str, Any]:
    """Vega-Lite spec of a table with columns start, end, label, probability."""
    return {
        "mark": {"type": "bar", "clip": True, "cornerRadius": 2},
        "encoding": {
            "x": {"field": "start", "type": "quantitative", "title": "seconds",
                  "scale": {"domain": [x0, x1], "nice": False}},
            "x2": {"field": "end"},
            "y": {"field": "label", "type": "nominal", "title": None, "axis": {"labelLimit": 220}},
            "color": {"field": "label", "type": "nominal", "legend": None},
            "opacity": {"field": "probability", "type": "quantitative", "scale": {"domain": [0, 1]}, "legend": None},
            "tooltip": [{"field": "label"}, {"field": "probability", "format": ".0%"},
                        {"field": "start", "format": ".2f"}, {"field": "end", "format": ".2f"}],
        },
    }


def chart(where: Any, table: Any, *, x0: float, x1: float, key: str | None = None) -> None:
    """Draw ``table`` (start, end, label, probability) between x0 and x1 seconds: a row of
    :data:`ROW_PX` pixels per label (Vega-Lite's step height; a fixed chart height squashes them)."""
    s = spec(x0=x0, x1=max(x1, x0 + 1e-3))
    s["height"] = {"step": ROW_PX}
    where.vega_lite_chart(table, s, width="stretch", key=key)


def prediction_table(prediction: Any, *, duration: float) -> Any:
    """Each window of a Prediction as its own slice of time (soundkit.listen.tile_spans: overlapping
    windows tile the axis), clipped to the clip: start, end, label (top), probability."""
    import numpy as np
    import pandas as pd

    from soundkit.listen import tile_spans

    starts = np.array([s.start for s in prediction.timeline])
    ends = np.array([s.end for s in prediction.timeline])
    lo, hi = tile_spans(starts, ends, duration=duration)
    return pd.DataFrame([{"start": float(a), "end": float(b), "label": s.label, "probability": s.probability}
                         for a, b, s in zip(lo, hi, prediction.timeline, strict=True) if b > a],
                        columns=["start", "end", "label", "probability"])


def events_frame(events: list[Any]) -> Any:
    import pandas as pd

    return pd.DataFrame([{"start": round(e.start, 2), "end": round(e.end, 2), "label": e.label,
                          "duration": round(e.duration, 2), "confidence": round(e.mean, 3)} for e in events],
                        columns=["start", "end", "label", "duration", "confidence"])


