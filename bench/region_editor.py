"""The region editor (soundkit_app.region_editor): what it costs to open a long recording in it and
to zoom in. For recordings of 1, 10 and 30 minutes (44.1 kHz mono 16-bit WAV, noise with tones):
the time to compute the overview (decode + resample to 22.05 kHz, min/max envelope, log-mel PNG),
the bytes sent to the browser for it (against the bytes of the audio itself), and the time of a
zoomed-in view's detail (a 10 s view: a seek and a partial read). Medians of ``REPEATS`` runs.

``measure(work)`` returns the results dict; ``render(r)`` the BENCHMARKS.md section.
"""

from __future__ import annotations

import json
import resource
import statistics
import time
from pathlib import Path

import numpy as np

MINUTES = (1, 10, 30)
REPEATS = 3
SR = 44100


def _recording(path: Path, minutes: int) -> Path:
    import soundfile as sf

    rng = np.random.default_rng(minutes)
    n = minutes * 60 * SR
    with sf.SoundFile(path, "w", samplerate=SR, channels=1, subtype="PCM_16") as f:
        for a in range(0, n, 60 * SR):  # a minute at a time: little memory
            m = min(60 * SR, n - a)
            y = (0.01 * rng.standard_normal(m)).astype(np.float32)
            t = np.arange(SR // 2) / SR
            for k in range(0, m - SR, 7 * SR):
                y[k : k + SR // 2] += 0.4 * np.sin(2 * np.pi * (400 + k % 3000) * t).astype(np.float32)
            f.write(y)
    return path


def measure(work: Path) -> dict:
    from soundkit_app import region_editor as ed

    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for minutes in MINUTES:
        path = _recording(work / f"rec-{minutes}.wav", minutes)
        times, ov = [], None
        for _ in range(REPEATS):
            t = time.perf_counter()
            ov = ed.overview.__wrapped__(str(path), "x")
            times.append(time.perf_counter() - t)
        payload = len(json.dumps({k: ov[k] for k in ("env_min", "env_max", "spec")}))
        mid = minutes * 30.0
        window = ed.detail_window({"t0": mid, "t1": mid + 10.0}, minutes * 60.0, ov["hop"])
        dtimes, dbytes = [], None
        for _ in range(REPEATS):
            t = time.perf_counter()
            d = ed.detail.__wrapped__(str(path), "x", *window) if window else None
            dtimes.append(time.perf_counter() - t)
            dbytes = len(json.dumps({k: d[k] for k in ("env_min", "env_max", "spec")})) if d else None
        rows.append({"minutes": minutes, "audio_bytes": path.stat().st_size, "overview_s": statistics.median(times),
                     "overview_bytes": payload, "spec_columns_hop": ov["hop"],
                     "detail_window": list(window) if window else None,
                     "detail_s": statistics.median(dtimes) if window else None, "detail_bytes": dbytes})
        path.unlink()
    return {"rows": rows, "repeats": REPEATS, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def render(r: dict) -> list[str]:
    """The BENCHMARKS.md section "Region editor"."""
    lines = ["## Region editor", "",
             "`soundkit_app.region_editor`: opening a long recording (44.1 kHz mono 16-bit WAV) in the Regions "
             "tab's editor computes an overview once per content hash (decode and resample to 22.05 kHz, a "
             "4,000-pair min/max envelope, a log-mel PNG of at most 4,000 columns); zooming in to a 10 s view "
             "adds a 2,000-column detail of its stretch (the view plus half a span each side; a seek and a "
             f"partial read). What goes to the browser is the JSON of the envelope and the PNG, never the audio. "
             f"Medians of {r['repeats']} runs; peak RSS of the whole section {r['peak_rss_mb']:.0f} MB:", "",
             "| recording | audio | overview time | overview sent | 10 s view: detail time | detail sent |",
             "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        d = "n/a" if row["detail_s"] is None else f"{row['detail_s'] * 1000:.0f} ms"
        db = "n/a" if row["detail_bytes"] is None else f"{row['detail_bytes'] / 1e3:.0f} kB"
        lines.append(f"| {row['minutes']} min | {row['audio_bytes'] / 1e6:.1f} MB | {row['overview_s']:.2f} s | "
                     f"{row['overview_bytes'] / 1e3:.0f} kB ({row['audio_bytes'] / row['overview_bytes']:.0f}x less) | "
                     f"{d} | {db} |")
    return lines + [""]
