"""Adding one clip: validation, de-duplication by content hash, quotas and the atomic write.

A clip's ``hash`` is the content hash (:func:`soundkit.features.content_hash`) of its *stored*
bytes; it names the file ``audio/<h[:2]>/<h>.<ext>`` and is the FeatureCache key. An upload is
matched first by the hash of its own bytes (a known upload is not decoded again), then, after
validation (:mod:`soundkit.store.validation`), by the hash of what would be stored, so re-uploading a
re-encoded file is a duplicate: the stored row is returned (restored if deleted) and keeps its label
unless ``relabel``. Files are written as unnamed temporary files linked into place (O_TMPFILE on
Linux), before the row's transaction; a failed transaction removes the file it wrote. ``max_clips``
and ``max_bytes`` quotas raise :class:`~soundkit.errors.QuotaError` and store nothing.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from soundkit.errors import ParameterError, QuotaError
from soundkit.fileio import write_atomic
from soundkit.store.labels import normalize_label
from soundkit.store.records import ClipRecord, Data
from soundkit.store.validation import _display_name, _read_data, _validated

__all__ = ["IngestMixin"]


def _atomic_write(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` so that it appears complete or not at all. False when it existed.

    On Linux the bytes go into an unnamed temporary file (O_TMPFILE) in the destination's folder,
    which is linked into place once written and flushed: a killed writer leaves nothing behind.
    Elsewhere a named temporary file + rename (:func:`soundkit.fileio.write_atomic`).
    """
    if path.is_file() and path.stat().st_size == len(data):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    flag = getattr(os, "O_TMPFILE", None)
    fd = -1
    if flag is not None and os.path.isdir("/proc/self/fd"):
        try:
            fd = os.open(path.parent, flag | os.O_WRONLY, 0o644)
        except OSError:  # a file system without O_TMPFILE
            fd = -1
    if fd < 0:
        write_atomic(path, data, fsync=True)
        return True
    try:
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fd)
        dir_fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            # linkat(..., AT_SYMLINK_FOLLOW): a dir_fd makes os.link use it (plain link() would not
            # follow the /proc symlink to the unnamed file)
            os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=dir_fd, follow_symlinks=True)
        except FileExistsError:  # another writer stored the same content (same hash, same bytes) first
            if path.stat().st_size == len(data):
                return False
            write_atomic(path, data, fsync=True)  # a damaged leftover: replace it
        finally:
            os.close(dir_fd)
    finally:
        os.close(fd)
    return True


class _Purged(Exception):
    """A clip seen as stored was purged before the write transaction began."""


def _source_and_fold(name: str, source: str | None, fold: int | None, digest: str) -> tuple[str, int | None]:
    """A clip's source and fold at add time: the given ones, else parsed from an ESC-style name
    (:func:`soundkit.clips.parse_clip_name`), else the content hash as its own source."""
    if source is None or fold is None:
        from soundkit.clips import parse_clip_name

        parsed = parse_clip_name(name)
        if parsed is not None:
            source = source if source is not None else parsed.source
            fold = fold if fold is not None else parsed.fold
    return (source if source else digest), fold


