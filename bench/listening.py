"""Listening benchmarks (BENCHMARKS.md "Listening"): open-set figures with classes left out, the
listener's real-time factor and memory per model, event detection on synthetic ESC-10 scenes.

    python bench/listening.py open_set rtf sed     # or bench/run.py listening_open_set ...

Each section writes bench/results/listening_<section>.json; bench/report.py renders them.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED = Path(os.environ.get("SOUNDKIT_SHARED") or ROOT.parent / "shared")
ESC10 = SHARED / "data" / "ESC-10"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if (SHARED / "weights" / "yamnet.tflite").is_file():
    os.environ.setdefault("SOUNDKIT_WEIGHTS_DIR", str(SHARED / "weights"))

SECTIONS: dict[str, callable] = {}


def section(fn):
    SECTIONS[f"listening_{fn.__name__}"] = fn
    return fn


def _home() -> Path:
    home = ROOT / "bench" / ".work" / "listening"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["SOUNDKIT_HOME"] = str(home)
    return home


@section
def open_set() -> dict:
    """ESC-10, YAMNet head, 2 classes left out (3 draws x 5 official folds): every open-set score."""
    from soundkit import datasets
    from soundkit.config import FeatureConfig, TrainConfig
    from soundkit.openset import open_set_cv

    home = _home()
    ds = datasets.load(ESC10)
    result = open_set_cv(ds, k=2, draws=3, features=FeatureConfig(), config=TrainConfig(model="yamnet"),
                         cache_dir=home / "cache", work_dir=home)
    return {"open_set": result, "closed_set_cv_reference": "yamnet_cv.json mean_accuracy"}


#: Epochs of the bench's CNN run (the recipe's 50 take too long beside the other benchmarks here).
CNN_EPOCHS = 30


def _run(model: str) -> Path:
    """A run trained on ESC-10 folds 1-4 (test fold 5: the scenes use its clips only)."""
    from soundkit import datasets
    from soundkit.config import TrainConfig
    from soundkit.training import train

    home = _home()
    out = home / f"run-{model}"
    if not (out / "labels.json").exists():
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        extra = {"epochs": CNN_EPOCHS} if model == "cnn" else {}
        train(datasets.load(ESC10), out=out, config=TrainConfig(model=model, test_fold=5, **extra), cache_dir=home / "cache")
    return out


def _model(name: str):
    from soundkit.listen_cli import load_model

    return load_model("yamnet" if name == "yamnet-zero-shot" else str(_run(name)), unknown="off")


MODELS = ("cnn", "yamnet", "yamnet-zero-shot")


def _stream(seconds: float = 60.0, sr: int = 44100, seed: int = 0):
    """A minute of ESC-10 fold-5 clips one after another (the listener's work does not depend on
    what it hears, but silent windows are skipped by nothing)."""
    from soundkit import audio, datasets

    clips = [c for c in datasets.load(ESC10).clips if c.fold == 5]
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    while total < seconds * sr:
        y, _ = audio.load(clips[int(rng.integers(len(clips)))].path, sr=sr)
        parts.append(y)
        total += len(y)
    return np.concatenate(parts)[: int(seconds * sr)], sr


def _rtf_child(name: str) -> dict:
    """Real-time factor and peak RSS of a listening session, in this (fresh) process."""
    from threadpoolctl import threadpool_limits

    from soundkit.listen import Listener

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = _model(name)
    y, sr = _stream()
    block = int(0.1 * sr)
    times = []
    with threadpool_limits(2):
        for _ in range(3):
            lis = Listener(model, hop=0.5)
            t = time.perf_counter()
            for i in range(0, len(y), block):
                lis.feed(y[i : i + block], sr)
            lis.flush()
            times.append(time.perf_counter() - t)
    sec = statistics.median(times)
    return {"model": name, "audio_seconds": len(y) / sr, "processing_seconds": sec, "rtf": len(y) / sr / sec,
            "windows": lis.windows, "ms_per_window": 1000 * sec / lis.windows, "window_seconds": lis.scorer.window / lis.sample_rate,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_before_model_mb": rss0,
            "backend": getattr(model, "backend", "litert")}


@section
def rtf() -> dict:
    """Listener speed (audio seconds per processing second; 0.1 s blocks at 44.1 kHz, a window every
    0.5 s, 2 threads) and the peak memory of a listening session, one fresh process per model."""
    import subprocess

    for m in ("cnn", "yamnet"):
        _run(m)  # trained outside the timed children
    out = {}
    for m in MODELS:
        r = subprocess.run([sys.executable, __file__, "--child-rtf", m], capture_output=True, text=True, cwd=ROOT, check=True)
        out[m] = json.loads(r.stdout.strip().splitlines()[-1])
    return {"models": out, "cores": os.cpu_count()}


def _scene(clips, rng, *, seconds: float, sr: int, noise_db: float):
    """Fold-5 clips (their sounding part) at random onsets, at least 2 s apart, over pink noise at
    ``noise_db`` dBFS RMS in the first half and digital silence in the second. Returns (y, reference)."""
    from soundkit import audio
    from soundkit.openset import background_clips

    n = int(seconds * sr)
    y = np.zeros(n, np.float32)
    bg = next(c for name, c in background_clips(3, seconds=seconds / 2, sr=sr, seed=int(rng.integers(1 << 30)), silence=False)
              if name.startswith("pink"))
    y[: len(bg)] = bg / max(float(np.sqrt(np.mean(bg.astype(np.float64) ** 2))), 1e-12) * 10 ** (noise_db / 20)
    ref, t = [], 1.0 + float(rng.uniform(0, 1))
    while True:
        c = clips[int(rng.integers(len(clips)))]
        x, _ = audio.load(c.path, sr=sr)
        frame = int(0.02 * sr)
        e = np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(frame) / frame, mode="same"))
        loud = np.flatnonzero(e > 10 ** (-50 / 20))
        if not len(loud):
            continue
        x = x[loud[0] : loud[-1] + 1][: int(5 * sr)]
        at = int(t * sr)
        if at + len(x) + 2 * sr > n:
            break
        y[at : at + len(x)] += x
        ref.append((c.label, at / sr, (at + len(x)) / sr))
        t = (at + len(x)) / sr + float(rng.uniform(2.0, 5.0))
    return np.clip(y, -1, 1), ref


@section
def sed() -> dict:
    """Event detection on synthetic scenes: 8 scenes of 90 s built from ESC-10 fold-5 clips (unseen
    by the fold-1-4 runs) over pink noise (-50 dBFS) and silence; event-based F1, 0.5 s onset collar."""
    from soundkit import datasets
    from soundkit.listen import event_f1, listen_array

    clips = [c for c in datasets.load(ESC10).clips if c.fold == 5]
    rng = np.random.default_rng(0)
    sr = 44100
    scenes = [_scene(clips, rng, seconds=90, sr=sr, noise_db=-50) for _ in range(8)]
    out = {"scenes": len(scenes), "reference_events": sum(len(r) for _, r in scenes), "collar": 0.5, "models": {}}
    settings = {"hop": 0.5, "smooth": 3, "on": 0.5, "off": 0.3, "min_duration": 0.25, "merge_gap": 1.0}
    for name in ("cnn", "yamnet"):
        model = _model(name)
        ref_all, est_all = [], []
        for k, (y, ref) in enumerate(scenes):
            events, _ = listen_array(model, y, sr, block=4410, **settings)
            ref_all += [(lab, s + 1000 * k, e + 1000 * k) for lab, s, e in ref]  # scenes laid end to end
            est_all += [(e.label, e.start + 1000 * k, e.end + 1000 * k) for e in events]
        m = event_f1(ref_all, est_all, collar=0.5)
        errs = m.pop("onset_errors")
        m["onset_error_median"] = float(np.median(errs)) if errs else None
        m["onset_abs_error_p90"] = float(np.percentile(np.abs(errs), 90)) if errs else None
        m["macro_f1"] = float(np.mean([v["f1"] for lab, v in m["per_label"].items() if any(r[0] == lab for r in ref_all)]))
        m["f1_onset_collar_1s"] = event_f1(ref_all, est_all, collar=1.0)["f1"]
        out["models"][name] = m
    out["settings"] = settings
    return out


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child-rtf":
        print(json.dumps(_rtf_child(sys.argv[2])))
        return
    if sys.argv[1:] == ["--runs"]:
        for m in ("cnn", "yamnet"):
            print(_run(m))
        return
    names = sys.argv[1:] or list(SECTIONS)
    for name in names:
        key = name if name.startswith("listening_") else f"listening_{name}"
        t = time.perf_counter()
        data = SECTIONS[key]()
        data["section_seconds"] = round(time.perf_counter() - t, 1)
        data["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        from bench.run import machine

        data["machine"] = machine()
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{key}.json").write_text(json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")
        print(f"wrote {RESULTS / (key + '.json')}", file=sys.stderr)


if __name__ == "__main__":
    main()
