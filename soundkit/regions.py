"""Regions of long recordings: labelled time ranges, stored in the label store, cut at train time.

A region is (recording clip id, start, end, label, suggested_by, created), kept in the store's
``regions`` table (schema 2, ``suggested_label`` since schema 3; see :mod:`soundkit.store`). Regions are never copied to disk: a
region becomes a training clip whose path is a *ranged path*, the recording's file followed by a
W3C media-fragment ``#t=<start>,<end>`` (seconds, three decimals)::

    /home/audio/ab/ab12....wav#t=1.250,2.000

The featurizers (:func:`soundkit.features.featurize_files`, :func:`soundkit.models.yamnet.embed_files`)
and the offline augmenter read such a path with :func:`load_ranged`: the recording is decoded and
the range cut out. Their caches key a ranged clip by :func:`range_digest` (the recording's content
hash plus the range), so two regions of one recording never share a cache entry.

Exports carry the regions as ``regions.tsv`` in the DCASE annotation layout (tab-separated, with a
header ``filename onset offset event_label``); :func:`read_annotations` reads it back (also from a
folder given to ``python -m soundkit import``).

API (on :class:`soundkit.store.Store`, through :class:`RegionsMixin`)
---------------------------------------------------------------------
``add_region(clip_id, start, end, *, label, suggested_by=None) -> Region``
``move_region(region_id, start, end) -> Region``
``relabel_region(region_id, label) -> Region``
``delete_region(region_id) -> None``
``accept_region(region_id, *, by="user") -> Region`` (a model's suggestion becomes the user's)
``add_regions(clip_id, items, *, suggested_by) -> list[Region]`` (all or nothing)
``import_annotations(text, *, where) -> ImportResult`` (a DCASE file against stored recordings' names)
``regions(clip_id=None) -> list[Region]`` (ordered by recording, then start)
``get_region(region_id) -> Region``

``suggested_by`` says who proposed a region: ``"user"`` (drawn or accepted in the editor), ``"import"``
(a DCASE file), ``"model:<name>"`` (an event detector's suggestion, see :func:`suggest_regions`,
pending until the user accepts it; moving or relabelling it accepts it too; until then it is no
training clip, :meth:`RegionsMixin.region_clips`, and no exported annotation), None (the API, unsaid).

A suggestion's label is the model's word, not yet the user's: a pending suggestion whose label the
store does not know keeps it in the region's own ``suggested_label`` column and creates no label
(schema 3), so a rejected (deleted) suggestion leaves nothing behind in :meth:`Store.labels`, the
label pickers, the hotkeys or the classes a run trains on. Accepting it (or moving or relabelling it)
creates the label in the same transaction. A suggestion whose label exists already refers to that
label as well (renames and merges reach it); no label is ever deleted by a region edit.

Rules: ``0 <= start < end <= the recording's duration``, at least ``MIN_REGION_SECONDS`` long,
labels as for clips (:func:`soundkit.store.normalize_label`). Bad ranges raise
:class:`~soundkit.errors.ParameterError`; missing recordings or regions raise
:class:`~soundkit.errors.StoreError`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundkit.errors import AudioError, ParameterError, StoreError

__all__ = [
    "Region",
    "RegionsMixin",
    "ranged_path",
    "split_range",
    "range_digest",
    "load_ranged",
    "read_ranged_bytes",
    "write_annotations",
    "read_annotations",
    "find_annotations",
    "ANNOTATIONS_NAME",
    "MIN_REGION_SECONDS",
    "suggest_regions",
    "is_suggestion",
]

#: Shortest region (the store's shortest clip).
MIN_REGION_SECONDS = 0.1
#: The annotation file written into exports and read back by imports.
ANNOTATIONS_NAME = "regions.tsv"
ANNOTATION_COLUMNS = ("filename", "onset", "offset", "event_label")

SCHEMA = """
CREATE TABLE IF NOT EXISTS regions (
    id           INTEGER PRIMARY KEY,
    clip_id      INTEGER NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
    start        REAL NOT NULL,
    "end"        REAL NOT NULL,
    label_id     INTEGER REFERENCES labels(id) ON DELETE SET NULL,
    suggested_by TEXT,
    created      REAL NOT NULL,
    suggested_label TEXT,
    CHECK (start >= 0 AND "end" > start)
);
CREATE INDEX IF NOT EXISTS regions_clip ON regions(clip_id);
"""


def migrate(con: Any) -> None:
    """Bring the ``regions`` table of an older store (schema 2) up to date, inside the caller's
    transaction: add the ``suggested_label`` column (a pending suggestion's label, see the module
    docstring) and fill it for the pending suggestions stored already."""
    cols = {row[1] for row in con.execute("PRAGMA table_info(regions)")}
    if "suggested_label" not in cols:
        con.execute("ALTER TABLE regions ADD COLUMN suggested_label TEXT")
        con.execute("UPDATE regions SET suggested_label = (SELECT name FROM labels WHERE labels.id = regions.label_id)"
                    " WHERE suggested_by LIKE 'model%'")

_RANGE = re.compile(r"^(?P<path>.+)#t=(?P<start>\d+(?:\.\d+)?),(?P<end>\d+(?:\.\d+)?)$")


# -- ranged paths ------------------------------------------------------------------------------------

def ranged_path(path: str | os.PathLike, start: float, end: float) -> str:
    """``path`` with a ``#t=start,end`` media fragment (seconds, three decimals)."""
    return f"{os.fspath(path)}#t={float(start):.3f},{float(end):.3f}"


