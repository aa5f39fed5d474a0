"""Atomic file writes: a temporary file in the destination's folder, then ``os.replace``.

A reader never sees a half-written file, and a failed write leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_atomic", "remove_stale_tmp", "STALE_TMP_SECONDS"]

#: A ``.tmp-*`` file older than this is a leftover of a killed writer, not a write in progress.
STALE_TMP_SECONDS = 60.0


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path``.

    ``suffix`` defaults to the destination's (writers such as Keras and NumPy check it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.stem}-", suffix=path.suffix if suffix is None else suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, data: bytes | str, *, fsync: bool = False) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; ``fsync`` also flushes it to disk."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def remove_stale_tmp(root: str | os.PathLike, *, older_than: float = STALE_TMP_SECONDS) -> int:
    """Remove the ``.tmp-*`` files that :func:`atomic_path` left under ``root`` (any depth) when its
    process was killed, if older than ``older_than`` seconds (younger ones may be a write in
    progress in another process). Returns how many; unreadable folders are skipped."""
    import time

    cutoff, n = time.time() - older_than, 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if not name.startswith(".tmp-"):
                continue
            p = os.path.join(folder, name)
            try:
                if os.lstat(p).st_mtime < cutoff:
                    os.unlink(p)
                    n += 1
            except OSError:  # removed meanwhile, or not ours to remove
                continue
    return n
