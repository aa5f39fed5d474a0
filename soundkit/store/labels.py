"""Labels (the classes): what a valid label is, and the label table's edits.

A label is trimmed, its inner whitespace collapsed, non-empty, at most ``MAX_LABEL_LENGTH``
characters, without path separators or control characters and not starting with a dot
(:func:`normalize_label`; :class:`~soundkit.errors.ParameterError` otherwise). Labels are unique
regardless of case ("dog" finds an existing "Dog"). :class:`LabelsMixin` gives
:class:`soundkit.store.Store` ``labels``, ``set_label``, ``create_label``, ``rename_label``,
``merge_labels`` and ``delete_label``; refused edits raise :class:`~soundkit.errors.StoreError`.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from soundkit.errors import ParameterError, StoreError
from soundkit.store.database import _chunks

__all__ = ["LabelsMixin", "normalize_label", "MAX_LABEL_LENGTH"]

#: Longest label, in characters.
MAX_LABEL_LENGTH = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_label(label: Any) -> str:
    """A valid label: trimmed, inner whitespace collapsed; ParameterError naming the bad value."""
    if not isinstance(label, str):
        raise ParameterError(f"label must be text, got {type(label).__name__} {label!r}")
    text = " ".join(label.split())
    if not text:
        raise ParameterError(f"label must not be empty, got {label!r}")
    if len(text) > MAX_LABEL_LENGTH:
        raise ParameterError(f"label must be at most {MAX_LABEL_LENGTH} characters, got {len(text)}: {text[:20]!r}...")
    if "/" in text or "\\" in text:
        raise ParameterError(f"label must not contain / or \\, got {text!r}")
    if _CONTROL.search(text):
        raise ParameterError(f"label must not contain control characters, got {text!r}")
    if text.startswith("."):
        raise ParameterError(f"label must not start with a dot, got {text!r}")
    return text


class LabelsMixin:
    """Label methods of :class:`soundkit.store.Store` (uses its ``_read``/``_write`` transactions and
    its ``_ids``/``_check_ids`` of :class:`soundkit.store.queries.QueriesMixin`)."""

    @staticmethod
    def _label_id(con: sqlite3.Connection, label: str | None, *, create: bool) -> int | None:
        if label is None:
            return None
        label = normalize_label(label)
        row = con.execute("SELECT id FROM labels WHERE name = ?", (label,)).fetchone()
        if row is not None:
            return row["id"]
        if not create:
            raise StoreError(f"no label {label!r}")
        return con.execute("INSERT INTO labels(name, created) VALUES (?, ?)", (label, time.time())).lastrowid

    def labels(self) -> dict[str, int]:
        """{label: number of live clips}, every label (zero counts included), sorted case-insensitively."""
        with self._read() as con:
            rows = con.execute(
                "SELECT l.name, COUNT(c.id) AS n FROM labels l"
                " LEFT JOIN clips c ON c.label_id = l.id AND c.deleted IS NULL"
                " GROUP BY l.id ORDER BY l.name COLLATE NOCASE, l.name"
            ).fetchall()
        return {r["name"]: r["n"] for r in rows}

    def set_label(self, ids: int | Iterable[int], label: str | None) -> int:
        """Give every clip in ``ids`` the label (None: unlabel them), in one transaction.

        Returns the number of clips changed. StoreError when an id does not exist.
        """
        ids = self._ids(ids)
        label = normalize_label(label) if label is not None else None
        if not ids:
            return 0
        with self._write() as con:
            self._check_ids(con, ids)
            label_id = self._label_id(con, label, create=True)
            now = time.time()
            n = 0
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                n += con.execute(
                    f"UPDATE clips SET label_id = ?, updated = ? WHERE id IN ({marks})", (label_id, now, *chunk)
                ).rowcount
        return n

    def create_label(self, name: str, *, exist_ok: bool = False) -> str:
        """Create a class with no clips yet; returns the stored name."""
        label = normalize_label(name)
        with self._write() as con:
            row = con.execute("SELECT name FROM labels WHERE name = ?", (label,)).fetchone()
            if row is not None:
                if exist_ok:
                    return row["name"]
                raise StoreError(f"label {row['name']!r} already exists")
            con.execute("INSERT INTO labels(name, created) VALUES (?, ?)", (label, time.time()))
        return label

    def rename_label(self, old: str, new: str) -> str:
        """Rename a label (its clips follow). StoreError when ``new`` is another existing label
        (use :meth:`merge_labels`)."""
        old, new = normalize_label(old), normalize_label(new)
        with self._write() as con:
            src = con.execute("SELECT id, name FROM labels WHERE name = ?", (old,)).fetchone()
            if src is None:
                raise StoreError(f"no label {old!r}")
            dst = con.execute("SELECT id, name FROM labels WHERE name = ?", (new,)).fetchone()
            if dst is not None and dst["id"] != src["id"]:
                raise StoreError(f"label {dst['name']!r} already exists; merge {src['name']!r} into it instead")
            con.execute("UPDATE labels SET name = ? WHERE id = ?", (new, src["id"]))
        return new

    def merge_labels(self, src: str, dst: str) -> int:
        """Move every clip of ``src`` to ``dst`` (created if needed) and remove ``src``; returns the
        number of clips moved."""
        src, dst = normalize_label(src), normalize_label(dst)
        with self._write() as con:
            s = con.execute("SELECT id, name FROM labels WHERE name = ?", (src,)).fetchone()
            if s is None:
                raise StoreError(f"no label {src!r}")
            d = self._label_id(con, dst, create=True)
            if d == s["id"]:
                raise StoreError(f"cannot merge label {s['name']!r} into itself")
            n = con.execute(
                "UPDATE clips SET label_id = ?, updated = ? WHERE label_id = ?", (d, time.time(), s["id"])
            ).rowcount
            con.execute("UPDATE regions SET label_id = ? WHERE label_id = ?", (d, s["id"]))
            con.execute("DELETE FROM labels WHERE id = ?", (s["id"],))
        return n

    def delete_label(self, name: str) -> int:
        """Remove a label; its clips become unlabelled. Returns how many clips had it."""
        label = normalize_label(name)
        with self._write() as con:
            row = con.execute("SELECT id, name FROM labels WHERE name = ?", (label,)).fetchone()
            if row is None:
                raise StoreError(f"no label {label!r}")
            n = con.execute("SELECT COUNT(*) FROM clips WHERE label_id = ?", (row["id"],)).fetchone()[0]
            con.execute("UPDATE clips SET updated = ? WHERE label_id = ?", (time.time(), row["id"]))
            con.execute("DELETE FROM labels WHERE id = ?", (row["id"],))  # ON DELETE SET NULL unlabels
        return n
