"""Scale-out benchmarks (registered into bench/run.py's sections; rendered by :func:`render`).

- ``scale_featurize``: featurize throughput (clips/s) for ESC-10,
  serial / local engine with 1 and 2 processes / Ray with 1 and 2 nodes on this machine
  (soundkit.scale.cluster.LocalCluster, 1 CPU per node); peak memory of every worker; seconds per
  clip for each stage; bytes per clip of the shards; Parquet against TFRecord for one shard.
- ``scale_train_memory``: peak RSS of ``train DIR`` (streaming from shards) at 1x, 4x and 16x
  ESC-10 (synthetic copies of its shards under new clip ids), each in a fresh process.
- ``scale_featurize_synthetic``: the same engines on a synthetic 20,000-clip set (0.5 s clips,
  generated at the start and deleted at the end), one run of each.

    python bench/run.py scale_featurize scale_featurize_synthetic scale_train_memory
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOUNDKIT_SHARED") or ROOT.parent / "shared")
ESC10 = SHARED / "data" / "ESC-10"
WORK = ROOT / "bench" / ".work" / "scale"

SECTIONS: dict[str, callable] = {}


def section(fn):
    SECTIONS[fn.__name__] = fn
    return fn


def _synthetic(root: Path, n: int, *, seconds: float = 0.5, sr: int = 16000) -> Path:
    """``n`` short clips (a tone in noise) in 10 label folders, ESC-style names for 5 folds."""
    import numpy as np
    import soundfile as sf

    if (root / "done").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    for i in range(n):
        label = i % 10
        y = 0.3 * np.sin(2 * np.pi * (200 * (label + 1) + rng.uniform(0, 50)) * t) + rng.normal(0, 0.02, t.size)
        d = root / f"class{label}"
        d.mkdir(parents=True, exist_ok=True)
        sf.write(str(d / f"{i % 5 + 1}-{i}-A.wav"), y.astype(np.float32), sr, subtype="PCM_16")
    (root / "done").write_text("ok")
    return root


def _workers(out: Path) -> dict:
    """Peak RSS per worker process (MB) and shard seconds, from the shards' info files."""
    infos = [json.loads(p.read_text()) for p in (out / "shards").glob("shard-*.json")]
    per: dict[str, float] = {}
    for i in infos:
        key = f"{i['node'][:12]}:{i['pid']}"
        per[key] = max(per.get(key, 0.0), i.get("peak_rss_mb") or 0.0)
    return {"workers": len(per), "peak_rss_mb_max": max(per.values()), "peak_rss_mb_median": statistics.median(per.values()),
            "nodes": len({i["node"] for i in infos})}


def _featurize_in_child(ds, out: Path, kw: dict) -> tuple[float, int]:
    from soundkit.scale import featurize

    t = time.perf_counter()
    r = featurize(ds, out=out, **kw)
    return time.perf_counter() - t, r.n_clips


def _run(ds, out: Path, **kw) -> dict:
    """One featurize; the serial engine runs in a fresh process, so that its peak RSS is its own."""
    from soundkit.scale import featurize

    shutil.rmtree(out, ignore_errors=True)
    if kw.get("engine") == "serial":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            dt, n = pool.submit(_featurize_in_child, ds, out, kw).result()
    else:
        t = time.perf_counter()
        n = featurize(ds, out=out, **kw).n_clips
        dt = time.perf_counter() - t
    return {"seconds": dt, "clips": n, "clips_per_s": n / dt, **_workers(out), "load_1min": os.getloadavg()[0]}


