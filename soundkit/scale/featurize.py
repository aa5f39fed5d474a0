"""featurize: decode every clip once and write its features into Parquet shards plus a manifest.

The shard is the unit of work. Clip ``i`` of the dataset (in the dataset's own, deterministic
order, folds assigned) goes to shard ``i // shard_size``; :func:`featurize_shard` turns one shard's
clips into the Parquet bytes of :func:`soundkit.scale.shards.encode_shard` and a small info dict,
and only the coordinating process writes files (atomically). Engines differ only in where
:func:`featurize_shard` runs:

- ``serial``: in this process (``--workers 0``);
- ``local``: a ``spawn`` process pool on this machine;
- ``ray``: one Ray task per shard on a cluster (:mod:`soundkit.scale.ray_engine`); a task lost
  with its node is retried by Ray (``max_retries``).

Resumable: a shard whose file exists is complete and is not redone; the manifest is written last,
from the shards. Deterministic: a shard's bytes depend only on its clips and the configuration
(one BLAS thread everywhere, so the mel projection rounds the same in every process).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soundkit.errors import DatasetError, ParameterError
from soundkit.scale import shards as sh

__all__ = ["featurize", "FeaturizeResult", "featurize_shard", "KINDS", "ENGINES"]

log = logging.getLogger(__name__)

KINDS = ("logmel", "yamnet")
ENGINES = ("serial", "local", "ray")
#: Clips per shard (``--shard-size``): 256 ten-second log-mels are about 56 MB.
SHARD_SIZE = 256

Progress = Callable[[dict], None]


@dataclass
class FeaturizeResult:
    """What a featurize run did. ``nodes`` maps node id -> shards it wrote in this run."""

    root: Path
    n_clips: int
    n_shards: int
    done_before: int
    written: int
    failed: list[tuple[str, str]]
    seconds: float
    engine: str
    nodes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"dir": str(self.root), "clips": self.n_clips, "shards": self.n_shards,
                "shards_done_before": self.done_before, "shards_written": self.written,
                "failed": [list(f) for f in self.failed], "seconds": self.seconds, "engine": self.engine,
                "nodes": self.nodes}


def _feature_spec(kind: str, features) -> tuple[dict[str, Any], str]:
    """(configuration dict saved in the plan, its key): the FeatureConfig for logmel, the YAMNet
    file's checksum for yamnet (its frontend is fixed)."""
    if kind == "logmel":
        return features.to_dict(), features.key
    from soundkit.models import yamnet

    embedder = yamnet.load_embedder()  # fails now (ModelError) when the weights are missing
    return {"model": "yamnet", "sha256": embedder.sha256, "sample_rate": yamnet.SAMPLE_RATE}, embedder.key


def plan_shards(dataset, *, kind: str, features, shard_size: int, seed: int = 0) -> tuple[dict, list[list[dict]]]:
    """(plan dict, clip entries per shard) for ``dataset`` with folds assigned (seeded)."""
    dataset = dataset.with_folds(seed=seed)
    entries = [{"id": c.id, "label": c.label, "fold": int(c.fold), "source": c.source, "path": os.path.abspath(c.path)}
               for c in dataset.clips]
    ids = [e["id"] for e in entries]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{dataset.root}: clip ids are not unique")
    config, key = _feature_spec(kind, features)
    groups = [entries[i : i + shard_size] for i in range(0, len(entries), shard_size)]
    plan = {
        "format": sh.FORMAT_VERSION, "kind": kind, "features": config, "features_key": key,
        "dataset": str(dataset.root), "layout": dataset.layout, "official_folds": bool(dataset.official_folds),
        "seed": seed, "shard_size": shard_size, "n_clips": len(entries), "n_shards": len(groups),
        "clips_sha256": sh.clips_digest([(e["id"], e["path"], e["label"], e["fold"], e["source"]) for e in entries]),
    }
    return plan, groups


def _node_id() -> str:
    """This process's node: the Ray node id inside a Ray worker, else ``local:<host>``."""
    import sys

    if "ray" in sys.modules:  # only a Ray worker (or driver) has it imported
        from soundkit.scale.ray_engine import current_node

        node = current_node()
        if node:
            return node
    return f"local:{socket.gethostname()}"


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory so far (Linux/macOS), for the shard's info."""
    try:
        import resource
        import sys

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(kb / (2**20 if sys.platform == "darwin" else 1024), 1)
    except (ImportError, OSError):
        return None


