"""Reproducible benchmarks. Each section runs in its own child process (so peak memory is its own),
stores its figures in bench/results/<section>.json, and BENCHMARKS.md is rendered from all stored
results with a description of the machine that produced them.

    python bench/run.py                      # every section
    python bench/run.py features predict     # some sections
    python bench/run.py --render             # only re-render BENCHMARKS.md

Data: ESC-10 from $SOUNDKIT_SHARED/data/ESC-10 (default ../shared beside the repo); YAMNet from
$SOUNDKIT_SHARED/weights. Timings are medians of repeated runs on a shared, noisy machine; compare the
figures of one section with each other (they were measured side by side), not across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / ".work"
SHARED = Path(os.environ.get("SOUNDKIT_SHARED") or ROOT.parent / "shared")
ESC10 = SHARED / "data" / "ESC-10"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if (SHARED / "weights" / "yamnet.tflite").is_file():
    os.environ.setdefault("SOUNDKIT_WEIGHTS_DIR", str(SHARED / "weights"))

SECTIONS: dict[str, callable] = {}


def section(fn):
    SECTIONS[fn.__name__] = fn
    return fn


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pctl(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, round(q * (len(v) - 1)))]


def esc10_clip() -> Path:
    return sorted(ESC10.glob("*/*.ogg"))[0]


# -- sections ---------------------------------------------------------------------------------------

@section
def features() -> dict:
    """ESC-10 featurization with the cache off and on (median of repeats)."""
    from soundkit import datasets
    from soundkit.config import FeatureConfig
    from soundkit.features import featurize_files

    paths = [c.path for c in datasets.load(ESC10).clips]
    cfg = FeatureConfig()
    uncached, cached = [], []
    for _ in range(3):
        root = Path(tempfile.mkdtemp(prefix="bench-fc-"))
        t = time.perf_counter()
        featurize_files(paths, cfg, cache=root)
        uncached.append(time.perf_counter() - t)
        for _ in range(2):
            t = time.perf_counter()
            featurize_files(paths, cfg, cache=root)
            cached.append(time.perf_counter() - t)
        shutil.rmtree(root)
    nocache = []
    for _ in range(3):
        t = time.perf_counter()
        featurize_files(paths, cfg)
        nocache.append(time.perf_counter() - t)
    return {
        "clips": len(paths),
        "uncached_s": statistics.median(uncached),
        "uncached_runs": uncached,
        "no_cache_s": statistics.median(nocache),
        "cached_s": statistics.median(cached),
        "cached_runs": cached,
        "peak_rss_mb": peak_rss_mb(),
    }


def _cv(model: str, augment=None, **train_kw) -> dict:
    from soundkit import datasets
    from soundkit.config import TrainConfig
    from soundkit.training import cross_validate

    cache = WORK / "cache"
    cfg = TrainConfig(model=model, **train_kw)
    if augment is not None:
        from soundkit.augment import policy_from_arg

        cfg = cfg.replace(augment=policy_from_arg(augment).to_dict())
    res = cross_validate(datasets.load(ESC10), config=cfg, cache_dir=cache)
    reports = res.reports
    labels = next(iter(reports.values())).labels
    per_class = {lab: statistics.mean(r.per_class_accuracy[lab] for r in reports.values()) for lab in labels}
    return {
        "model": model,
        "augment": augment,
        "train_config": cfg.to_dict(),
        "mean_accuracy": res.mean_accuracy,
        "std_accuracy": res.std_accuracy,
        "fold_accuracy": {str(k): v for k, v in res.fold_accuracy.items()},
        "fold_seconds": {str(k): v for k, v in res.fold_seconds.items()},
        "seconds": res.seconds,
        "per_class_accuracy": per_class,
        "misclassified": sorted(m["id"] for r in reports.values() for m in r.misclassified),
        "n_clips": sum(r.n_test for r in reports.values()),
        "peak_rss_mb": peak_rss_mb(),
    }


@section
def cnn_cv() -> dict:
    """ESC-10 official 5-fold CV of the recipe's CNN, no augmentation."""
    return _cv("cnn")


@section
def crnn_cv() -> dict:
    """ESC-10 official 5-fold CV of the CRNN family (convolutions, then a GRU), beside cnn_cv."""
    return _cv("crnn")


