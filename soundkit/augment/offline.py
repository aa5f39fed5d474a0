"""Offline augmented copies of training clips: rendered in worker processes, cached on disk by
(clip content hash, drawn parameters), always in their source clip's fold."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from soundkit.augment.policy import Policy
from soundkit.augment.transforms import transform_from_dict
from soundkit.errors import AudioError, DatasetError, SoundkitError

log = logging.getLogger(__name__)
Progress = Callable[[dict], None]

#: Separator between an original clip id and the copy number in an augmented copy's id.
AUG_MARK = "#aug"
_CACHE_VERSION = 1


def is_augmented(clip_or_id: Any) -> bool:
    """True for an augmented copy (its id carries ``#aug``)."""
    cid = getattr(clip_or_id, "id", clip_or_id)
    return AUG_MARK in str(cid)


def original_id(clip_or_id: Any) -> str:
    """The id of the clip an augmented copy was made from (an original's own id)."""
    return str(getattr(clip_or_id, "id", clip_or_id)).split(AUG_MARK, 1)[0]


def leaked(train: Sequence[Any], test: Sequence[Any]) -> list[Any]:
    """Training clips derived from (or sharing a source recording with) a test clip.

    An empty list means the split is clean; training can raise on anything else.
    """
    test_ids = {original_id(c) for c in test}
    test_sources = {(c.label, c.source) for c in test}
    test_folds = {c.fold for c in test if c.fold is not None}
    return [
        c for c in train
        if original_id(c) in test_ids or (c.label, c.source) in test_sources
        or (is_augmented(c) and c.fold is not None and c.fold in test_folds)
    ]


def _cache_key(digest: str, params: dict) -> str:
    blob = json.dumps({"v": _CACHE_VERSION, "clip": digest, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def _render(src: str, chain_spec: dict, params: dict, out: str, meta: dict) -> str:
    """Worker: load ``src``, apply ``params`` with the chain, write the WAV (+ its JSON sidecar)."""
    from soundkit import audio
    from soundkit.regions import load_ranged

    y, sr = load_ranged(src, sr=None)  # a region (file#t=start,end) is cut from its recording
    chain = transform_from_dict(chain_spec)
    z = chain.apply(y, sr, params)
    peak = float(np.max(np.abs(z))) if z.size else 0.0
    scale = 1.0
    if peak > 0.999:  # keep the WAV unclipped; the log-mel is relative to the clip's maximum anyway
        scale = 0.999 / peak
        z = z * np.float32(scale)
    if z.size == 0:
        raise AudioError(f"{src}: augmentation produced no samples")
    from soundkit.runs import write_atomic

    out_path = Path(out)
    write_atomic(out_path.with_suffix(".json"), json.dumps({**meta, "params": params, "sr": sr,
                                                                   "seconds": z.size / sr, "scale": scale}, sort_keys=True))
    audio.save_wav(out_path, z, sr)
    return out


def read_params(path: str | os.PathLike) -> dict | None:
    """The recorded parameters of a cached augmented WAV (its JSON sidecar), or None."""
    p = Path(path).with_suffix(".json")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def augment_clips(
    clips: Sequence[Any],
    policy: Policy | dict | None,
    *,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[Any]:
    """Render ``policy.copies`` augmented copies of each clip, cached on disk.

    Parameters
    ----------
    clips : sequence of datasets.Clip
        Training clips only: copies inherit their clip's fold, so pass nothing you test on.
    policy : Policy, dict or None
    cache_dir : folder, optional
        Where copies live, as ``<key[:2]>/<key>.wav`` + ``.json`` (parameters, engine, source);
        default ``config.cache_dir() / "augment"``. ``key`` hashes the clip's content and the
        drawn parameters, so a second run with the same seed renders nothing.
    seed : int
        Parameters of copy k of a clip come from ``(seed, clip content hash, k)``: independent of
        clip order and of the other clips.
    workers : int, optional
        Worker processes; default up to all cores when more than 8 copies need rendering.
    progress : callable(dict), optional
        Receives {"stage": "augment", "done", "total", "message"}.

    Returns
    -------
    list of datasets.Clip
        Only the new copies, in clip order then copy order: same label, fold and source as the
        original, ``path`` the cached WAV, ``id`` = ``f"{original.id}#aug{k}"``.
    """
    from soundkit.features import content_hash

    pol = policy if isinstance(policy, Policy) else Policy.from_dict(policy)
    if pol.copies == 0 or not clips:
        return []
    if cache_dir is None:
        from soundkit.config import cache_dir as _cache_dir

        cache_dir = _cache_dir() / "augment"
    root = Path(cache_dir)
    out: list[Any] = []
    todo: list[tuple[str, dict, dict, str, dict]] = []
    for clip in clips:
        if is_augmented(clip):
            raise DatasetError(f"{clip.id}: is already an augmented copy; augment original clips only")
        chain = pol.compose_for(clip.label)
        if chain is None:
            continue
        try:
            from soundkit.regions import range_digest, read_ranged_bytes

            data, rng, _ = read_ranged_bytes(clip.path)
            digest = range_digest(content_hash(data), rng)
        except OSError as exc:
            raise AudioError(f"{clip.path}: cannot be read ({exc.strerror})") from None
        spec = chain.to_dict()
        for k in range(pol.copies):
            rng = np.random.default_rng([int(seed), int(digest[:15], 16), k])
            params = chain.draw(rng)
            key = _cache_key(digest, params)
            path = root / key[:2] / f"{key}.wav"
            if not path.is_file():
                meta = {"source_path": str(clip.path), "source_id": clip.id, "label": clip.label, "clip_hash": digest,
                        "copy": k, "seed": seed, "policy": pol.name, "chain": spec}
                todo.append((str(clip.path), spec, params, str(path), meta))
            out.append(replace(clip, path=path, id=f"{clip.id}{AUG_MARK}{k}"))
    total = len(out)
    done = total - len(todo)

    def report(message: str = "") -> None:
        if progress:
            progress({"stage": "augment", "done": done, "total": total, "message": message})

    if todo:
        log.info("augmenting %d copies (engine: %s)", len(todo), pol.engine or "none needed")
    report(f"{done} cached, {len(todo)} to render")
    n_workers = workers if workers is not None else (min(os.cpu_count() or 1, 8) if len(todo) > 8 else 1)
    if n_workers <= 1 or len(todo) <= 1:
        for task in todo:
            _render(*task)
            done += 1
            report()
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        ctx = mp.get_context("spawn")  # never fork a process that may hold TensorFlow threads
        from soundkit.interrupts import ignore_in_child

        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=ignore_in_child) as pool:
            futures = [pool.submit(_render, *task) for task in todo]
            try:
                for fut in as_completed(futures):
                    fut.result()
                    done += 1
                    report()
            except BrokenProcessPool:
                raise SoundkitError(f"an augmentation worker process died after {done} of {total} copies "
                                    "(out of memory?); finished copies stay cached, run again or use fewer workers") from None
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    return out


