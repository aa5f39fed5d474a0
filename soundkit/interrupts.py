"""Ctrl-C and SIGTERM on the command line: one line and the right exit status, at any moment.

Python turns Ctrl-C into a KeyboardInterrupt wherever the main thread happens to be, and a library
in the middle of an import (TensorFlow's protobuf descriptors, say) may catch it and print a traceback
of its own, or swallow it. :func:`install` replaces that with a handler that, on the first signal:

1. stops every child process of this one (feature and augmentation pools, isolated folds): SIGTERM,
   which ends a Python process silently;
2. points file descriptor 2 at /dev/null, so nothing printed afterwards (a library's traceback,
   "Exception ignored in ...", a progress bar) reaches the terminal;
3. raises :class:`KeyboardInterrupt` (SIGINT) or :class:`Terminated` (SIGTERM) in the main thread, so
   ``finally`` blocks and the command's own clean-up (a job's status file, temporary files) still run;
4. starts a watchdog that ends the process after :data:`GRACE_S` seconds if some library swallowed
   the exception.

:func:`finish` then writes the single line (``error: interrupted`` / ``error: terminated``) on the
original stderr and returns the exit status (130 / 143). A stage that can stop cleanly on its own
(model fitting, which polls ``should_stop`` after every batch) runs inside :func:`deferred`: there the
first signal only sets :func:`received`; a second one interrupts as above.

Only the CLI installs the handler; the library never does (the app has its own threads and signals).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["GRACE_S", "Terminated", "install", "on_signal", "received", "defer", "deferred", "finish", "ignore_in_child", "message"]

#: Seconds a swallowed interrupt may keep the process alive before the watchdog ends it.
GRACE_S = 10.0

EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
MESSAGES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


class Terminated(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its SIGINT sibling
    """Raised in the main thread on SIGTERM (a BaseException, like KeyboardInterrupt)."""


# Signal handlers run in the main thread, one at a time (a second one only between bytecodes of the
# first), so plain flags suffice: each step below is safe to re-enter.
_state: dict = {"pid": None, "signal": None, "defer": 0, "stderr": None, "leaving": False, "on_signal": []}


def install() -> None:
    """Handle SIGINT and SIGTERM in this process as described in the module docstring (once per process)."""
    if _state["pid"] == os.getpid():
        return
    _state.update(pid=os.getpid(), signal=None, defer=0, stderr=None, leaving=False)
    for sig in EXIT_STATUS:
        signal.signal(sig, _handler)


def on_signal(fn: Callable[[], object]) -> Callable[[], object]:
    """Call ``fn()`` when a signal interrupts, before stderr is muted (e.g. to close a progress bar)."""
    _state["on_signal"].append(fn)
    return fn


def received() -> int | None:
    """The signal number received since :func:`install`, or None."""
    return _state["signal"]


def message() -> str:
    """The one line for the signal received ("interrupted" / "terminated")."""
    return MESSAGES.get(_state["signal"], "interrupted")


def defer(on: bool) -> None:
    """Enter (``True``) or leave (``False``) a stage that stops by itself once :func:`received` is
    set: inside it the first signal only sets that flag. Calls nest; :func:`deferred` pairs them."""
    _state["defer"] = max(0, _state["defer"] + (1 if on else -1))


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """``with deferred():`` the block is a stage that stops by itself (see :func:`defer`)."""
    defer(True)
    try:
        yield
    finally:
        defer(False)


def finish() -> int:
    """Write ``error: <message>`` on the original stderr; return the exit status for the signal."""
    sig = _state["signal"] or signal.SIGINT
    line = f"error: {MESSAGES[sig]}\n".encode()
    fd = _state["stderr"]
    try:
        if fd is None:
            sys.stderr.flush()
            fd = 2
        os.write(fd, line)
    except OSError:
        pass
    return EXIT_STATUS[sig]


def ignore_in_child() -> None:
    """For worker processes: leave Ctrl-C to the parent, which stops its workers itself."""
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _handler(signum: int, frame) -> None:
    if os.getpid() != _state["pid"]:  # a forked child that inherited the handler: end quietly
        os._exit(EXIT_STATUS.get(signum, 1))
    first = _state["signal"] is None
    if first:
        _state["signal"] = signum
    if first and _state["defer"] > 0:
        return  # the stage polls received() and stops at its next check
    if _state["leaving"]:
        return  # already on the way out
    _state["leaving"] = True
    for fn in list(_state["on_signal"]):
        with contextlib.suppress(Exception):
            fn()
    _mute_stderr()
    _stop_children()
    threading.Thread(target=_watchdog, name="soundkit-interrupt-watchdog", daemon=True).start()
    raise KeyboardInterrupt if _state["signal"] == signal.SIGINT else Terminated()


def _mute_stderr() -> None:
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    try:
        _state["stderr"] = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        _state["stderr"] = None


def _watchdog() -> None:
    time.sleep(GRACE_S)
    os._exit(finish())


def _children() -> list[int]:
    """Process ids of every descendant of this process (Linux /proc; else multiprocessing's own)."""
    me = os.getpid()
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    if not parents:
        mp = sys.modules.get("multiprocessing")
        return [p.pid for p in mp.active_children()] if mp else []
    out, todo = [], [me]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _stop_children() -> None:
    for pid in _children():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