@section
def fewshot() -> dict:
    """Few-shot candidates on YAMNet embeddings: ESC-10 cut to 6 clips per class, and full ESC-10."""
    from bench import fewshot as fs

    names = os.environ.get("FEWSHOT_CANDIDATES")  # a comma list: measure only these, keep the others
    protocols = os.environ.get("FEWSHOT_PROTOCOLS")  # "6-shot", "full" or both
    seeds = os.environ.get("FEWSHOT_SEEDS")  # a comma list (default 0,1): fewer seeds for the slow candidates
    out = RESULTS / "fewshot.json"
    previous = json.loads(out.read_text()) if out.is_file() else None

    def save(results: dict) -> None:  # a long run keeps what it measured even if stopped
        RESULTS.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**results, "machine": machine()}, indent=2, sort_keys=True) + "\n")

    return fs.run(ESC10, WORK, names.split(",") if names else None, log=lambda m: print(m, file=sys.stderr, flush=True),
                  protocols_wanted=protocols.split(",") if protocols else None, previous=previous, save=save,
                  seeds=tuple(int(x) for x in seeds.split(",")) if seeds else fs.SEEDS)


def _train_run(model: str = "cnn") -> Path:
    """A run trained on ESC-10 folds 1-4 (test fold 5), reused by the serving sections."""
    from soundkit import datasets
    from soundkit.config import TrainConfig
    from soundkit.training import train

    out = WORK / f"run-{model}"
    if not (out / "model.keras").exists():
        shutil.rmtree(out, ignore_errors=True)
        train(datasets.load(ESC10), out=out, config=TrainConfig(model=model, test_fold=5), cache_dir=WORK / "cache")
    return out


@section
def train_memory() -> dict:
    """Peak RSS of one CNN training (folds 1-4, test fold 5) in a fresh process."""
    t = time.perf_counter()
    shutil.rmtree(WORK / "run-cnn", ignore_errors=True)
    run = _train_run("cnn")
    report = json.loads((run / "report.json").read_text())
    return {"seconds": time.perf_counter() - t, "test_accuracy": report["accuracy"], "peak_rss_mb": peak_rss_mb()}


COLD = r"""
import sys, time
t0 = time.perf_counter()
from soundkit import audio
from soundkit.predict import Predictor
p = Predictor.load(sys.argv[1], backend=sys.argv[2])
y, sr = audio.load(sys.argv[3])
pred = p.predict(y, sr)
dt = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork+exec, so a child would report its parent's peak
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(dt, hwm / 1024, "tensorflow" in sys.modules, pred.label)
"""


def _serving(run: Path) -> dict:
    from soundkit import audio
    from soundkit.predict import Predictor

    clip = esc10_clip()
    y, sr = audio.load(clip)
    out: dict = {"clip": clip.name, "clip_seconds": len(y) / sr}
    for backend in ("litert", "keras"):
        p = Predictor.load(run, backend=backend)
        for _ in range(5):
            p.predict(y, sr)
        lat = []
        for _ in range(100):
            t = time.perf_counter()
            p.predict(y, sr)
            lat.append((time.perf_counter() - t) * 1000)
        cold, rss = [], []
        for _ in range(5):
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-c", COLD, str(run), backend, str(clip)], capture_output=True, text=True, cwd=ROOT, check=True)
            wall = time.perf_counter() - t
            first, peak, tf_loaded, _label = r.stdout.split(maxsplit=3)
            cold.append(wall)
            rss.append(float(peak))
        out[backend] = {
            "warm_median_ms": statistics.median(lat),
            "warm_p95_ms": pctl(lat, 0.95),
            "cold_process_s": statistics.median(cold),
            "cold_peak_rss_mb": statistics.median(rss),
            "imports_tensorflow": tf_loaded == "True",
        }
    return out


@section
def predict() -> dict:
    """CNN serving: warm latency of a 5 s clip and a cold process to first prediction, LiteRT vs Keras."""
    return _serving(_train_run("cnn"))


@section
def yamnet_cv() -> dict:
    """ESC-10 official 5-fold CV of the YAMNet embedding head (embedding extraction included)."""
    import soundkit.models.yamnet as ym

    shutil.rmtree(WORK / "cache" / "embeddings", ignore_errors=True)  # first fold pays for extraction
    t = time.perf_counter()
    paths = [str(c.path) for c in __import__("soundkit.datasets", fromlist=["load"]).load(ESC10).clips[:20]]
    emb = ym.load_embedder()
    for path in paths:
        from soundkit import audio

        y, sr = audio.load(path, sr=16000)
        emb.run(y, sr)
    per_clip = (time.perf_counter() - t) / len(paths)
    out = _cv("yamnet")
    out["embedding_seconds_per_clip"] = per_clip
    out["head"] = _yamnet_head()
    # the seed spread (initialisation, validation split, batch order), embeddings now cached
    out["seed_mean_accuracy"] = {"0": out["mean_accuracy"]}
    for seed in (1, 2):
        out["seed_mean_accuracy"][str(seed)] = _cv("yamnet", seed=seed)["mean_accuracy"]
    return out