def _engines(ds, name: str, *, shard_size: int, repeats: int, clusters: dict) -> dict:
    """Every engine on ``ds``, round-robin (serial, local 1, local 2, Ray 1 node, Ray 2 nodes, then
    again), so that all see the same load; the run with the median time of each engine is kept."""
    import ray

    from soundkit.scale import ray_engine

    out = WORK / f"out-{name}"
    engines = {"serial": {"engine": "serial"}, "local_1": {"engine": "local", "workers": 1},
               "local_2": {"engine": "local", "workers": 2},
               "ray_1": {"engine": "ray", "address": clusters[1].address},
               "ray_2": {"engine": "ray", "address": clusters[2].address}}
    runs: dict[str, list] = {k: [] for k in engines}
    for _ in range(repeats):
        for key, kw in engines.items():
            kw = {**kw, "shard_size": shard_size}
            if kw["engine"] == "ray":
                t = time.perf_counter()
                ray_engine.connect(kw["address"])
                connect = time.perf_counter() - t
                runs[key].append({**_run(ds, out, **kw), "connect_s": connect})
                ray.shutdown()
            else:
                runs[key].append(_run(ds, out, **kw))
            print(f"{name} {key}: {runs[key][-1]['clips_per_s']:.0f} clips/s", file=sys.stderr, flush=True)
    res: dict = {}
    for key, rs in runs.items():
        best = sorted(rs, key=lambda r: r["seconds"])[len(rs) // 2]
        res[key] = {**best, "runs_s": [r["seconds"] for r in rs]}
    shards = sorted((out / "shards").glob("shard-*.parquet"))
    res["shards"] = len(shards)
    res["shard_mb"] = statistics.median(p.stat().st_size for p in shards) / 2**20
    res["bytes_per_clip"] = sum(p.stat().st_size for p in shards) / res["serial"]["clips"]
    return res


def _stages(paths: list[str]) -> dict:
    """Seconds per clip of each stage (read, decode+resample, log-mel, YAMNet, shard encode)."""
    import numpy as np

    from soundkit import audio
    from soundkit.config import FeatureConfig
    from soundkit.features import _single_blas_thread, clip_log_mel
    from soundkit.models import yamnet
    from soundkit.scale.shards import encode_shard

    fc = FeatureConfig()
    t = {"read": [], "decode_44k": [], "logmel": [], "decode_16k": [], "yamnet": []}
    mels, embs = [], []
    emb = yamnet.load_embedder() if yamnet.model_path(allow_download=False).exists() else None
    with _single_blas_thread():
        for p in paths:
            t0 = time.perf_counter()
            data = Path(p).read_bytes()
            t1 = time.perf_counter()
            y, _ = audio.load(data, sr=fc.sr)
            t2 = time.perf_counter()
            S = clip_log_mel(y, fc)
            t3 = time.perf_counter()
            t["read"].append(t1 - t0)
            t["decode_44k"].append(t2 - t1)
            t["logmel"].append(t3 - t2)
            mels.append(S)
            if emb is not None:
                y16, sr = audio.load(data, sr=16000)
                t4 = time.perf_counter()
                _, E, _ = emb.run(y16, sr)
                t5 = time.perf_counter()
                t["decode_16k"].append(t4 - t3)
                t["yamnet"].append(t5 - t4)
                embs.append(E)
    rec = [{"id": str(i), "label": "x", "fold": 1, "source": "s", "hash": "h", "path": p, "features": S}
           for i, (p, S) in enumerate(zip(paths, mels, strict=True))]
    t0 = time.perf_counter()
    blob = encode_shard(rec, plan_key="k")
    enc = time.perf_counter() - t0
    out = {k: statistics.median(v) for k, v in t.items() if v}
    out["encode_per_clip"] = enc / len(rec)
    out["logmel_mb_per_clip_raw"] = float(np.mean([S.nbytes for S in mels])) / 2**20
    out["logmel_mb_per_clip_parquet"] = len(blob) / len(rec) / 2**20
    if embs:
        out["yamnet_mb_per_clip_raw"] = float(np.mean([E.nbytes for E in embs])) / 2**20
    out["clips"] = len(paths)
    return out, rec


def _formats(rec: list[dict]) -> dict:
    """One shard as Parquet (zstd) and as TFRecord (tf.train.Example, GZIP and none): size, write,
    read everything, read only the clip ids (what the manifest and a fold filter need)."""
    import pyarrow.parquet as pq
    import tensorflow as tf

    from soundkit.scale.shards import encode_shard

    d = WORK / "formats"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    out: dict[str, dict] = {}
    t0 = time.perf_counter()
    (d / "s.parquet").write_bytes(encode_shard(rec, plan_key="k"))
    w = time.perf_counter() - t0
    t0 = time.perf_counter()
    pq.read_table(d / "s.parquet")
    ra = time.perf_counter() - t0
    t0 = time.perf_counter()
    pq.read_table(d / "s.parquet", columns=["id", "label", "fold"])
    ri = time.perf_counter() - t0
    out["parquet_zstd"] = {"mb": (d / "s.parquet").stat().st_size / 2**20, "write_s": w, "read_all_s": ra, "read_ids_s": ri}
    for comp in ("", "GZIP"):
        path = str(d / f"s{comp}.tfrecord")
        t0 = time.perf_counter()
        with tf.io.TFRecordWriter(path, options=comp or None) as wr:
            for r in rec:
                S = r["features"]
                ex = tf.train.Example(features=tf.train.Features(feature={
                    "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[r["id"].encode()])),
                    "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[r["label"].encode()])),
                    "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=list(S.shape))),
                    "features": tf.train.Feature(bytes_list=tf.train.BytesList(value=[S.astype("<f4").tobytes()])),
                }))
                wr.write(ex.SerializeToString())
        w = time.perf_counter() - t0
        t0 = time.perf_counter()
        ids = [tf.train.Example.FromString(x.numpy()).features.feature["id"].bytes_list.value[0]
               for x in tf.data.TFRecordDataset(path, compression_type=comp or None)]
        ra = time.perf_counter() - t0
        assert len(ids) == len(rec)
        out[f"tfrecord{('_' + comp.lower()) if comp else ''}"] = {"mb": Path(path).stat().st_size / 2**20, "write_s": w,
                                                                  "read_all_s": ra, "read_ids_s": ra}
    return out


@section
def scale_featurize() -> dict:
    from soundkit import datasets

    WORK.mkdir(parents=True, exist_ok=True)
    esc = datasets.load(ESC10)
    from soundkit.scale.cluster import LocalCluster

    res: dict = {"load_1min_start": os.getloadavg()[0]}
    # both clusters up for the whole section (1 CPU per node), so every engine runs under the same conditions
    with LocalCluster("/tmp/skb1", nodes=1, num_cpus=1) as c1, LocalCluster("/tmp/skb2", nodes=2, num_cpus=1) as c2:
        clusters = {1: c1, 2: c2}
        res["esc10"] = _engines(esc, "esc10", shard_size=50, repeats=int(os.environ.get("SCALE_BENCH_REPEATS", 3)),
                                clusters=clusters)
    res["load_1min_end"] = os.getloadavg()[0]
    paths = [str(c.path) for c in esc.clips[::8]]
    res["stages"], rec = _stages(paths)
    res["formats"] = _formats(rec)
    from soundkit.scale import featurize

    if res["stages"].get("yamnet"):
        out = WORK / "out-esc10-yamnet"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        r = featurize(esc, out=out, kind="yamnet", engine="local", workers=2, shard_size=50)
        dt = time.perf_counter() - t
        shards = sorted((out / "shards").glob("shard-*.parquet"))
        res["esc10_yamnet_local_2"] = {"seconds": dt, "clips_per_s": r.n_clips / dt, **_workers(out),
                                       "bytes_per_clip": sum(p.stat().st_size for p in shards) / r.n_clips}
    return res


@section
def scale_featurize_synthetic() -> dict:
    """Featurize throughput on a synthetic set of 20,000 short clips (0.5 s WAV), one run of each engine.

    The set is generated at the start of the section and deleted at its end, with every output.
    """
    from soundkit import datasets
    from soundkit.scale.cluster import LocalCluster

    WORK.mkdir(parents=True, exist_ok=True)
    n = int(os.environ.get("SCALE_BENCH_CLIPS", 20000))  # a smaller set for a dry run of the section
    root = WORK / f"synthetic-{n}"
    try:
        t = time.perf_counter()
        syn = datasets.load(_synthetic(root, n))
        res: dict = {"generate_s": time.perf_counter() - t, "load_1min_start": os.getloadavg()[0]}
        with LocalCluster("/tmp/skb1", nodes=1, num_cpus=1) as c1, LocalCluster("/tmp/skb2", nodes=2, num_cpus=1) as c2:
            res["synthetic"] = _engines(syn, "synthetic", shard_size=500, repeats=1, clusters={1: c1, 2: c2})
        res["synthetic"]["clip_seconds"] = 0.5
        res["load_1min_end"] = os.getloadavg()[0]
        res["set_mb"] = sum(p.stat().st_size for p in root.rglob("*.wav")) / 2**20
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(WORK / "out-synthetic", ignore_errors=True)
    return res


def _replicate(src: Path, dst: Path, k: int) -> Path:
    """``src`` featurized directory with every clip ``k`` times (ids ``<id>#copy<j>``, same folds)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from soundkit.scale import shards as sh

    if (dst / sh.MANIFEST_NAME).exists():
        return dst
    shutil.rmtree(dst, ignore_errors=True)
    (dst / sh.SHARDS_DIR).mkdir(parents=True)
    plan = json.loads((src / sh.PLAN_NAME).read_text())
    n = 0
    for j in range(k):
        for p in sorted((src / sh.SHARDS_DIR).glob("shard-*.parquet")):
            t = pq.read_table(p)
            ids = pa.array([f"{i}#copy{j}" for i in t.column("id").to_pylist()])
            t = t.set_column(t.schema.get_field_index("id"), "id", ids)
            name = sh.shard_name(n)
            pq.write_table(t, dst / sh.SHARDS_DIR / name, compression="zstd", row_group_size=sh.ROW_GROUP)
            info = json.loads(p.with_suffix(".json").read_text())
            (dst / sh.SHARDS_DIR / name).with_suffix(".json").write_text(json.dumps({**info, "shard": n}))
            n += 1
    plan.update(n_shards=n, n_clips=plan["n_clips"] * k, clips_sha256=f"replicated x{k}")
    (dst / sh.PLAN_NAME).write_text(json.dumps(plan, indent=2))
    sh.build_manifest(dst, n, features_key=plan["features_key"])
    return dst


@section
def scale_train_memory() -> dict:
    from soundkit import datasets
    from soundkit.scale import featurize, read_manifest

    base = WORK / "train-1x"
    if not (base / "manifest.parquet").exists():
        shutil.rmtree(base, ignore_errors=True)
        featurize(datasets.load(ESC10), out=base, engine="local", workers=2, shard_size=50)
    res: dict = {}
    for k in [int(x) for x in os.environ.get("SCALE_BENCH_COPIES", "1,4,16").split(",")]:
        d = base if k == 1 else _replicate(base, WORK / f"train-{k}x", k)
        run = WORK / f"run-{k}x"
        shutil.rmtree(run, ignore_errors=True)
        code = ("import resource, sys, time; t = time.perf_counter(); sys.argv = ['soundkit'] + sys.argv[1:]\n"
                "from soundkit.cli import main\nrc = main()\n"
                "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - t, rc, file=sys.stderr)")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "SOUNDKIT_HOME": str(WORK / "home")}
        p = subprocess.run([sys.executable, "-c", code, "train", str(d), "--out", str(run), "--epochs", "1", "--test-fold", "5", "--json"],
                           capture_output=True, text=True, env=env, cwd=ROOT)
        line = next(ln for ln in p.stderr.splitlines() if ln.startswith("PEAK"))
        _, peak, secs, rc = line.split()
        assert rc == "0", p.stderr[-2000:]
        summary = json.loads(p.stdout)
        n = len(read_manifest(d))
        res[f"x{k}"] = {"clips": n, "peak_rss_mb": float(peak), "seconds": float(secs), "accuracy": summary["accuracy"],
                        "disk_mb": sum(f.stat().st_size for f in (d / "shards").glob("*.parquet")) / 2**20}
        print(f"train x{k}: {float(peak):.0f} MB, {float(secs):.0f} s", file=sys.stderr, flush=True)
    last = max(res, key=lambda key: int(key[1:]))
    res["growth_16x_over_1x"] = res[last]["peak_rss_mb"] / res["x1"]["peak_rss_mb"] - 1
    return res


def render(results: dict, targets: list[str]) -> list[str]:
    """The "Scale-out" section of BENCHMARKS.md."""
    lines: list[str] = []
    if not {"scale_featurize", "scale_featurize_synthetic", "scale_train_memory"} & set(results):
        return lines
    lines += ["## Scale-out", "",
              "`python bench/run.py scale_featurize scale_featurize_synthetic scale_train_memory`. Ray nodes are `ray start` processes on this one "
              "machine (soundkit.scale.cluster.LocalCluster, 1 CPU each); the machine's 2 cores are shared with other "
              "work while these run, so compare the figures of one table with each other (measured side by side).", ""]
    r = dict(results.get("scale_featurize") or {})
    syn = results.get("scale_featurize_synthetic")
    if syn:  # its own section (newer than a synthetic set measured inside scale_featurize)
        r["synthetic"] = syn["synthetic"]
    if r:
        for key, title in (("esc10", "ESC-10 (400 clips of 5 s, Ogg Vorbis 44.1 kHz), shards of 50 clips, median of 3 runs"),
                           ("synthetic", "synthetic {n:,} clips of 0.5 s (WAV 16 kHz), shards of 500 clips, one run of each engine")):
            e = r.get(key)
            if not e:
                continue
            title = title.format(n=e["serial"]["clips"])
            if key == "synthetic" and syn:
                title += (f" (measured {syn['machine']['date']}, load average {syn['load_1min_start']:.1f} at the start "
                          f"and {syn['load_1min_end']:.1f} at the end; the set, {syn['set_mb']:.0f} MB, was generated in "
                          f"{syn['generate_s']:.0f} s and deleted afterwards)")
            if key == "synthetic" and e["serial"]["clips"] < 20000:
                title += (" (a fraction of the 20,000 asked for: generating and featurizing 20,000 five times did not fit "
                          "this session on the shared machine; the rates per clip are what counts)")
            base = e["serial"]["clips_per_s"]
            order = ("engines run round-robin so that each sees the same load" if len(e["serial"]["runs_s"]) > 1 else
                     "engines run one after another, in the table's order, on a machine shared with other work")
            lines += [f"**Featurize (log-mel), {title}**; {order}", "",
                      "| engine | clips/s | vs serial | seconds | peak RSS per worker (max) | workers | nodes | load (1 min) after |",
                      "|---|---|---|---|---|---|---|---|"]
            for k, name in (("serial", "serial (one process, no pool)"), ("local_1", "local, 1 process"), ("local_2", "local, 2 processes"),
                            ("ray_1", "Ray, 1 node"), ("ray_2", "Ray, 2 nodes")):
                x = e[k]
                extra = f" (incl. {x['connect_s']:.1f} s to connect)" if "connect_s" in x else ""
                lines.append(f"| {name} | {x['clips_per_s']:.0f} | {x['clips_per_s'] / base:.2f}x | {x['seconds']:.1f}{extra} | "
                             f"{x['peak_rss_mb_max']:.0f} MB | {x['workers']} | {x['nodes']} | {x['load_1min']:.1f} |")
            lines += ["", f"{e['shards']} shards, median {e['shard_mb']:.2f} MB; {e['bytes_per_clip'] / 1024:.0f} KB per clip.", ""]
        s = r.get("stages")
        if s:
            lines += ["**Seconds per clip, by stage** (ESC-10, 50 clips of 5 s, one process, one BLAS thread; medians)", "",
                      "| stage | ms per clip |", "|---|---|"]
            for k, name in (("read", "read the file"), ("decode_44k", "decode + resample to 44.1 kHz"), ("logmel", "log-mel (128 x 216)"),
                            ("decode_16k", "decode + resample to 16 kHz"), ("yamnet", "YAMNet embeddings (LiteRT)"),
                            ("encode_per_clip", "Parquet encode (zstd)")):
                if k in s:
                    lines.append(f"| {name} | {s[k] * 1000:.1f} |")
            lines += ["", f"Log-mel per clip: {s['logmel_mb_per_clip_raw']:.3f} MB as float32, "
                      f"{s['logmel_mb_per_clip_parquet']:.3f} MB in a Parquet shard (zstd)"
                      + (f"; YAMNet embeddings per clip {s['yamnet_mb_per_clip_raw']:.3f} MB as float32" if "yamnet_mb_per_clip_raw" in s else "")
                      + ".", ""]
        y = r.get("esc10_yamnet_local_2")
        if y:
            lines += [f"YAMNet embeddings of ESC-10, local engine with 2 processes: {y['clips_per_s']:.1f} clips/s "
                      f"({y['seconds']:.0f} s), {y['bytes_per_clip'] / 1024:.0f} KB per clip in the shards, peak RSS per worker "
                      f"{y['peak_rss_mb_max']:.0f} MB.", ""]
        f = r.get("formats")
        if f:
            lines += ["**One shard (50 ESC-10 log-mels) as Parquet and as TFRecord**", "",
                      "| format | MB | write s | read all s | read clip ids only s |", "|---|---|---|---|---|"]
            for k, v in f.items():
                lines.append(f"| {k} | {v['mb']:.2f} | {v['write_s']:.3f} | {v['read_all_s']:.3f} | {v['read_ids_s']:.4f} |")
            lines.append("")
    m = results.get("scale_train_memory")
    if m:
        lines += ["**Training from shards: peak RSS** (`train DIR --epochs 1 --test-fold 5`, CNN, fresh process; "
                  "4x and 16x are ESC-10's shards copied under new clip ids)", "",
                  "| data | clips | shards on disk | peak RSS | seconds |", "|---|---|---|---|---|"]
        for k in sorted((k for k in m if k.startswith("x") and k[1:].isdigit()), key=lambda k: int(k[1:])):
            v = m[k]
            lines.append(f"| {k[1:]}x | {v['clips']} | {v['disk_mb']:.0f} MB | {v['peak_rss_mb']:.0f} MB | {v['seconds']:.0f} |")
        g = m["growth_16x_over_1x"]
        top = max((k for k in m if k.startswith("x") and k[1:].isdigit()), key=lambda k: int(k[1:]))
        lines += ["", f"Peak memory at {top[1:]}x is {g:+.1%} against 1x.", ""]
        targets.append(f"| training from shards: peak RSS at {top[1:]}x within 20% of 1x | {g:+.1%} | "
                       f"{'yes' if abs(g) <= 0.2 else '**no**'} |")
    return lines


def audioset_plan(r: dict, *, cores_per_node: int = 16, clips: int = 2_000_000, clip_s: float = 10.0) -> str:
    """The AudioSet table of docs/SCALE.md from ``scale_featurize`` results (``python bench/scale.py --plan``).

    Stage times scale linearly with duration (ESC-10 clips are 5 s); one process per core.
    """
    s = r["stages"]
    k = clip_s / 5.0
    logmel_s = (s["read"] + s["decode_44k"] + s["logmel"] + s["encode_per_clip"]) * k
    yamnet_s = (s["read"] + s["decode_16k"] + s["yamnet"]) * k
    mb_logmel = s["logmel_mb_per_clip_parquet"] * k
    y = r.get("esc10_yamnet_local_2", {})
    mb_yamnet = (y.get("bytes_per_clip", 0) / 2**20) * k
    rows = [("read the file", s["read"] * k, None), ("decode + resample to 44.1 kHz", s["decode_44k"] * k, None),
            ("log-mel (128 x 431)", s["logmel"] * k, s["logmel_mb_per_clip_raw"] * k),
            ("Parquet encode", s["encode_per_clip"] * k, mb_logmel),
            ("decode + resample to 16 kHz (YAMNet)", s["decode_16k"] * k, None),
            ("YAMNet embeddings (~20 frames)", s["yamnet"] * k, s.get("yamnet_mb_per_clip_raw", 0) * k)]
    out = ["| stage (one 10 s clip, one core) | seconds | MB out |", "|---|---|---|"]
    out += [f"| {n} | {t:.3f} | {'' if mb is None else f'{mb:.3f}'} |" for n, t, mb in rows]
    out += ["", "| | log-mel | YAMNet embeddings |", "|---|---|---|"]

    def per_day(t: float) -> float:
        return 86400 * cores_per_node / t

    out.append(f"| core-seconds per clip | {logmel_s:.3f} | {yamnet_s:.3f} |")
    out.append(f"| clips per {cores_per_node}-core node per day | {per_day(logmel_s) / 1e6:.1f} M | {per_day(yamnet_s) / 1e6:.1f} M |")
    out.append(f"| {cores_per_node}-core nodes to featurize {clips / 1e6:.0f} M clips in a day | "
               f"{clips / per_day(logmel_s):.2f} | {clips / per_day(yamnet_s):.2f} |")
    out.append(f"| shard storage for {clips / 1e6:.0f} M clips | {clips * mb_logmel / 1024:.0f} GB | "
               f"{clips * mb_yamnet / 1024:.0f} GB |")
    out.append(f"| one shard of 256 clips | {256 * mb_logmel:.0f} MB | {256 * mb_yamnet:.1f} MB |")
    out.append(f"| shards | {clips // 256 + 1} | {clips // 256 + 1} |")
    return "\n".join(out)


if __name__ == "__main__" and "--plan" in sys.argv:
    print(audioset_plan(json.loads((ROOT / "bench" / "results" / "scale_featurize.json").read_text())))