def split_range(path: str | os.PathLike) -> tuple[str, tuple[float, float] | None]:
    """(file path, (start, end) or None). A path that names an existing file is never split."""
    text = os.fspath(path)
    m = _RANGE.match(text)
    if m is None or os.path.exists(text):
        return text, None
    return m["path"], (float(m["start"]), float(m["end"]))


def range_digest(digest: str, rng: tuple[float, float] | None) -> str:
    """A cache key for the range ``rng`` of the content ``digest`` (``digest`` itself without one)."""
    if rng is None:
        return digest
    return f"{digest}-t{rng[0]:.3f}-{rng[1]:.3f}"


def read_ranged_bytes(path: str | os.PathLike) -> tuple[bytes, tuple[float, float] | None, str]:
    """(the file's bytes, its range or None, the file path)."""
    real, rng = split_range(path)
    return Path(real).read_bytes(), rng, real


def cut(y: np.ndarray, sr: int, rng: tuple[float, float] | None, *, name: str = "audio") -> np.ndarray:
    """Samples ``rng`` (seconds) of ``y`` (last axis), AudioError when the range is empty."""
    if rng is None:
        return y
    a, b = int(round(rng[0] * sr)), int(round(rng[1] * sr))
    out = y[..., a : min(b, y.shape[-1])]
    if out.shape[-1] == 0:
        raise AudioError(f"{name}: the range {rng[0]:.3f}-{rng[1]:.3f} s lies beyond the end of the recording")
    return np.ascontiguousarray(out)


def load_ranged(path: str | os.PathLike, *, sr: int | None, data: bytes | None = None, **kwargs: Any) -> tuple[np.ndarray, int]:
    """:func:`soundkit.audio.load` of a plain or ranged path (the range cut after decoding).

    Parameters
    ----------
    path : path, possibly ranged (``file#t=start,end``)
    sr : int or None
    data : bytes, optional
        The file's bytes when already read.
    **kwargs : passed to :func:`soundkit.audio.load` (``max_seconds`` is lifted for ranged paths:
        the store bounds recordings already).

    Returns
    -------
    y : np.ndarray, float32, shape (n,)
    sr : int
    """
    from soundkit import audio

    real, rng = split_range(path)
    source: Any = data if data is not None else real
    if rng is not None:
        kwargs.setdefault("max_seconds", None)
    y, out_sr = audio.load(source, sr=sr, name=os.fspath(path), **kwargs)
    return cut(y, out_sr, rng, name=os.fspath(path)), out_sr