def _yamnet_head() -> str:
    """The YAMNet head a default run trains, in words (BENCHMARKS.md names it beside its figures)."""
    import soundkit.models.yamnet as ym

    d = ym.HEAD_DEFAULTS
    return f"logistic regression, C {d['C']:g}" if d["classifier"] == "logistic" else f"MLP, {d['hidden']} hidden"


@section
def predict_yamnet() -> dict:
    """YAMNet-head serving: warm latency, cold process, LiteRT vs Keras."""
    return {**_serving(_train_run("yamnet")), "head": _yamnet_head()}


INCEPTION_MEMORY = r"""
import json, sys, threading, time
from pathlib import Path
import psutil
from soundkit import datasets
from soundkit.config import TrainConfig
from soundkit.training import train

me, stage, peaks, own = psutil.Process(), ["start"], {}, {}
def tree_rss():
    total = 0
    for p in [me, *me.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20
def watch():
    while True:
        rss = tree_rss()  # this process, the training and export children and their feature workers
        peaks[stage[0]] = max(peaks.get(stage[0], 0.0), rss)
        own[stage[0]] = max(own.get(stage[0], 0.0), me.memory_info().rss / 2**20)
        time.sleep(0.05)
def progress(event):
    stage[0] = event.get("stage") or stage[0]
if __name__ == "__main__":
    esc10, weights, out, cache = sys.argv[1:5]
    threading.Thread(target=watch, daemon=True).start()
    t = time.perf_counter()
    config = TrainConfig(model="inception", test_fold=5, epochs=2, options={"weights": weights, "head_epochs": 1})
    run = train(datasets.load(esc10), out=out, config=config, cache_dir=cache, progress=progress)
    time.sleep(0.2)
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
    meta = json.loads((Path(out) / "meta.json").read_text())
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": max(peaks.values()),
                      "stage_peak_rss_mb": peaks, "parent_peak_rss_mb": hwm, "parent_stage_rss_mb": own,
                      "processes": meta.get("processes", "one"), "export": meta.get("export"),
                      "train_seconds": meta.get("train_seconds")}))
"""


def _inception_memory() -> dict:
    """Peak RSS of a default-settings Inception V3 training (128x128 windows, batch 16, the frozen
    base + head, then the top blocks fine-tuned, then the LiteRT export) started from a fresh
    process, summed over the whole process tree (sampled every 50 ms), from a weights file saved
    here (ImageNet's file has the same shape; the weights' values do not change memory). Two epochs
    (one per phase): memory does not grow with epochs."""
    import keras

    wfile = WORK / "inception_notop.weights.h5"
    if not wfile.exists():
        keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(128, 128, 3),
                                       pooling="avg").save_weights(wfile)
    out = WORK / "run-inception-memory"
    shutil.rmtree(out, ignore_errors=True)
    script = WORK / "inception_memory.py"
    script.write_text(INCEPTION_MEMORY)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(script), str(ESC10), str(wfile), str(out), str(WORK / "cache")],
                          capture_output=True, text=True, env=env, check=True)
    res = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return res


@section
def inception() -> dict:
    """Inception V3: 5-fold CV where ImageNet weights are present (else say why not), and the peak
    memory of a default-settings training either way."""
    from soundkit.models import inception as inc

    out: dict = {}
    try:
        inc.resolve_weights("imagenet")  # ModelError when neither local nor downloadable
        out["imagenet_weights"] = True
    except Exception as exc:  # noqa: BLE001
        out["imagenet_weights"] = False
        out["reason"] = str(exc)
    out["memory"] = _inception_memory()
    if out["imagenet_weights"]:
        out.update(_cv("inception"))
    return out


@section
def augment_throughput() -> dict:
    """Augmented copies per second: Rubber Band vs the librosa fallback, 1 and 2 workers."""
    from soundkit import augment, datasets

    clips = datasets.load(ESC10).clips[:24]
    out: dict = {"clips": len(clips)}
    for engine in ("rubberband", "librosa"):
        policy = augment.Policy(name="bench", copies=1, transforms=[
            {"type": "time_stretch", "min_ratio": 0.8, "max_ratio": 1.25, "engine": engine},
            {"type": "pitch_shift", "min_semitones": -2.5, "max_semitones": 2.5, "engine": engine}])
        for workers in (1, 2):
            root = Path(tempfile.mkdtemp(prefix="bench-aug-"))
            t = time.perf_counter()
            augment.augment_clips(clips, policy, cache_dir=root, workers=workers)
            dt = time.perf_counter() - t
            shutil.rmtree(root)
            out[f"{engine}_{workers}"] = {"seconds": dt, "clips_per_s": len(clips) / dt}
    return out


