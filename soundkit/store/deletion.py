"""Deleting clips: soft delete with an undo token, and the purge that removes them for good.

``delete(ids) -> token`` marks clips deleted (they leave every listing and count, their files stay);
``undo(token)`` restores the clips of that one call; ``purge()`` removes deleted clips' rows (their
regions go with them, ON DELETE CASCADE) and files, plus orphan files and temporary files of killed
writers older than ``STALE_TMP_SECONDS``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from soundkit.errors import StoreError
from soundkit.fileio import STALE_TMP_SECONDS
from soundkit.store.database import AUDIO_DIR, _chunks

__all__ = ["DeletionMixin"]


class DeletionMixin:
    """``delete``, ``undo`` and ``purge`` of :class:`soundkit.store.Store` (uses its transactions,
    ``_ids``/``_check_ids`` and ``_path_for``)."""

    def delete(self, ids: int | Iterable[int]) -> str:
        """Soft-delete clips; returns a token for :meth:`undo`. Already deleted clips are left alone."""
        ids = self._ids(ids)
        token = uuid.uuid4().hex
        with self._write() as con:
            self._check_ids(con, ids)
            now = time.time()
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                con.execute(
                    f"UPDATE clips SET deleted = ?, delete_token = ?, updated = ? WHERE deleted IS NULL AND id IN ({marks})",
                    (now, token, now, *chunk),
                )
        return token

    def undo(self, token: str) -> int:
        """Restore the clips one :meth:`delete` call removed; returns how many."""
        with self._write() as con:
            n = con.execute(
                "UPDATE clips SET deleted = NULL, delete_token = NULL, updated = ? WHERE delete_token = ?",
                (time.time(), str(token)),
            ).rowcount
        if n == 0:
            raise StoreError("nothing to undo: the clips were purged or restored already")
        return n

    def purge(self) -> int:
        """Remove deleted clips and their audio files for good, plus orphan and temporary files.
        Returns the number of clips removed."""
        with self._write() as con:
            rows = con.execute("SELECT id, hash, ext FROM clips WHERE deleted IS NOT NULL").fetchall()
            con.execute("DELETE FROM clips WHERE deleted IS NOT NULL")
            live = {r["hash"] for r in con.execute("SELECT hash FROM clips")}
        for r in rows:
            self._path_for(r["hash"], r["ext"]).unlink(missing_ok=True)
        cutoff = time.time() - STALE_TMP_SECONDS  # temporary files of a write in progress elsewhere are young
        for p in (self.home / AUDIO_DIR).glob("*/*"):
            orphan = p.stem not in live and not p.name.startswith(".tmp-")
            stale_tmp = p.name.startswith(".tmp-") and p.stat().st_mtime < cutoff
            if p.is_file() and (stale_tmp or (orphan and p.stat().st_mtime < time.time() - 60)):
                p.unlink(missing_ok=True)
        return len(rows)