# -- the store's regions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Region:
    """One labelled range of a stored recording. ``path`` is the recording's ranged path."""

    id: int
    clip_id: int
    start: float
    end: float
    label: str | None
    suggested_by: str | None
    created: float
    recording: str
    path: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _seconds(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{what} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(v):
        raise ParameterError(f"{what} must be finite, got {value!r}")
    return v


def check_range(start: Any, end: Any, duration: float, *, name: str = "the recording") -> tuple[float, float]:
    """(start, end) rounded to milliseconds; ParameterError unless 0 <= start < end <= duration and
    the region lasts at least ``MIN_REGION_SECONDS``."""
    s, e = round(_seconds(start, "start"), 3), round(_seconds(end, "end"), 3)
    if s < 0:
        raise ParameterError(f"region start must be >= 0 s, got {s:g}")
    if e <= s:
        raise ParameterError(f"region end must be after its start, got {s:g}-{e:g} s")
    if e > duration + 1e-3:
        raise ParameterError(f"region {s:g}-{e:g} s ends after {name} ({duration:.3f} s long)")
    if e - s < MIN_REGION_SECONDS - 1e-9:
        raise ParameterError(f"region {s:g}-{e:g} s is shorter than {MIN_REGION_SECONDS:g} s")
    return s, min(e, round(duration, 3))


class RegionsMixin:
    """Region methods of :class:`soundkit.store.Store` (uses its connections and label table)."""

    _REGION_SELECT = (
        'SELECT r.id, r.clip_id, r.start, r."end", r.suggested_by, r.created, r.label_id,'
        " COALESCE(l.name, r.suggested_label) AS label, c.name AS recording, c.hash, c.ext FROM regions r JOIN clips c ON c.id = r.clip_id"
        " LEFT JOIN labels l ON l.id = r.label_id"
    )

    def _region(self, row: Any) -> Region:
        path = self._path_for(row["hash"], row["ext"])  # type: ignore[attr-defined]
        return Region(
            id=row["id"], clip_id=row["clip_id"], start=row["start"], end=row["end"], label=row["label"],
            suggested_by=row["suggested_by"], created=row["created"], recording=row["recording"],
            path=ranged_path(path, row["start"], row["end"]),
        )

    def _recording(self, con: Any, clip_id: Any) -> Any:
        try:
            cid = int(clip_id)
        except (TypeError, ValueError):
            raise ParameterError(f"recording id must be an integer, got {clip_id!r}") from None
        row = con.execute("SELECT id, name, seconds FROM clips WHERE id = ? AND deleted IS NULL", (cid,)).fetchone()
        if row is None:
            raise StoreError(f"no recording with id {cid}")
        return row

    def _region_row(self, con: Any, region_id: Any) -> Any:
        try:
            rid = int(region_id)
        except (TypeError, ValueError):
            raise ParameterError(f"region id must be an integer, got {region_id!r}") from None
        row = con.execute(f"{self._REGION_SELECT} WHERE r.id = ?", (rid,)).fetchone()
        if row is None:
            raise StoreError(f"no region with id {rid}")
        return row

    def add_region(self, clip_id: int, start: float, end: float, *, label: str, suggested_by: str | None = None) -> Region:
        """Mark ``start``-``end`` (seconds) of the recording ``clip_id`` with ``label``."""
        from soundkit.store import normalize_label

        label = normalize_label(label)
        by = None if suggested_by is None else str(suggested_by)[:200]
        with self._write() as con:  # type: ignore[attr-defined]
            rec = self._recording(con, clip_id)
            s, e = check_range(start, end, rec["seconds"], name=f"recording {rec['name']!r}")
            if is_suggestion(by):  # the model's word: a label the store knows, else only the region's own
                known = con.execute("SELECT id FROM labels WHERE name = ?", (label,)).fetchone()
                label_id, pending = (known["id"] if known else None), label
            else:
                label_id, pending = self._label_id(con, label, create=True), None  # type: ignore[attr-defined]
            cur = con.execute(
                'INSERT INTO regions(clip_id, start, "end", label_id, suggested_by, created, suggested_label)'
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rec["id"], s, e, label_id, by, time.time(), pending),
            )
            return self._region(self._region_row(con, cur.lastrowid))

    def _own(self, con: Any, row: Any, by: str = "user") -> None:
        """Make the suggestion ``row`` the user's (``suggested_by`` = ``by``): its label becomes a
        stored label (created if new), in the caller's transaction."""
        label_id = row["label_id"]
        if label_id is None and row["label"]:
            label_id = self._label_id(con, row["label"], create=True)  # type: ignore[attr-defined]
        con.execute("UPDATE regions SET suggested_by = ?, label_id = ?, suggested_label = NULL WHERE id = ?",
                    (by, label_id, row["id"]))

    def move_region(self, region_id: int, start: float, end: float) -> Region:
        """Give a region new bounds (same rules as :meth:`add_region`)."""
        with self._write() as con:  # type: ignore[attr-defined]
            row = self._region_row(con, region_id)
            rec = self._recording(con, row["clip_id"])
            s, e = check_range(start, end, rec["seconds"], name=f"recording {rec['name']!r}")
            con.execute('UPDATE regions SET start = ?, "end" = ? WHERE id = ?', (s, e, row["id"]))
            if is_suggestion(row["suggested_by"]):  # a corrected suggestion is the user's
                self._own(con, row)
            return self._region(self._region_row(con, row["id"]))

    def relabel_region(self, region_id: int, label: str) -> Region:
        """Give a region another label (created if new); a suggestion becomes the user's."""
        from soundkit.store import normalize_label

        label = normalize_label(label)
        with self._write() as con:  # type: ignore[attr-defined]
            row = self._region_row(con, region_id)
            label_id = self._label_id(con, label, create=True)  # type: ignore[attr-defined]
            con.execute("UPDATE regions SET label_id = ?, suggested_label = NULL WHERE id = ?", (label_id, row["id"]))
            if is_suggestion(row["suggested_by"]):  # the user's label now: the model's is never created
                con.execute("UPDATE regions SET suggested_by = 'user' WHERE id = ?", (row["id"],))
            return self._region(self._region_row(con, row["id"]))

    def accept_region(self, region_id: int, *, by: str = "user") -> Region:
        """Make a region (a model's suggestion) the user's: ``suggested_by`` becomes ``by`` and its
        label a stored label (created now if new)."""
        by = str(by)[:200]
        with self._write() as con:  # type: ignore[attr-defined]
            row = self._region_row(con, region_id)
            if is_suggestion(by):
                con.execute("UPDATE regions SET suggested_by = ? WHERE id = ?", (by, row["id"]))
            else:
                self._own(con, row, by)
            return self._region(self._region_row(con, row["id"]))

    def add_regions(self, clip_id: int, items: list[tuple[float, float, str]], *, suggested_by: str | None = None) -> list[Region]:
        """Add several (start, end, label) regions to one recording in one transaction: all of them,
        or (on the first bad one) none."""
        with self._write():  # type: ignore[attr-defined]
            return [self.add_region(clip_id, s, e, label=lab, suggested_by=suggested_by) for s, e, lab in items]

    def import_annotations(self, text: str, *, where: str = ANNOTATIONS_NAME) -> Any:
        """Add the regions of a DCASE annotation file to the stored recordings its ``filename``
        column names (a recording's name; names stored twice are ambiguous and reported). Regions
        stored already are skipped; problems go to the returned ImportResult's ``errors``."""
        from soundkit.store import ImportResult

        by_name: dict[str, int] = {}
        twice: set[str] = set()
        for rec in self.clips():  # type: ignore[attr-defined]
            if rec.name in by_name:
                twice.add(rec.name)
            by_name[rec.name] = rec.id
        result = ImportResult()
        rows_by = {k: v for k, v in by_name.items() if k not in twice}
        self._add_annotations(text, rows_by, result, where=where)  # type: ignore[attr-defined]
        return result

    def delete_region(self, region_id: int) -> None:
        """Remove a region for good (a pending suggestion's label, never stored, goes with it; a
        stored label stays, even with no clip or region left)."""
        with self._write() as con:  # type: ignore[attr-defined]
            row = self._region_row(con, region_id)
            con.execute("DELETE FROM regions WHERE id = ?", (row["id"],))

    def get_region(self, region_id: int) -> Region:
        with self._read() as con:  # type: ignore[attr-defined]
            return self._region(self._region_row(con, region_id))

    def regions(self, clip_id: int | None = None, *, include_deleted: bool = False) -> list[Region]:
        """Regions of one recording (or all), by recording then start; regions of deleted recordings
        only with ``include_deleted``."""
        conds, args = [], []
        if clip_id is not None:
            conds.append("r.clip_id = ?")
            args.append(int(clip_id))
        if not include_deleted:
            conds.append("c.deleted IS NULL")
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        with self._read() as con:  # type: ignore[attr-defined]
            rows = con.execute(f"{self._REGION_SELECT}{where} ORDER BY r.clip_id, r.start, r.id", args).fetchall()
        return [self._region(r) for r in rows]

    def region_clips(self) -> list[Any]:
        """The labelled regions as :class:`soundkit.clips.Clip` with ranged paths (ids
        ``region-<id>``). A recording with a source of its own (given at import, or parsed from an
        ESC-style name) gives it to all its regions, so folds never split it; a recording whose only
        source is its content hash makes each region its own source, so one long recording can still
        be split into train and test folds."""
        from soundkit.clips import Clip

        out = []
        with self._read() as con:  # type: ignore[attr-defined]
            rows = con.execute(
                f"{self._REGION_SELECT} WHERE c.deleted IS NULL AND r.label_id IS NOT NULL"
                " ORDER BY r.clip_id, r.start, r.id"
            ).fetchall()
            sources = {r["id"]: r["source"] for r in con.execute("SELECT id, source FROM clips WHERE deleted IS NULL")}
        for row in rows:
            reg = self._region(row)
            if is_suggestion(reg.suggested_by):  # a model's guess trains nothing until the user accepts it
                continue
            src = sources.get(reg.clip_id)
            if not src or src == row["hash"]:  # no source of its own beyond the content hash
                src = f"{row['hash']}#t={reg.start:.3f},{reg.end:.3f}"
            out.append(Clip(path=Path(reg.path), label=reg.label, source=src, id=f"region-{reg.id}"))  # type: ignore[arg-type]
        return out