@section
def augment_study() -> dict:
    """ESC-10 5-fold: CNN without augmentation, with stretch+pitch, and with the class-conditional
    policy chosen on training folds only, in one run."""
    from soundkit import augment_study as study_mod
    from soundkit import datasets
    from soundkit.config import TrainConfig

    res = study_mod.study(datasets.load(ESC10), sets=("none", "stretch+pitch"), copies=2,
                          config=TrainConfig(), cache_dir=WORK / "cache")
    res["peak_rss_mb"] = peak_rss_mb()
    return res


@section
def augment_policies() -> dict:
    """ESC-10 5-fold, the CNN with the other built-in policies: SpecAugment masks alone (no extra
    copies) and "full" (2 copies of stretch+pitch+noise+shift, plus masks)."""
    return {name: _cv("cnn", augment=name) for name in ("specaugment", "full")}


@section
def augment_recipe() -> dict:
    """ESC-10 5-fold, the CNN with the recipe's discrete deformations: 4 copies of each training clip,
    time ratio from {0.81, 0.93, 1.07, 1.23} and pitch from {-2, -1, 1, 2} semitones."""
    return {"recipe": _cv("cnn", augment="recipe")}


@section
def augment_mixup() -> dict:
    """ESC-10 5-fold, the CNN with mixup (alpha 0.2, blended afresh every epoch): alone, and on top of
    2 stretch+pitch copies of each training clip."""
    return {name: _cv("cnn", augment=name) for name in ("stretch+pitch+mixup", "mixup")}


@section
def augment_recipe_mixup() -> dict:
    """ESC-10 5-fold, the CNN with the recipe's 4 discrete-deformation copies and mixup on top."""
    return {"recipe+mixup": _cv("cnn", augment="recipe+mixup")}


#: The recipe's discrete deformations rendered 8 times per training clip instead of 4, with mixup.
RECIPE_X8_MIXUP = {"name": "recipe x8+mixup", "copies": 8, "transforms": "recipe", "mixup": 0.2}


@section
def augment_recipe_x8() -> dict:
    """ESC-10 5-fold, the CNN with 8 Rubber Band copies of each training clip (the recipe's values:
    copy k of a clip draws the same deformation as in "recipe" for k < 4) and mixup on top."""
    return {"recipe x8+mixup": _cv("cnn", augment=RECIPE_X8_MIXUP)}


@section
def augment_fixed() -> dict:
    """ESC-10 5-fold, the recipe's own comparison: the CNN trained on each clip's fixed windows (no
    random time shift, so no augmentation of any kind), then with the recipe's 4 Rubber Band copies
    and mixup on the same fixed windows."""
    fixed = {"crops": "fixed"}
    return {"none (fixed windows)": _cv("cnn", options=fixed),
            "recipe+mixup (fixed windows)": _cv("cnn", augment="recipe+mixup", options=fixed)}


@section
def augment_wide() -> dict:
    """ESC-10 5-fold, a wider CNN (filters 32-64-128-256) in one run: fixed windows with no augmentation
    at all, then every augmentation together (random time shift, the recipe's 4 Rubber Band copies and
    mixup)."""
    from soundkit.models.cnn import WIDE_FILTERS

    wide = {"filters": list(WIDE_FILTERS)}
    return {"wide, none (fixed windows)": _cv("cnn", options={**wide, "crops": "fixed"}),
            "wide, recipe+mixup (random shift)": _cv("cnn", augment="recipe+mixup", options=wide)}


APP_CLASSIFY = r"""
import sys, time, psutil, pathlib
from playwright.sync_api import sync_playwright
url, pid, clip = sys.argv[1], int(sys.argv[2]), sys.argv[3]
server = psutil.Process(pid)
def rss():
    return sum(p.memory_info().rss for p in [server, *server.children(recursive=True)]) / 2**20
idle = rss()
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--no-first-run"])
    page = b.new_page()
    page.goto(url)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.wait_for(state="attached", timeout=60000)
    after_load = rss()
    t = time.perf_counter()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files([clip])
    page.get_by_text("Heard:").first.wait_for(timeout=120000)
    dt = time.perf_counter() - t
    time.sleep(1)
    print(idle, after_load, rss(), dt)
    b.close()
"""


