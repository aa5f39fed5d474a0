"""Reading the store: stored rows as :class:`~soundkit.store.records.ClipRecord`, clip ids, and the
queries (``clips`` with its filters and orders, ``count``, ``get``, ``audio_path``, ``read_bytes``,
``stats``) that :class:`QueriesMixin` gives :class:`soundkit.store.Store`.

``clips(label=None, *, unlabelled, source, search, include_deleted, order, limit, offset)``:
``search`` matches name, label and source (``%`` and ``_`` literal); ``order`` is "created" (oldest
first), "name", "label" or "uncertainty" (clips with a prediction, least confident first, then the
rest). Unknown ids raise :class:`~soundkit.errors.StoreError`, ids that are not integers
:class:`~soundkit.errors.ParameterError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from soundkit.errors import ParameterError, StoreError
from soundkit.store.database import _chunks
from soundkit.store.labels import normalize_label
from soundkit.store.records import ClipRecord

__all__ = ["QueriesMixin"]


class QueriesMixin:
    """Row-to-record mapping, id checks and the read queries of :class:`soundkit.store.Store` (uses
    its ``_read`` connection and ``_path_for``)."""

    _SELECT = "SELECT c.*, l.name AS label FROM clips c LEFT JOIN labels l ON l.id = c.label_id"

    def _record(self, row: sqlite3.Row) -> ClipRecord:
        return ClipRecord(
            id=row["id"],
            hash=row["hash"],
            name=row["name"],
            label=row["label"],
            source=row["source"],
            fold=row["fold"],
            origin=row["origin"],
            seconds=row["seconds"],
            sr=row["sr"],
            channels=row["channels"],
            bytes=row["bytes"],
            created=row["created"],
            deleted=row["deleted"] is not None,
            path=self._path_for(row["hash"], row["ext"]),
            pred_label=row["pred_label"],
            pred_confidence=row["pred_confidence"],
            pred_run=row["pred_run"],
        )

    @staticmethod
    def _ids(ids: int | Iterable[int]) -> list[int]:
        if isinstance(ids, int):
            return [ids]
        out = []
        for i in ids:
            if isinstance(i, ClipRecord):
                i = i.id
            try:
                out.append(int(i))
            except (TypeError, ValueError):
                raise ParameterError(f"clip id must be an integer, got {i!r}") from None
        return out

    @staticmethod
    def _check_ids(con: sqlite3.Connection, ids: list[int]) -> None:
        found: set[int] = set()
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in con.execute(f"SELECT id FROM clips WHERE id IN ({marks})", chunk))
        missing = sorted(set(ids) - found)
        if missing:
            raise StoreError(
                f"no clip with id {', '.join(map(str, missing[:10]))}{' ...' if len(missing) > 10 else ''}"
            )

    def _where(self, label, unlabelled, source, search, include_deleted) -> tuple[str, list]:
        conds, args = [], []
        if not include_deleted:
            conds.append("c.deleted IS NULL")
        if label is not None:
            conds.append("l.name = ?")
            args.append(normalize_label(label))
        if unlabelled:
            conds.append("c.label_id IS NULL")
        if source is not None:
            conds.append("c.source = ?")
            args.append(source)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append("(c.name LIKE ? ESCAPE '\\' OR l.name LIKE ? ESCAPE '\\' OR c.source LIKE ? ESCAPE '\\')")
            args += [f"%{escaped}%"] * 3
        return (" WHERE " + " AND ".join(conds)) if conds else "", args

    def clips(
        self,
        label: str | None = None,
        *,
        unlabelled: bool = False,
        source: str | None = None,
        search: str | None = None,
        include_deleted: bool = False,
        order: str = "created",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ClipRecord]:
        """Clips matching every filter given (see the module docstring)."""
        orders = {
            "created": "c.id",
            "name": "c.name COLLATE NOCASE, c.id",
            "label": "l.name IS NULL, l.name COLLATE NOCASE, c.id",
            "uncertainty": "c.pred_confidence IS NULL, c.pred_confidence, c.id",
        }
        if order not in orders:
            raise ParameterError(f"order must be one of {', '.join(orders)}, got {order!r}")
        where, args = self._where(label, unlabelled, source, search, include_deleted)
        sql = f"{self._SELECT}{where} ORDER BY {orders[order]}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), int(offset)]
        with self._read() as con:
            return [self._record(r) for r in con.execute(sql, args)]

    def count(
        self,
        label: str | None = None,
        *,
        unlabelled: bool = False,
        source: str | None = None,
        search: str | None = None,
        include_deleted: bool = False,
    ) -> int:
        """Number of clips matching the filters of :meth:`clips`."""
        where, args = self._where(label, unlabelled, source, search, include_deleted)
        with self._read() as con:
            return con.execute(
                f"SELECT COUNT(*) FROM clips c LEFT JOIN labels l ON l.id = c.label_id{where}", args
            ).fetchone()[0]

    def get(self, id: int) -> ClipRecord:
        """The clip with this id (deleted ones included); StoreError when there is none."""
        (clip_id,) = self._ids([id])
        with self._read() as con:
            row = con.execute(f"{self._SELECT} WHERE c.id = ?", (clip_id,)).fetchone()
        if row is None:
            raise StoreError(f"no clip with id {clip_id}")
        return self._record(row)

    def audio_path(self, record: ClipRecord | int) -> Path:
        """The clip's audio file."""
        rec = record if isinstance(record, ClipRecord) else self.get(record)
        if not rec.path.is_file():
            raise StoreError(f"clip {rec.id} ({rec.name}): its audio file {rec.path} is missing")
        return rec.path

    def read_bytes(self, record: ClipRecord | int) -> bytes:
        """The clip's audio bytes as stored: the upload itself, or its FLAC re-encoding when the upload
        was larger than its audio or only ffmpeg could read it."""
        return self.audio_path(record).read_bytes()

    def stats(self) -> dict[str, Any]:
        with self._read() as con:
            row = con.execute(
                "SELECT COUNT(*) AS n, COUNT(label_id) AS labelled, COALESCE(SUM(seconds), 0) AS seconds"
                " FROM clips WHERE deleted IS NULL"
            ).fetchone()
            deleted = con.execute("SELECT COUNT(*) FROM clips WHERE deleted IS NOT NULL").fetchone()[0]
            n_labels = con.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
        return {
            "clips": row["n"],
            "labelled": row["labelled"],
            "unlabelled": row["n"] - row["labelled"],
            "deleted": deleted,
            "labels": n_labels,
            "seconds": float(row["seconds"]),
        }
