"""Run a function in a fresh process: progress and cancellation relayed, memory left behind.

TensorFlow keeps much of what a training allocated until its process ends, and the LiteRT converter
needs about as much again, so soundkit trains large models (Inception V3) in one spawned child and
exports them in another (:func:`soundkit.training.train`). :func:`run_in_child` is the mechanism:
``fn(*args, emit=..., should_stop=...)`` runs in a ``spawn`` child (never ``fork``: the caller may
hold TensorFlow threads), its ``emit(**event)`` calls arrive here as ``emit(**event)``, the caller's
``should_stop()`` is polled here and seen by the child as its own ``should_stop()``, its return value
is returned and its exception raised. ``fn`` and ``args`` must pickle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from soundkit.errors import ModelError

__all__ = ["run_in_child"]


def _child_main(fn, args, events, stop) -> None:
    """Body of a :func:`run_in_child` process: run ``fn`` and send back its events and its outcome."""
    import pickle

    from soundkit.interrupts import ignore_in_child

    ignore_in_child()  # Ctrl-C is the parent's: it stops this process (SIGTERM) or sets ``stop``

    def emit(**event: Any) -> None:
        events.put(("event", event))

    try:
        events.put(("result", fn(*args, emit=emit, should_stop=stop.is_set)))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        try:
            pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an exception that does not pickle travels as one line
            exc = ModelError(f"{type(exc).__name__}: {exc}")
        events.put(("error", exc))


def run_in_child(fn: Callable[..., Any], *args: Any, what: str, emit: Callable[..., None],
                 should_stop: Callable[[], bool] | None) -> Any:
    """Run ``fn(*args, emit=..., should_stop=...)`` in a fresh (spawned) process and return its result.

    Its progress events are relayed to ``emit``; ``should_stop`` is polled here and passed on; an
    exception it raises is raised here; a process that dies (killed, out of memory) is a ModelError.
    The parent's memory is untouched by whatever the child imports.
    """
    import multiprocessing
    import queue

    ctx = multiprocessing.get_context("spawn")
    events, stop = ctx.Queue(), ctx.Event()
    # not a daemon: the child starts worker processes of its own (features, augmentation)
    proc = ctx.Process(target=_child_main, args=(fn, args, events, stop), name=f"soundkit-{what}")
    proc.start()
    try:
        while True:
            if should_stop is not None and not stop.is_set() and should_stop():
                stop.set()
            try:
                kind, value = events.get(timeout=0.2 if proc.is_alive() else 2.0)
            except queue.Empty:
                if proc.is_alive():
                    continue
                code = proc.exitcode
                why = " (killed: out of memory?)" if code in (-9, 137) else ""
                raise ModelError(f"the {what} process ended with exit code {code}{why} before reporting back") from None
            if kind == "event":
                emit(**value)
            elif kind == "error":
                raise value
            else:
                return value
    finally:
        proc.join(timeout=60)
        if proc.is_alive():
            proc.terminate()
            proc.join()
