"""``python -m soundkit featurize`` and the ``--engine`` / featurized-directory hooks of ``train``,
``cv`` and ``augment-study`` (registered in soundkit.cli)."""

from __future__ import annotations

import argparse
from typing import Any

from soundkit.errors import ParameterError

__all__ = ["add_featurize", "run_featurize", "add_engine_args", "featurized_or_none"]


def _nonneg(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise ParameterError(f"expected a non-negative integer, got {text!r}") from None
    if v < 0:
        raise ParameterError(f"expected a non-negative integer, got {v}")
    return v


def _positive(text: str) -> int:
    v = _nonneg(text)
    if v < 1:
        raise ParameterError(f"expected a positive integer, got {v}")
    return v


def add_featurize(p: argparse.ArgumentParser) -> None:
    from soundkit.scale.featurize import SHARD_SIZE

    p.add_argument("dataset", metavar="DATASET", help="dataset directory (folder per class, ESC-50, a store)")
    p.add_argument("--out", required=True, metavar="DIR", help="featurized directory to write (or to resume)")
    p.add_argument("--features", choices=("logmel", "yamnet"), default="logmel",
                   help="log-mel of the clip (FeatureConfig defaults) or YAMNet frame embeddings (default logmel)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine; ray: Ray tasks on a cluster (default local)")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="ray: the cluster to use (default $RAY_ADDRESS, else a local Ray runtime)")
    p.add_argument("--workers", type=_nonneg, default=None, metavar="N",
                   help="local: processes (0: this process alone; default all cores); ray: most tasks at once")
    p.add_argument("--shard-size", type=_positive, default=SHARD_SIZE, metavar="N", help=f"clips per shard (default {SHARD_SIZE})")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds assigned when the data has none")
    p.add_argument("--json", action="store_true", help='print {"dir", "clips", "shards", "shards_written", "nodes", ...}')


def run_featurize(args: argparse.Namespace, *, progress=None) -> tuple[dict, str]:
    from soundkit import datasets
    from soundkit.scale.featurize import featurize

    ds = datasets.load(args.dataset)
    engine = "serial" if args.engine == "local" and args.workers == 0 else args.engine
    r = featurize(ds, out=args.out, kind=args.features, engine=engine, workers=args.workers or None,
                  address=args.address, shard_size=args.shard_size, seed=args.seed, progress=progress)
    d = r.to_dict()
    text = (f"{r.n_clips} clips in {r.n_shards} shards ({r.written} written now, {r.done_before} done before) "
            f"in {r.seconds:.1f} s on {len(r.nodes)} node(s) -> {r.root}")
    if r.failed:
        text += f"\n{len(r.failed)} clip(s) could not be decoded and were left out (first: {r.failed[0][0]}: {r.failed[0][1]})"
    return d, text


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine serial|ray`` and ``--address`` for cv and augment-study."""
    p.add_argument("--engine", choices=("serial", "ray"), default="serial",
                   help="serial: folds one after another here; ray: every fold a Ray task in a child process (default serial)")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="ray: the cluster to use (default $RAY_ADDRESS, else a local Ray runtime)")


def featurized_or_none(path: str, args: Any = None):
    """The :class:`~soundkit.scale.shards.Featurized` at ``path``, or None when it is not one.

    ``--labels`` / ``--limit-per-class`` are refused with a featurized directory (its clips are fixed
    when it is written).
    """
    from soundkit.scale.shards import Featurized, is_featurized

    if not is_featurized(path):
        return None
    if args is not None and (getattr(args, "labels", None) or getattr(args, "limit_per_class", None)):
        raise ParameterError(f"{path}: --labels and --limit-per-class do not apply to a featurized directory; "
                             "featurize the subset instead")
    if args is not None and getattr(args, "augment", None) not in (None, "none"):
        raise ParameterError(f"{path}: --augment does not apply to a featurized directory (training streams stored features)")
    return Featurized.open(path)