def is_suggestion(suggested_by: str | None) -> bool:
    """True for a model's pending suggestion (``suggested_by`` ``"model:..."``)."""
    return bool(suggested_by) and str(suggested_by).startswith("model")


def suggest_regions(store: Any, clip_id: int, model: Any, *, by: str = "model", smooth: int = 3,
                    on: float = 0.5, off: float | None = None, min_duration: float = 0.25) -> tuple[list[Region], list[str]]:
    """Run the event detector (:func:`soundkit.listen.timeline_events`) of ``model`` (a Predictor: a
    trained run or YAMNet zero-shot) over a stored recording and store its events as suggested regions
    (``suggested_by="model:<by>"``), all in one transaction.

    Events that overlap a stored region of the same label by more than half are left out (suggesting
    twice adds nothing), as are events shorter than ``MIN_REGION_SECONDS`` or whose label is not a
    valid label.

    Returns
    -------
    regions : list of Region, the suggestions stored
    skipped : list of str, one line per event left out for a reason other than being stored already
    """
    from soundkit.listen import timeline_events
    from soundkit.store import normalize_label

    rec = store.get(clip_id)
    sr = int(getattr(model, "sample_rate", None) or getattr(getattr(model, "features", None), "sr", 16000))
    y, sr = load_ranged(rec.path, sr=sr, max_seconds=None)
    pred = model.predict(y, sr, top_k=1)
    duration = len(y) / sr
    events = timeline_events(pred, smooth=smooth, duration=duration, y=y, sr=sr, on=on, off=off, min_duration=min_duration)
    existing = store.regions(clip_id)
    items, skipped = [], []
    for ev in events:
        try:
            label = normalize_label(ev.label)
        except ParameterError as exc:
            skipped.append(f"{ev.start:.2f}-{ev.end:.2f} s {ev.label!r}: {exc}")
            continue
        s, e = round(max(0.0, ev.start), 3), round(min(duration, rec.seconds, ev.end), 3)
        if e - s < MIN_REGION_SECONDS:
            skipped.append(f"{s:.2f}-{e:.2f} s {label!r}: shorter than {MIN_REGION_SECONDS:g} s")
            continue
        if any(g.label == label and min(e, g.end) - max(s, g.start) > 0.5 * min(e - s, g.seconds) for g in existing):
            continue
        items.append((s, e, label))
    return store.add_regions(clip_id, items, suggested_by=f"model:{by}"[:200]), skipped