def featurize_shard(index: int, clips: Sequence[dict], kind: str, config: dict, key: str) -> tuple[bytes, dict]:
    """Features of one shard's clips: (Parquet bytes, info dict).

    Runs wherever the engine puts it (this process, a pool worker, a Ray task). A clip that cannot
    be decoded is left out of the shard and listed in ``info["failed"]`` as (id, message).
    """
    from soundkit import audio
    from soundkit.errors import SoundkitError
    from soundkit.features import _keep_freed_memory, _single_blas_thread, clip_log_mel, content_hash

    t0 = time.monotonic()
    _keep_freed_memory()
    records, failed = [], []
    with _single_blas_thread():
        if kind == "logmel":
            from soundkit.config import FeatureConfig

            fc = FeatureConfig.from_dict(config)
        else:
            from soundkit.models import yamnet

            embedder = yamnet.load_embedder()
            if embedder.key != key:
                raise DatasetError(f"the YAMNet model on node {_node_id()} is not the one this job was planned with")
        for c in clips:
            try:
                data = Path(c["path"]).read_bytes()
                if kind == "logmel":
                    y, _ = audio.load(data, sr=fc.sr, name=c["path"])
                    F = clip_log_mel(y, fc)
                else:
                    y, sr = audio.load(data, sr=yamnet.SAMPLE_RATE, name=c["path"])
                    _, E, _ = embedder.run(y, sr)
                    F = E[yamnet.sounding_frames(E, embedder.silence)]
            except (SoundkitError, OSError) as exc:
                failed.append((c["id"], " ".join(str(exc).split())[:300]))
                continue
            records.append({**c, "hash": content_hash(data), "features": F})
    blob = sh.encode_shard(records, plan_key=key)
    info = {"shard": index, "node": _node_id(), "host": socket.gethostname(), "pid": os.getpid(),
            "clips": len(records), "failed": failed, "seconds": round(time.monotonic() - t0, 3),
            "peak_rss_mb": _peak_rss_mb()}
    return blob, info