@section
def app_memory() -> dict:
    """RSS of `streamlit run` idle, with a page open, and after classifying an ESC-10 clip with the
    CNN run (LiteRT); plus the peak RSS of a training child process (train_memory)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from appserver import serve

    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    run = _train_run("cnn")
    shutil.copytree(run, home / "runs" / "esc10-cnn")
    try:
        with serve(home, timeout=60) as (url, proc):
            time.sleep(2)
            r = subprocess.run([sys.executable, "-c", APP_CLASSIFY, f"{url}/", str(proc.pid), str(esc10_clip())],
                               capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"browser session failed: {r.stderr[-2000:]}")
        idle, loaded, classified, seconds = map(float, r.stdout.split())
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"idle_rss_mb": idle, "page_open_rss_mb": loaded, "after_classify_rss_mb": classified,
            "upload_to_label_s": seconds}


@section
def hosted_load() -> dict:
    """p50/p95 classify latency of 1, 4 and 8 concurrent browser sessions against `streamlit run` in
    hosted mode, then 8 while a ninth trains; peak RSS of the server's process tree (bench/hosted_load.py)."""
    from bench import hosted_load as hl

    weights = SHARED / "weights"
    return hl.run(ESC10, weights if (weights / "yamnet.tflite").is_file() else None)


@section
def hostile() -> dict:
    """Each hostile file kind: seconds and peak MB before (main's code) and after (bench/hostile.py)."""
    from bench.hostile import measure

    return measure()

from bench.scale import SECTIONS as _SCALE_SECTIONS  # noqa: E402 - the Scale-out sections (bench/scale.py)

SECTIONS.update(_SCALE_SECTIONS)

from bench.listening import SECTIONS as _LISTENING  # noqa: E402 - the "Listening" sections live there

SECTIONS.update(_LISTENING)


@section
def region_editor() -> dict:
    """Overview and zoom-detail time and bytes of the region editor for 1-30 min recordings (bench/region_editor.py)."""
    from bench import region_editor as rg

    return rg.measure(WORK / "region_editor")


@section
def region_edits() -> dict:
    """Websocket bytes the browser receives per region edit and on opening the Regions tab, in Chromium
    (bench/region_edits.py); keeps the stored "before" figures (the code that re-sent the overview)."""
    from bench import region_edits as rge

    out = RESULTS / "region_edits.json"
    before = json.loads(out.read_text()).get("before") if out.is_file() else None
    return {**rge.measure(), **({"before": before} if before else {})}


@section
def datamap() -> dict:
    """Mislabel flag precision/recall on ESC-10 with 5% swapped labels; 2,000-clip map time (bench/datamap.py)."""
    from bench import datamap as dm

    return dm.measure(ESC10, SHARED / "weights", WORK / "cache-datamap")


@section
def keyboard() -> dict:
    """Clips labelled per minute in the Label page's clip-by-clip flow, keyboard only, in Chromium (bench/keyboard.py)."""
    from bench import keyboard as kb

    return kb.measure()


def render() -> str:
    results = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    from bench.report import render_markdown

    return render_markdown(results)


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")).split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        pass
    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for mod in ("tensorflow", "keras", "ai_edge_litert", "librosa", "streamlit"):
        try:
            from importlib.metadata import version

            versions[mod] = version({"ai_edge_litert": "ai-edge-litert", "tensorflow": "tensorflow-cpu"}.get(mod, mod))
        except Exception:  # noqa: BLE001
            pass
    rb = shutil.which("rubberband")
    if rb:
        versions["rubberband"] = subprocess.run([rb, "--version"], capture_output=True, text=True).stderr.strip() or "present"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "os": platform.platform(), "versions": versions,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def run_child(name: str) -> None:
    t = time.perf_counter()
    data = SECTIONS[name]()
    data["section_seconds"] = time.perf_counter() - t
    data["machine"] = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sections", nargs="*", help=f"sections to run (default all): {', '.join(SECTIONS)}")
    ap.add_argument("--render", action="store_true", help="only re-render BENCHMARKS.md from stored results")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_child(args.child)
        return
    if not args.render:
        if not ESC10.is_dir():
            sys.exit(f"error: ESC-10 not found at {ESC10} (set SOUNDKIT_SHARED)")
        names = args.sections or list(SECTIONS)
        unknown = [n for n in names if n not in SECTIONS]
        if unknown:
            sys.exit(f"error: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
        for name in names:
            print(f"== {name}", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, __file__, "--child", name], check=True, cwd=ROOT)
    (ROOT / "BENCHMARKS.md").write_text(render())
    print(f"wrote {ROOT / 'BENCHMARKS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
