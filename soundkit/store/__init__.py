"""The labelled-clip store: a SQLite index plus content-addressed audio files.

Layout inside the data directory (``soundkit.config.home()``, env SOUNDKIT_HOME)::

    soundkit.sqlite            the index (WAL journal, foreign keys, one transaction per change)
    audio/<h[:2]>/<h>.<ext>    each clip's bytes, named by their content hash (features.content_hash)

Every upload is decoded (:func:`soundkit.audio.load`) before anything is written; bad audio raises
:class:`~soundkit.errors.AudioError` and leaves nothing behind. Files are written atomically (temporary
file + ``os.replace``). Uploaded file names are kept as display names only and never become paths.
Several processes and browser sessions share one store: each call opens its own connection,
waits on a busy store (``busy_timeout``) and writes inside ``BEGIN IMMEDIATE`` transactions.

API
---
``Store(home=None, *, max_clips=None, max_bytes=None)``
    Open (creating if needed) the store in ``home`` (default: ``config.home()``). ``max_clips`` (live
    clips) and ``max_bytes`` (stored audio, deleted-but-unpurged clips included) are quotas: adding a
    new clip past one raises :class:`~soundkit.errors.QuotaError` and stores nothing.
``add(data, *, name, label=None, source=None, origin="upload", fold=None, relabel=False) -> ClipRecord``
    Validate and store one clip (bytes, path or file-like). Re-adding the same content returns the
    existing record (restoring it if it was deleted); a clip that already has a label keeps it unless
    ``relabel`` is true (an unlabelled or deleted one takes ``label``).
``add_many(items, *, progress=None) -> ImportResult``
    ``items``: ``(name, data)`` / ``(name, data, label)`` tuples or dicts with keys data, name and
    optionally label, source, fold, origin. Bad items are reported in ``errors``, not raised.
``import_zip(source, *, esc10=False, progress=None) -> ImportResult``
    A zip (path, bytes or file-like) holding one folder per class, an ESC-50 release
    (``meta/esc50.csv`` + ``audio/``) or a store export (``metadata.csv``). Files at the zip's root
    are added unlabelled; non-audio entries are listed in ``skipped``.
``import_dataset(dataset, *, progress=None) -> ImportResult``
    Every clip of a :class:`soundkit.clips.Dataset`, keeping label, source and fold.
``clips(label=None, *, unlabelled=False, source=None, search=None, include_deleted=False,
order="created", limit=None, offset=0) -> list[ClipRecord]``
    ``order``: "created" (oldest first), "name", "label" or "uncertainty" (clips with a prediction,
    least confident first, then the rest).
``count(...) -> int``, ``get(id) -> ClipRecord``, ``audio_path(record_or_id) -> Path``,
``read_bytes(record_or_id) -> bytes``.
``set_label(ids, label) -> int``
    Label (or, with None, unlabel) many clips in one transaction; creates the label if new.
``labels() -> dict[str, int]``
    Every label (sorted, case-insensitively) with its number of live clips, zero included.
``create_label(name, *, exist_ok=False) -> str``, ``rename_label(old, new) -> str``,
``merge_labels(src, dst) -> int``, ``delete_label(name) -> int`` (its clips become unlabelled).
``delete(ids) -> str``
    Soft delete; returns an undo token for ``undo(token) -> int``. ``purge() -> int`` removes
    deleted clips and their files for good (and any orphan or temporary file).
``set_prediction(id, label, confidence, run=None)``, ``set_predictions(items, *, run=None)``
    The model's suggestion per clip (used to sort by uncertainty); ``clear_predictions()``.
``export_zip(dest, *, include_unlabelled=False, progress=None) -> Path``
    Folder per class + ``metadata.csv``, written atomically; ``import_zip`` reads it back.
``dataset(*, n_folds=5, seed=0) -> datasets.Dataset``
    The labelled clips. Sources kept; folds from the clips' stored folds when every clip has one,
    else assigned with :func:`soundkit.clips.assign_folds` (stratified, grouped by source).
``stats() -> dict``: {"clips", "labelled", "unlabelled", "deleted", "labels", "seconds"}.
``close()``: close the calling thread's connection (others close when their thread ends).

``ClipRecord`` (frozen): id, hash, name, label, source, fold, origin, seconds, sr, channels, bytes,
created, deleted, path (the audio file), pred_label, pred_confidence, pred_run.
``ImportResult``: added (int), duplicates (int), existing [(name, label kept)] (one per duplicate),
errors [(name, message)], skipped [entry names], records [ClipRecord], ``existing_labels()``
({label or None: count}), ``to_dict()``.

Bounds (hostile uploads cost little): every clip is decoded block by block in constant memory
(:func:`soundkit.audio.scan`: header checked first for duration, channels, rate and sample count;
clips shorter than ``MIN_CLIP_SECONDS`` refused). Stored bytes are bounded by the audio they hold: a
file larger than its decoded audio as 16-bit PCM (the file's own sample width when wider) plus
``MAX_OVERHEAD_BYTES`` (trailing junk, say), or one only ffmpeg reads, is stored re-encoded as FLAC
(lossless for the decoded samples, native rate and channels); otherwise the upload's bytes are kept
as they are. A clip's ``hash`` is the content hash of its *stored* bytes (also its file name and
FeatureCache key); an upload is matched first by the hash of its own bytes, then, after
validation, by the hash of what would be stored, so re-uploading a re-encoded file is a duplicate.
Zip members are labelled by their own parent folder only; a member whose path is absolute, holds
``..`` or a drive (``C:``) is added unlabelled. Audio files are written as unnamed
temporary files linked into place (O_TMPFILE on Linux), so a killed import leaves no partial file;
``audio/xx/.tmp-*`` leftovers of other writers older than ``STALE_TMP_SECONDS`` are removed when
the store opens.

Labels are trimmed, non-empty, at most 64 characters, without path separators or control
characters, and unique regardless of case ("dog" finds an existing "Dog"). Bad labels raise
:class:`~soundkit.errors.ParameterError`; refused operations raise :class:`~soundkit.errors.StoreError`.
Progress callbacks receive ``{"stage": "import"|"export", "done", "total", "message"}``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from soundkit.errors import AudioError, DatasetError, ParameterError, StoreError
from soundkit.fileio import STALE_TMP_SECONDS, remove_stale_tmp
from soundkit.regions import ANNOTATIONS_NAME, RegionsMixin, is_suggestion, read_annotations, write_annotations
from soundkit.store.database import AUDIO_DIR, DB_NAME, DatabaseMixin, _chunks
from soundkit.store.ingest import IngestMixin
from soundkit.store.labels import MAX_LABEL_LENGTH, LabelsMixin, normalize_label
from soundkit.store.queries import QueriesMixin
from soundkit.store.records import ClipRecord, ImportResult, Progress
from soundkit.store.validation import MAX_CLIP_BYTES, _display_name, _read_data

__all__ = [
    "Store",
    "ClipRecord",
    "ImportResult",
    "normalize_label",
    "MAX_CLIP_BYTES",
    "MAX_CLIP_SECONDS",
    "MIN_CLIP_SECONDS",
    "MAX_LABEL_LENGTH",
]

# re-exported: callers read these from soundkit.store
from soundkit.store.database import BUSY_TIMEOUT_S, SCHEMA_VERSION  # noqa: E402, F401
from soundkit.store.validation import MAX_CLIP_SECONDS, MAX_NAME_LENGTH, MAX_OVERHEAD_BYTES, MIN_CLIP_SECONDS  # noqa: E402, F401

log = logging.getLogger(__name__)

#: Limits for zip imports: entries, total uncompressed bytes, compression ratio of one entry.
MAX_ZIP_ENTRIES = 50_000
MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_RATIO = 200

class Store(DatabaseMixin, QueriesMixin, LabelsMixin, IngestMixin, RegionsMixin):
    """The labelled-clip store in one data directory (see the module docstring for the API)."""

    def __init__(
        self, home: str | os.PathLike | None = None, *, max_clips: int | None = None, max_bytes: int | None = None
    ) -> None:
        self.max_clips = None if max_clips is None else int(max_clips)
        self.max_bytes = None if max_bytes is None else int(max_bytes)
        if home is None:
            from soundkit.config import home as default_home

            home = default_home()
        self.home = Path(home).expanduser().absolute()
        if self.home.exists() and not self.home.is_dir():
            raise StoreError(f"{self.home}: is not a directory")
        try:
            (self.home / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.home}: cannot create the data directory ({exc.strerror})") from None
        self.db_path = self.home / DB_NAME
        self._local = threading.local()
        self._init_schema()
        if remove_stale_tmp(self.home / AUDIO_DIR):
            log.info("%s: removed stale temporary files", self.home / AUDIO_DIR)

    def __repr__(self) -> str:
        return f"Store({str(self.home)!r})"

    def _add_item(self, item: Any) -> tuple[ClipRecord, bool]:
        if isinstance(item, dict):
            kwargs = dict(item)
            data = kwargs.pop("data")
        else:
            name, data, *rest = item
            kwargs = {"name": name, "label": rest[0] if rest else None}
        return self._add(data, **kwargs)

    def add_many(
        self, items: Iterable[Any], *, progress: Progress | None = None, total: int | None = None
    ) -> ImportResult:
        """Add many clips; problems with one item are reported in ``errors``, not raised."""
        items = list(items) if total is None else items
        total = len(items) if total is None else total  # type: ignore[arg-type]
        result = ImportResult()
        for done, item in enumerate(items, 1):
            name = item.get("name") if isinstance(item, dict) else item[0]
            name = _display_name(name)
            try:
                rec, new = self._add_item(item)
            except (AudioError, ParameterError) as exc:
                result.errors.append((str(name), str(exc)))
            else:
                result.count(rec, new, str(name))
            if progress:
                progress({"stage": "import", "done": done, "total": total, "message": str(name)})
        return result

    def import_dataset(self, dataset: Any, *, progress: Progress | None = None) -> ImportResult:
        """Every clip of a :class:`soundkit.clips.Dataset` (label, source and fold kept)."""
        origin = f"dataset:{Path(dataset.root).name}"
        items = (
            {
                "data": c.path,
                "name": c.path.name,
                "label": c.label,
                "source": c.source or None,
                "fold": c.fold,
                "origin": origin,
            }
            for c in dataset.clips
        )
        return self.add_many(items, progress=progress, total=len(dataset.clips))

    def import_zip(
        self, source: str | os.PathLike | bytes | BinaryIO, *, esc10: bool = False, progress: Progress | None = None
    ) -> ImportResult:
        """Import a zip: folder per class, an ESC-50 release, or a store export (``metadata.csv``).

        Entries are read into memory one at a time and stored under their content hash, so entry
        names never become paths (no zip-slip). Limits: ``MAX_ZIP_ENTRIES`` entries, ``MAX_ZIP_BYTES``
        in all, ``MAX_CLIP_BYTES`` per clip, compression ratio below ``MAX_ZIP_RATIO``. ``esc10``
        keeps only the ESC-10 subset of an ESC-50 release.
        """
        from soundkit.audio import AUDIO_EXTENSIONS
        from soundkit.clips import label_from_folder, parse_esc_name

        where = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "the zip file"
        try:
            zf = zipfile.ZipFile(
                io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source
            )
        except FileNotFoundError:
            raise StoreError(f"{where}: no such file") from None
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise StoreError(f"{where}: not a zip file ({exc})") from None
        with zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if len(infos) > MAX_ZIP_ENTRIES:
                raise StoreError(f"{where}: has {len(infos)} entries; the limit is {MAX_ZIP_ENTRIES}")
            if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
                raise StoreError(f"{where}: unpacks to more than {MAX_ZIP_BYTES // 2**30} GB")
            result = ImportResult()
            meta = self._zip_metadata(zf, infos, esc10=esc10, where=where)
            plan: list[tuple[zipfile.ZipInfo, dict]] = []
            parts_of: dict[int, tuple[str, ...]] = {}
            added: dict[str, int] = {}  # member path -> clip id, for the region annotations
            for info in infos:
                # entry names only ever give labels (never paths), and only a plain relative name
                # does: a member whose name is absolute, holds ".." or a drive ("C:") is added
                # unlabelled (its audio may be fine; its folders are not to be trusted)
                parts = _member_parts(info.filename)
                unsafe = parts is None
                if unsafe:
                    parts = (_display_name(info.filename),)
                if not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
                    continue
                if PurePosixPath(parts[-1]).suffix.lower() not in AUDIO_EXTENSIONS:
                    if parts[-1] not in ("metadata.csv", "esc50.csv", ANNOTATIONS_NAME):
                        result.skipped.append(info.filename)
                    continue
                if unsafe:
                    log.warning("%s: unsafe path in the zip; imported unlabelled", info.filename)
                    entry = {}
                elif meta is not None:
                    entry = (
                        meta["rows"].get(parts[-1])
                        if meta["kind"] == "esc50"
                        else meta["rows"].get("/".join(parts[meta["depth"] :]))
                    )
                    if entry is None:
                        if meta["kind"] == "esc50" and esc10:
                            continue  # not in the ESC-10 subset
                        entry = {}
                else:
                    label = label_from_folder(parts[-2]) if len(parts) >= 2 else None
                    parsed = parse_esc_name(PurePosixPath(parts[-1]).stem)
                    entry = {"label": label}
                    if parsed is not None and label is not None:
                        entry.update(fold=parsed[0], source=f"{label}/{parsed[1]}")
                plan.append((info, entry))
                parts_of[id(info)] = parts
            total = len(plan)
            for done, (info, entry) in enumerate(plan, 1):
                name = _display_name(info.filename)
                try:
                    if info.file_size > MAX_CLIP_BYTES:
                        raise AudioError(f"{info.filename}: is larger than the {MAX_CLIP_BYTES // 2**20} MB limit")
                    if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO:
                        raise AudioError(f"{info.filename}: suspicious compression ratio (zip bomb?)")
                    with zf.open(info) as fh:
                        data = fh.read(MAX_CLIP_BYTES + 1)
                    label = entry.get("label")
                    if label is not None:
                        try:
                            label = normalize_label(label)
                        except ParameterError as exc:
                            raise AudioError(f"{info.filename}: {exc}") from None
                    rec, new = self._add(
                        data,
                        name=name,
                        label=label,
                        source=entry.get("source") or None,
                        fold=entry.get("fold"),
                        origin="zip",
                    )
                except (AudioError, ParameterError) as exc:
                    result.errors.append((info.filename, str(exc)))
                except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                    result.errors.append((info.filename, f"{info.filename}: cannot be read from the zip ({exc})"))
                else:
                    result.count(rec, new, name)
                    added["/".join(parts_of[id(info)])] = rec.id
                if progress:
                    progress({"stage": "import", "done": done, "total": total, "message": name})
            annotations = [i for i in infos if (_member_parts(i.filename) or ("",))[-1] == ANNOTATIONS_NAME]
            if annotations:
                info = min(annotations, key=lambda i: i.filename.count("/"))
                depth = info.filename.replace("\\", "/").count("/")
                try:
                    text = zf.read(info).decode("utf-8-sig")
                except (UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
                    raise StoreError(f"{where}: cannot read {info.filename} ({exc})") from None
                by_file = {"/".join(k.split("/")[depth:]): v for k, v in added.items()}
                self._add_annotations(text, by_file, result, where=info.filename)
        log.info(
            "imported %s: %d added, %d duplicates, %d errors",
            where,
            result.added,
            result.duplicates,
            len(result.errors),
        )
        return result

    def import_annotated(self, folder: str | os.PathLike, *, progress: Progress | None = None) -> ImportResult:
        """Import a folder of recordings plus a DCASE annotation file (``regions.tsv``, or a ``.tsv``/
        ``.csv`` with the columns filename, onset, offset, event_label; see
        :func:`soundkit.regions.find_annotations`): every audio file is added unlabelled (a recording
        stored already keeps its label) and every annotated range becomes a region."""
        from soundkit.audio import AUDIO_EXTENSIONS
        from soundkit.regions import find_annotations

        folder = Path(folder)
        if not folder.is_dir():
            raise StoreError(f"{folder}: is not a directory")
        ann = find_annotations(folder)
        if ann is None:
            raise StoreError(f"{folder}: has no annotation file (regions.tsv, columns filename onset offset event_label)")
        try:
            text = ann.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"{ann}: cannot be read ({exc})") from None
        files = sorted(
            p for p in folder.rglob("*")
            if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
        )
        result, by_file = ImportResult(), {}
        for done, p in enumerate(files, 1):
            rel = p.relative_to(folder).as_posix()
            try:
                rec, new = self._add(_read_data(p, rel), name=p.name, origin="folder")
            except (AudioError, ParameterError) as exc:
                result.errors.append((rel, str(exc)))
            else:
                result.count(rec, new, p.name)
                by_file[rel] = rec.id
            if progress:
                progress({"stage": "import", "done": done, "total": len(files), "message": rel})
        self._add_annotations(text, by_file, result, where=ann.name)
        return result

    def _add_annotations(self, text: str, by_file: dict[str, int], result: ImportResult, *, where: str) -> int:
        """Add the regions of a DCASE annotation file whose ``filename`` is one of ``by_file`` (a
        file's path, or its bare name when unique); a region stored already is not added twice.
        Problems go to ``result.errors``. Returns the number of regions added."""
        rows, errors = read_annotations(text, where=where)
        result.errors.extend(errors)
        bare: dict[str, int | None] = {}
        for k, v in by_file.items():
            b = k.rsplit("/", 1)[-1]
            bare[b] = v if b not in bare else None
        n = 0
        for name, onset, offset, label in rows:
            key = name.replace("\\", "/")
            clip_id = by_file.get(key, bare.get(key.rsplit("/", 1)[-1]))
            if clip_id is None:
                result.errors.append((f"{where}: {name}", f"{name}: no such recording in the import"))
                continue
            if any(abs(g.start - onset) < 5e-4 and abs(g.end - offset) < 5e-4 and g.label == label
                   for g in self.regions(clip_id)):
                continue
            try:
                self.add_region(clip_id, onset, offset, label=label, suggested_by="import")
            except (ParameterError, StoreError) as exc:
                result.errors.append((f"{where}: {name}", str(exc)))
            else:
                n += 1
        result.regions += n
        return n

    @staticmethod
    def _zip_metadata(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], *, esc10: bool, where: str) -> dict | None:
        """Rows of an ESC-50 ``meta/esc50.csv`` or a store export's ``metadata.csv``, if present."""
        by_name = {i.filename.replace("\\", "/"): i for i in infos}
        esc = [n for n in by_name if n == "meta/esc50.csv" or n.endswith("/meta/esc50.csv")]
        export = [n for n in by_name if n == "metadata.csv" or (n.endswith("/metadata.csv") and n.count("/") == 1)]
        if not esc and not export:
            return None
        key = (esc or export)[0]
        try:
            text = zf.read(by_name[key]).decode("utf-8-sig")
        except (UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
            raise StoreError(f"{where}: cannot read {key} ({exc})") from None
        reader = csv.DictReader(io.StringIO(text))
        rows: dict[str, dict] = {}
        if esc:
            need = {"filename", "fold", "category", "src_file"}
            if not need <= set(reader.fieldnames or ()):
                raise StoreError(
                    f"{where}: {key} lacks column(s) {', '.join(sorted(need - set(reader.fieldnames or ())))}"
                )
            for row in reader:
                if esc10 and row.get("esc10", "").strip().lower() != "true":
                    continue
                rows[row["filename"]] = {
                    "label": row["category"],
                    "fold": _int_or_none(row["fold"]),
                    "source": row["src_file"],
                }
            return {"kind": "esc50", "rows": rows}
        need = {"file", "label"}
        if not need <= set(reader.fieldnames or ()):
            return None  # some other metadata.csv: fall back to the folder layout
        for row in reader:
            rows[row["file"]] = {
                "label": row["label"] or None,
                "fold": _int_or_none(row.get("fold")),
                "source": row.get("source") or None,
            }
        return {"kind": "export", "rows": rows, "depth": key.count("/")}

    # -- deleting ----------------------------------------------------------------------------------

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

    # -- predictions -------------------------------------------------------------------------------

    def set_prediction(self, id: int, label: str | None, confidence: float | None, run: str | None = None) -> None:
        """Record the model's suggestion for one clip."""
        self.set_predictions([(id, label, confidence)], run=run)

    def set_predictions(self, items: Iterable[tuple[int, str | None, float | None]], *, run: str | None = None) -> int:
        """Record many ``(id, label, confidence)`` suggestions in one transaction."""
        rows = []
        for clip_id, label, confidence in items:
            if confidence is not None and not (0.0 <= float(confidence) <= 1.0):
                raise ParameterError(f"confidence must be within 0..1, got {confidence}")
            rows.append((label, None if confidence is None else float(confidence), run, int(clip_id)))
        with self._write() as con:
            self._check_ids(con, [r[-1] for r in rows])
            con.executemany("UPDATE clips SET pred_label = ?, pred_confidence = ?, pred_run = ? WHERE id = ?", rows)
        return len(rows)

    def clear_predictions(self) -> None:
        with self._write() as con:
            con.execute("UPDATE clips SET pred_label = NULL, pred_confidence = NULL, pred_run = NULL")

    # -- export and datasets -----------------------------------------------------------------------

    def export_zip(
        self, dest: str | os.PathLike, *, include_unlabelled: bool = False, progress: Progress | None = None
    ) -> Path:
        """Write a zip with one folder per class (``_unlabelled/`` if asked) and ``metadata.csv``
        (file, label, source, fold, hash, origin, name, seconds). Atomic: a temporary file renamed."""
        dest = Path(dest)
        regions = self.regions()
        with_regions = {g.clip_id for g in regions}
        records = [r for r in self.clips() if r.label is not None or include_unlabelled or r.id in with_regions]
        if not records:
            raise StoreError("nothing to export: the store has no labelled clips")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-", suffix=".zip")
        os.close(fd)
        used: set[str] = set()
        arcs: dict[int, str] = {}
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["file", "label", "source", "fold", "hash", "origin", "name", "seconds"])
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                for done, r in enumerate(records, 1):
                    folder = r.label if r.label is not None else "_unlabelled"
                    stem, _ = os.path.splitext(r.name)
                    arc = f"{folder}/{stem}{r.ext}"
                    if arc.lower() in used:
                        arc = f"{folder}/{stem}-{r.hash[:8]}{r.ext}"
                    used.add(arc.lower())
                    arcs[r.id] = arc
                    zf.write(self.audio_path(r), arc)
                    writer.writerow(
                        [arc, r.label or "", r.source or "", r.fold or "", r.hash, r.origin, r.name, f"{r.seconds:.3f}"]
                    )
                    if progress:
                        progress({"stage": "export", "done": done, "total": len(records), "message": arc})
                zf.writestr("metadata.csv", buf.getvalue())
                if regions:  # DCASE layout: filename, onset, offset, event_label (tab-separated)
                    zf.writestr(ANNOTATIONS_NAME, write_annotations(
                        [(arcs[g.clip_id], g.start, g.end, g.label) for g in regions
                         if g.label and g.clip_id in arcs and not is_suggestion(g.suggested_by)]
                    ))
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def dataset(self, *, n_folds: int = 5, seed: int = 0) -> Any:
        """The labelled clips as a :class:`soundkit.clips.Dataset` (layout "store").

        Clip ids are the store ids (as text); sources are the stored ones (else the content hash);
        folds are the stored ones when every clip has one, else assigned by
        :func:`soundkit.clips.assign_folds` (stratified by label, grouped by source, seeded).
        """
        from soundkit.clips import Clip, Dataset, assign_folds

        records = [r for r in self.clips(order="created") if r.label is not None]
        clips = [
            Clip(path=r.path, label=r.label, fold=r.fold, source=r.source or r.hash, id=str(r.id)) for r in records
        ]  # type: ignore[arg-type]
        clips += self.region_clips()  # ranged paths: cut from their recording when featurized
        if not clips:
            raise DatasetError(f"{self.home}: the store has no labelled clips")
        # stored folds (ESC-style names) serve only when there are two or more: clips that all come
        # from one fold (a user's few uploads of fold-1 files, say) cannot be split by it
        official = all(c.fold is not None for c in clips) and len({c.fold for c in clips}) >= 2
        if not official:
            clips = assign_folds(clips, n_folds=n_folds, seed=seed)
        return Dataset(self.home, clips, "store", official_folds=official, meta={"store": str(self.home)})


_DRIVE = re.compile(r"^[A-Za-z]:")


def _member_parts(filename: str) -> tuple[str, ...] | None:
    """The folders and file name of a zip member, or None when the name is not a plain relative
    path (absolute, holding ``..``, or with a drive such as ``C:``). Backslashes count as separators."""
    name = filename.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        return None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if any(p == ".." or ":" in p for p in parts):
        return None
    return parts


def _int_or_none(value: Any) -> int | None:
    try:
        v = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return v if v >= 1 else None

