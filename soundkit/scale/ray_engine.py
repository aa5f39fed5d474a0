"""The Ray engine: shards and trainings as Ray tasks on a cluster (the only module that imports ray).

Why tasks and not Ray Data: a featurize shard is already a batch of a few hundred clips whose
output must land in one named, atomically written file, so that a restarted job can tell which
shards are done and the bytes never depend on scheduling. One task per shard gives exactly that,
and ``max_retries`` re-runs a shard whose node died. The YAMNet interpreter is held per worker
process (``soundkit.models.yamnet.load_embedder`` caches it), so a worker that runs many shards
loads the model once, as an actor pool would, without Ray Data's block splitting and reordering.

The cluster must see the same files under the same paths (a shared filesystem, as for any Ray
batch job over local files); this package is shipped to the workers with the job
(``runtime_env["py_modules"]``) unless it is installed there, and the ``SOUNDKIT_*`` environment
variables travel too (``SOUNDKIT_WEIGHTS_DIR`` for YAMNet).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from soundkit.errors import ParameterError

__all__ = ["connect", "run_shards", "run_in_children", "MAX_RETRIES"]

log = logging.getLogger(__name__)

#: Times Ray re-runs a task whose worker or node died (a system failure, not an exception).
MAX_RETRIES = 4


def _ray():
    try:
        import ray
    except ImportError:
        raise ParameterError("--engine ray needs Ray: pip install 'soundkit[scale]' (or -r requirements-scale.txt)") from None
    return ray


def _runtime_env() -> dict[str, Any]:
    import soundkit

    env: dict[str, Any] = {"env_vars": {k: v for k, v in os.environ.items() if k.startswith("SOUNDKIT_")}}
    pkg = Path(soundkit.__file__).resolve().parent
    if "site-packages" not in pkg.parts and "dist-packages" not in pkg.parts:  # a source tree: ship it
        env["py_modules"] = [str(pkg)]
        env["excludes"] = ["__pycache__", "*.pyc"]
    return env


def connect(address: str | None = None, *, num_cpus: int | None = None):
    """Connect to the cluster at ``address`` (or ``$RAY_ADDRESS``), else start a local Ray runtime.

    Returns the ray module, initialised for this job.
    """
    ray = _ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"runtime_env": _runtime_env(), "logging_level": logging.WARNING,
                              "log_to_driver": False, "include_dashboard": False}
    if address is None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise ParameterError(f"cannot reach a Ray cluster at {address}: {exc}") from None
    except ValueError as exc:  # a malformed address
        raise ParameterError(f"bad Ray address {address!r}: {exc}") from None
    return ray


def run_shards(args: Sequence[tuple], *, address: str | None, workers: int | None, on_result: Callable[..., None]) -> None:
    """Run :func:`soundkit.scale.featurize.featurize_shard` for every argument tuple as a Ray task.

    ``on_result(blob, info)`` is called here, in the driver, as each shard finishes (the driver is
    the only writer of the featurized directory). ``workers`` caps the tasks in flight.
    """
    from soundkit.scale.featurize import featurize_shard

    ray = connect(address, num_cpus=workers)
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(featurize_shard)
    # at most --workers tasks at once, else twice the cluster's CPUs (every CPU busy, never the whole
    # job's results waiting in the object store)
    cap = workers or 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
    queue = list(args)
    pending: list = []
    shard_of: dict = {}
    while queue or pending:
        while queue and len(pending) < cap:
            a = queue.pop(0)
            ref = task.remote(*a)
            shard_of[ref] = a[0]
            pending.append(ref)
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            on_result(*_get(ray, ref, what=f"shard {shard_of.pop(ref)}",
                            hint="the shards written so far are kept; run featurize again to resume"))


def _get(ray, ref, *, what: str, hint: str):
    """``ray.get(ref)``; a task's SoundkitError comes back as itself, a task lost for good (its
    retries spent) as a one-line DatasetError."""
    from soundkit.errors import DatasetError, SoundkitError

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SoundkitError):
            raise cause from None
        raise
    except ray.exceptions.RayError as exc:  # worker or node died more often than max_retries
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{what} failed on the Ray cluster ({type(exc).__name__}: {first}); {hint}") from None


def _child_task(fn, args, omp):
    """Inside a Ray worker: run ``fn(*args)`` in an isolated child process (soundkit.isolate)."""
    from soundkit.isolate import run_in_child

    # Ray pins OMP_NUM_THREADS=1 in its workers; the child gets the driver's setting, so a fold
    # trains with the same threads (and the same rounding) as in a serial run.
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp
    node = _node()
    result = run_in_child(fn, *args, what="ray task", emit=lambda **event: None, should_stop=None)
    return node, result


def _node() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def current_node() -> str | None:
    """The Ray node id of this process when Ray is initialised in it, else None."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - not inside Ray
        return None


def run_in_children(fn: Callable[..., Any], jobs: Sequence[tuple], *, address: str | None = None,
                    on_result: Callable[[int, str, Any], None] | None = None) -> list[tuple[str, Any]]:
    """``fn(*job, emit=..., should_stop=...)`` for every job, each as a Ray task that runs it in a
    fresh child process; returns [(node id, result)] in job order."""
    ray = connect(address)
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_child_task)
    omp = os.environ.get("OMP_NUM_THREADS")
    refs = [task.remote(fn, tuple(job), omp) for job in jobs]
    index = {ref: i for i, ref in enumerate(refs)}
    out: list[Any] = [None] * len(refs)

    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            node, result = _get(ray, ref, what=f"job {index[ref]}", hint="run the command again")
            out[index[ref]] = (node, result)
            if on_result is not None:
                on_result(index[ref], node, result)
    return out