class IngestMixin:
    """``add`` of :class:`soundkit.store.Store` (uses its transactions, ``_path_for``, ``_record``,
    ``_SELECT``, ``_label_id`` and the quotas ``max_clips``/``max_bytes``)."""

    def _check_quota(self, con: sqlite3.Connection, new_bytes: int) -> None:
        """Raise QuotaError when one more clip of ``new_bytes`` would pass ``max_clips``/``max_bytes``."""
        if self.max_clips is None and self.max_bytes is None:
            return
        row = con.execute(
            "SELECT COALESCE(SUM(deleted IS NULL), 0) AS n, COALESCE(SUM(bytes), 0) AS b FROM clips"
        ).fetchone()
        if self.max_clips is not None and row["n"] + 1 > self.max_clips:
            raise QuotaError(f"this workspace holds {row['n']} clips, its limit; delete some to add more")
        if self.max_bytes is not None and row["b"] + new_bytes > self.max_bytes:
            raise QuotaError(
                f"this workspace's audio would pass its {self.max_bytes / 1e6:.0f} MB limit "
                f"({row['b'] / 1e6:.1f} MB stored, deleted clips included until they are purged)"
            )

    def add(
        self,
        data: Data,
        *,
        name: str | None = None,
        label: str | None = None,
        source: str | None = None,
        origin: str = "upload",
        fold: int | None = None,
        relabel: bool = False,
    ) -> ClipRecord:
        """Validate and store one clip; see the module docstring.

        Parameters
        ----------
        data : bytes, path or binary file-like
        name : str
            Display name (an upload's file name); only its last path component is kept.
        label : str, optional
        source : str, optional
            Recording the clip was cut from (clips of one source share a fold). Default: parsed from an
            ESC-style ``name`` (:func:`soundkit.clips.parse_clip_name`), else the content hash.
        origin : str
            Where it came from: "upload", "record", "zip", "dataset", ...
        fold : int, optional
            An official fold (kept by :meth:`dataset` when every clip has one). Default: parsed from
            an ESC-style ``name``.
        relabel : bool
            When the clip is stored already with a label, replace it with ``label`` (default: the
            stored clip keeps its label; a user relabels on purpose, never by re-uploading).

        Raises
        ------
        AudioError
            The data does not decode as audio (nothing is written).
        ParameterError
            A bad label or fold.
        """
        return self._add(data, name=name, label=label, source=source, origin=origin, fold=fold, relabel=relabel)[0]

    def _add(
        self,
        data: Data,
        *,
        name: str | None = None,
        label: str | None = None,
        source: str | None = None,
        origin: str = "upload",
        fold: int | None = None,
        relabel: bool = False,
        _revalidate: bool = False,
    ) -> tuple[ClipRecord, bool]:
        """:meth:`add`, also saying whether the clip is new (False: it was stored already)."""
        if name is None and isinstance(data, (str, os.PathLike)):
            name = os.fspath(data)
        display = _display_name(name if name is not None else getattr(data, "name", None))
        label = normalize_label(label) if label is not None else None
        if fold is not None and (isinstance(fold, bool) or not isinstance(fold, int) or fold < 1):
            raise ParameterError(f"fold must be a positive integer, got {fold!r}")
        raw = _read_data(data, display)
        from soundkit.features import content_hash

        digest = content_hash(raw)
        source, fold = _source_and_fold(display, source, fold, digest)
        with self._read() as con:
            known = con.execute("SELECT ext FROM clips WHERE hash = ?", (digest,)).fetchone()
        if known is not None and self._path_for(digest, known["ext"]).is_file() and not _revalidate:
            # the same bytes were validated and stored before: no need to decode them again
            path, wrote, seconds = self._path_for(digest, known["ext"]), False, 0.0
            ext, sr, channels, stored = known["ext"], 0, 0, raw
        else:
            if known is None:  # cheap refusal before decoding when the workspace is full already
                with self._read() as con:
                    self._check_quota(con, 0)
            stored, ext, seconds, sr, channels = _validated(raw, display)
            digest = content_hash(stored) if stored is not raw else digest
            path = self._path_for(digest, ext)
            wrote = _atomic_write(path, stored)
        try:
            with self._write() as con:
                row = con.execute("SELECT id, deleted, label_id FROM clips WHERE hash = ?", (digest,)).fetchone()
                now = time.time()
                if row is not None:
                    wrote = False  # the file belongs to the existing row
                    sets, args = ["updated = ?"], [now]
                    if row["deleted"] is not None:
                        sets += ["deleted = NULL", "delete_token = NULL"]
                    # a stored label stays unless asked (or the clip was unlabelled or deleted)
                    if label is not None and (relabel or row["label_id"] is None or row["deleted"] is not None):
                        sets.append("label_id = ?")
                        args.append(self._label_id(con, label, create=True))
                    con.execute(f"UPDATE clips SET {', '.join(sets)} WHERE id = ?", (*args, row["id"]))
                    clip_id, new = row["id"], False
                elif sr == 0:  # purged since we looked: validate and store it afresh
                    raise _Purged
                else:
                    self._check_quota(con, len(stored))
                    clip_id = con.execute(
                        "INSERT INTO clips(hash, ext, name, label_id, source, fold, origin, seconds, sr, channels,"
                        " bytes, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            digest,
                            ext,
                            display,
                            self._label_id(con, label, create=True),
                            source,
                            fold,
                            str(origin),
                            seconds,
                            sr,
                            channels,
                            len(stored),
                            now,
                            now,
                        ),
                    ).lastrowid
                    new = True
                rec = self._record(con.execute(f"{self._SELECT} WHERE c.id = ?", (clip_id,)).fetchone())
        except _Purged:
            return self._add(raw, name=display, label=label, source=source, origin=origin, fold=fold, relabel=relabel,
                             _revalidate=True)
        except BaseException:
            if wrote:
                path.unlink(missing_ok=True)
            raise
        return rec, new
