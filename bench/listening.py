"""Listening benchmarks (BENCHMARKS.md "Listening"): open-set figures with classes left out, the
listener's real-time factor and memory per model, event detection on synthetic ESC-10 scenes.

    python bench/listening.py open_set rtf sed     # or bench/run.py listening_open_set ...

Each section writes bench/results/listening_<section>.json; bench/report.py renders them.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

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


def main() -> None:
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