def _write_shard(root: Path, blob: bytes, info: dict) -> None:
    """The shard's info first, then the shard itself (both atomic): an existing shard is complete."""
    import hashlib

    from soundkit.fileio import write_atomic

    path = root / sh.SHARDS_DIR / sh.shard_name(int(info["shard"]))
    info = {**info, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    write_atomic(path.with_suffix(".json"), json.dumps(info, indent=1) + "\n")
    write_atomic(path, blob)


def _open_plan(root: Path, plan: dict) -> None:
    """Create ``featurize.json``, or check that the one there is this same job (resume)."""
    from soundkit.fileio import write_atomic

    file = root / sh.PLAN_NAME
    if file.exists():
        try:
            old = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        same = old is not None and all(old.get(k) == plan[k] for k in
                                       ("format", "kind", "features", "features_key", "shard_size", "clips_sha256"))
        if not same:
            raise DatasetError(f"{root}: holds features of another dataset or configuration; choose another --out")
        return
    if root.exists() and any(root.iterdir()):
        raise DatasetError(f"{root}: exists and is not a featurized directory; choose an empty or new --out")
    (root / sh.SHARDS_DIR).mkdir(parents=True, exist_ok=True)
    write_atomic(file, json.dumps(plan, indent=2, sort_keys=True) + "\n")


def _done(root: Path, k: int) -> bool:
    path = root / sh.SHARDS_DIR / sh.shard_name(k)
    return path.is_file() and path.with_suffix(".json").is_file()


def featurize(
    dataset,
    *,
    out: str | os.PathLike,
    kind: str = "logmel",
    features=None,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    shard_size: int = SHARD_SIZE,
    seed: int = 0,
    progress: Progress | None = None,
) -> FeaturizeResult:
    """Featurize every clip of ``dataset`` into shards under ``out`` (resuming a killed job).

    Parameters
    ----------
    dataset : soundkit.datasets.Dataset
    out : path
        The featurized directory (new, empty, or an unfinished run of this same job).
    kind : {"logmel", "yamnet"}
    features : FeatureConfig, optional
        The log-mel configuration (default FeatureConfig()); saved in the plan.
    engine : {"serial", "local", "ray"}
    workers : int, optional
        Processes of the local engine (default: all cores); Ray: most tasks in flight (default:
        the cluster's CPUs).
    address : str, optional
        Ray only: ``HOST:PORT`` of a running cluster (default: ``$RAY_ADDRESS``, else a local Ray
        runtime is started for this job).
    shard_size : int
        Clips per shard.
    seed : int
        Seed of the folds assigned when the dataset has none.
    progress : callable(dict), optional
        ``{"stage": "featurize", "done", "total", "message"}`` after every shard.

    Returns
    -------
    FeaturizeResult
    """
    from soundkit.config import FeatureConfig

    if kind not in KINDS:
        raise ParameterError(f"features must be one of {', '.join(KINDS)}, got {kind!r}")
    if engine not in ENGINES:
        raise ParameterError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not isinstance(shard_size, int) or shard_size < 1:
        raise ParameterError(f"shard_size must be a positive integer, got {shard_size!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 0):
        raise ParameterError(f"workers must be a non-negative integer, got {workers!r}")
    if address is not None and engine != "ray":
        raise ParameterError("--address needs --engine ray")
    features = features if features is not None else FeatureConfig()
    t0 = time.monotonic()
    root = Path(out)
    plan, groups = plan_shards(dataset, kind=kind, features=features, shard_size=shard_size, seed=seed)
    _open_plan(root, plan)
    for stale in (root / sh.SHARDS_DIR).glob(".tmp-*"):  # left by a killed run
        stale.unlink(missing_ok=True)
    todo = [k for k in range(len(groups)) if not _done(root, k)]
    done_before = len(groups) - len(todo)
    total = len(groups)
    state = {"done": done_before, "nodes": {}, "failed": []}
    emit = progress or (lambda event: None)
    emit({"stage": "featurize", "done": done_before, "total": total,
          "message": f"{done_before}/{total} shards already done" if done_before else f"featurizing {plan['n_clips']} clips into {total} shards"})

    def finished(blob: bytes, info: dict) -> None:
        _write_shard(root, blob, info)
        state["done"] += 1
        state["nodes"][info["node"]] = state["nodes"].get(info["node"], 0) + 1
        state["failed"].extend(tuple(f) for f in info["failed"])
        emit({"stage": "featurize", "done": state["done"], "total": total, "node": info["node"],
              "message": f"shard {info['shard']} ({info['clips']} clips) on {info['node'][:12]}"})

    args = [(k, groups[k], kind, plan["features"], plan["features_key"]) for k in todo]
    if not args:  # everything was done before: nothing to run
        pass
    elif engine == "ray":
        from soundkit.scale import ray_engine

        ray_engine.run_shards(args, address=address, workers=workers, on_result=finished)
    elif engine == "serial" or workers == 0 or len(args) <= 1:
        for a in args:
            finished(*featurize_shard(*a))
    else:
        _run_pool(args, workers=workers, on_result=finished)
    missing = [k for k in range(total) if not _done(root, k)]
    if missing:
        raise DatasetError(f"{root}: shard(s) {missing[:5]} were not written; run featurize again to resume")
    sh.build_manifest(root, total, features_key=plan["features_key"])
    failed = []
    for k in range(total):  # every failure, also those of shards written by an earlier run
        info = json.loads((root / sh.SHARDS_DIR / sh.shard_name(k)).with_suffix(".json").read_text())
        failed.extend((f[0], f[1]) for f in info.get("failed", []))
    if len(failed) == plan["n_clips"]:
        raise DatasetError(f"{dataset.root}: no clip could be decoded (first: {failed[0][0]}: {failed[0][1]})")
    result = FeaturizeResult(root, plan["n_clips"] - len(failed), total, done_before, len(todo), failed,
                             round(time.monotonic() - t0, 2), engine, dict(state["nodes"]))
    emit({"stage": "done", "done": total, "total": total, "message": f"{result.n_clips} clips in {total} shards"})
    return result


def _run_pool(args: list[tuple], *, workers: int | None, on_result) -> None:
    """The local engine: shards in a ``spawn`` process pool, written here as they finish."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    n = min(workers or os.cpu_count() or 1, len(args))
    ctx = mp.get_context("spawn")  # never fork: the caller may hold TensorFlow or Ray threads
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        pending = {pool.submit(featurize_shard, *a) for a in args}
        while pending:
            ready, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in ready:
                on_result(*fut.result())