# -- DCASE annotation files --------------------------------------------------------------------------

def write_annotations(rows: list[tuple[str, float, float, str]]) -> str:
    """Tab-separated text with the header ``filename onset offset event_label``."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(ANNOTATION_COLUMNS)
    for name, onset, offset, label in rows:
        writer.writerow([name, f"{onset:.3f}", f"{offset:.3f}", label])
    return buf.getvalue()


def find_annotations(folder: str | os.PathLike) -> Path | None:
    """The DCASE annotation file at the root of ``folder``: ``regions.tsv``, else the first ``*.tsv``
    or ``*.csv`` (by name) whose header has the columns ``filename onset offset event_label``."""
    folder = Path(folder)
    named = folder / ANNOTATIONS_NAME
    if named.is_file():
        return named
    for p in sorted([*folder.glob("*.tsv"), *folder.glob("*.csv")]):
        try:
            with p.open(encoding="utf-8-sig", errors="replace") as fh:
                head = fh.readline()
        except OSError:
            continue
        cols = {c.strip() for c in re.split(r"[\t,]", head)}
        if set(ANNOTATION_COLUMNS) <= cols:
            return p
    return None


def read_annotations(text: str, *, where: str = ANNOTATIONS_NAME) -> tuple[list[tuple[str, float, float, str]], list[tuple[str, str]]]:
    """(rows, errors) of a DCASE annotation file (tab- or comma-separated, header required).

    Rows lacking a label (DCASE's "no event" lines) are skipped; malformed ones are reported in
    ``errors`` as (where:line, message). StoreError when the header lacks a column.
    """
    first = text.splitlines()[0] if text.strip() else ""
    delim = "\t" if "\t" in first else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delim)
    cols = {c.strip() for c in (reader.fieldnames or ())}
    missing = [c for c in ANNOTATION_COLUMNS if c not in cols]
    if missing:
        raise StoreError(f"{where}: lacks column(s) {', '.join(missing)} (expected {' '.join(ANNOTATION_COLUMNS)})")
    rows, errors = [], []
    for n, raw in enumerate(reader, 2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not row.get("event_label"):
            continue
        try:
            onset, offset = _seconds(row["onset"], "onset"), _seconds(row["offset"], "offset")
        except ParameterError as exc:
            errors.append((f"{where}:{n}", str(exc)))
            continue
        rows.append((row["filename"], onset, offset, row["event_label"]))
    return rows, errors
