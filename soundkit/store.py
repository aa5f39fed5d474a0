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

import contextlib
import csv
import io
import logging
import os
import re
import sqlite3
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from soundkit.errors import AudioError, DatasetError, ParameterError, QuotaError, StoreError
from soundkit.fileio import STALE_TMP_SECONDS, remove_stale_tmp, write_atomic
from soundkit.regions import ANNOTATIONS_NAME, RegionsMixin, is_suggestion, read_annotations, write_annotations
from soundkit.regions import SCHEMA as _REGIONS_SCHEMA
from soundkit.regions import migrate as _migrate_regions

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

log = logging.getLogger(__name__)

DB_NAME = "soundkit.sqlite"
AUDIO_DIR = "audio"
#: 2: the ``regions`` table (soundkit.regions); a version-1 store gains it when opened.
#: 3: regions.suggested_label (a pending suggestion's label creates no label; soundkit.regions.migrate).
SCHEMA_VERSION = 3
#: Largest accepted clip file and duration; shortest clip.
MAX_CLIP_BYTES = 200 * 1024 * 1024
MAX_CLIP_SECONDS = 600.0
MIN_CLIP_SECONDS = 0.1
#: Bytes a stored file may hold beyond its audio (headers, tags, cover art) before it is re-encoded.
MAX_OVERHEAD_BYTES = 256 * 1024
#: Age after which a temporary file in audio/ is a leftover of a killed writer.
MAX_LABEL_LENGTH = 64
MAX_NAME_LENGTH = 200
#: Limits for zip imports: entries, total uncompressed bytes, compression ratio of one entry.
MAX_ZIP_ENTRIES = 50_000
MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_RATIO = 200
BUSY_TIMEOUT_S = 30.0

Progress = Callable[[dict], None]
Data = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO

# soundfile's format names -> the extension a stored file gets
_FORMAT_EXT = {"WAV": ".wav", "WAVEX": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3", "AIFF": ".aiff"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS clips (
    id              INTEGER PRIMARY KEY,
    hash            TEXT NOT NULL UNIQUE,
    ext             TEXT NOT NULL,
    name            TEXT NOT NULL,
    label_id        INTEGER REFERENCES labels(id) ON DELETE SET NULL,
    source          TEXT,
    fold            INTEGER,
    origin          TEXT NOT NULL,
    seconds         REAL NOT NULL,
    sr              INTEGER NOT NULL,
    channels        INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,
    created         REAL NOT NULL,
    updated         REAL NOT NULL,
    deleted         REAL,
    delete_token    TEXT,
    pred_label      TEXT,
    pred_confidence REAL,
    pred_run        TEXT
);
CREATE INDEX IF NOT EXISTS clips_label ON clips(label_id);
CREATE INDEX IF NOT EXISTS clips_deleted ON clips(deleted);
CREATE INDEX IF NOT EXISTS clips_token ON clips(delete_token);
"""


@dataclass(frozen=True)
class ClipRecord:
    """One stored clip. ``path`` is the audio file; ``name`` only a display name."""

    id: int
    hash: str
    name: str
    label: str | None
    source: str | None
    fold: int | None
    origin: str
    seconds: float
    sr: int
    channels: int
    bytes: int
    created: float
    deleted: bool
    path: Path
    pred_label: str | None = None
    pred_confidence: float | None = None
    pred_run: str | None = None

    @property
    def ext(self) -> str:
        return self.path.suffix


@dataclass
class ImportResult:
    """What an import did: counts, the records touched, and per-item problems (never raised)."""

    added: int = 0
    duplicates: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    records: list[ClipRecord] = field(default_factory=list)
    #: (name, label) of each clip that was stored already; ``label`` is the one it kept (None: unlabelled).
    existing: list[tuple[str, str | None]] = field(default_factory=list)
    #: Regions added from a DCASE annotation file (``regions.tsv``).
    regions: int = 0

    def count(self, record: ClipRecord, new: bool, name: str) -> None:
        """Record one imported clip (new, or stored already with the label it kept)."""
        self.records.append(record)
        if new:
            self.added += 1
        else:
            self.duplicates += 1
            self.existing.append((name, record.label))

    def existing_labels(self) -> dict[str | None, int]:
        """How many already-stored clips kept each label (None: unlabelled), most first."""
        counts: dict[str | None, int] = {}
        for _, label in self.existing:
            counts[label] = counts.get(label, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, str(kv[0]))))

    def existing_summary(self) -> str:
        """One line such as "3 already there (kept as dog 2, unlabelled 1)" ("" when none)."""
        if not self.existing:
            return f"{self.duplicates} already there" if self.duplicates else ""
        kept = ", ".join(f"{label or 'unlabelled'} {n}" for label, n in self.existing_labels().items())
        return f"{len(self.existing)} already there (kept as {kept})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "duplicates": self.duplicates,
            "existing": [{"name": n, "label": lab} for n, lab in self.existing],
            "existing_labels": {("" if k is None else k): v for k, v in self.existing_labels().items()},
            "errors": [{"name": n, "message": m} for n, m in self.errors],
            "skipped": list(self.skipped),
            "ids": [r.id for r in self.records],
            "regions": self.regions,
        }


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


def _display_name(name: Any) -> str:
    """The last component of an uploaded name, without control characters (never used as a path)."""
    text = str(name or "").replace("\\", "/").split("/")[-1]
    text = _CONTROL.sub("", text).strip()
    return text[:MAX_NAME_LENGTH] or "clip"


def _read_data(data: Data, name: str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        out = bytes(data)
    elif isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise AudioError(f"{name}: no such file" if not path.exists() else f"{name}: is not a file")
        if path.stat().st_size > MAX_CLIP_BYTES:
            raise AudioError(f"{name}: is larger than the {MAX_CLIP_BYTES // 2**20} MB limit")
        out = path.read_bytes()
    else:
        try:
            out = data.read(MAX_CLIP_BYTES + 1)
        except Exception as exc:  # noqa: BLE001 - a failing reader is the upload's problem
            raise AudioError(f"{name}: cannot be read ({exc})") from None
    if len(out) > MAX_CLIP_BYTES:
        raise AudioError(f"{name}: is larger than the {MAX_CLIP_BYTES // 2**20} MB limit")
    if not out:
        raise AudioError(f"{name}: file is empty")
    return out


#: Bytes per sample of soundfile subtypes wider than 16 bits (everything else counts as 2).
_SAMPLE_BYTES = {"PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}


def _validated(data: bytes, name: str) -> tuple[bytes, str, float, int, int]:
    """(bytes to store, extension, seconds, native sr, channels) after decoding the whole clip.

    The clip is decoded block by block (constant memory) with the store's limits. Formats
    libsndfile reads are kept as they are unless the file is larger than the audio it holds (see the
    module docstring); anything else is stored re-encoded as FLAC.
    """
    from soundkit import audio

    info = audio.scan(data, max_seconds=MAX_CLIP_SECONDS, min_seconds=MIN_CLIP_SECONDS, name=name)
    assert info.frames is not None
    ext = _FORMAT_EXT.get(info.format or "") if info.decoder == "libsndfile" else None
    width = _SAMPLE_BYTES.get(info.subtype or "", 2)
    bound = info.frames * info.channels * width + MAX_OVERHEAD_BYTES
    if ext is None or len(data) > bound:
        if ext is not None:
            log.info("%s: %d bytes for %.2f s of audio; storing it re-encoded as FLAC", name, len(data), info.seconds)
        data = audio.encode(data, format="FLAC", subtype="PCM_24" if width > 2 else "PCM_16",
                            max_seconds=MAX_CLIP_SECONDS, name=name)
        ext = ".flac"
    return data, ext, info.frames / info.samplerate, int(info.samplerate), int(info.channels)


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


class Store(RegionsMixin):
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

    # -- connections -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.db_path}: cannot open the store ({exc})") from None
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA foreign_keys = ON")
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            con.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            con.close()
            raise StoreError(f"{self.db_path}: not a usable soundkit store ({exc})") from None
        return con

    def _con(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use; a forked child opens its own).

        One connection per thread rather than per call: closing the last connection to a WAL
        database checkpoints it, which would cost every call a few milliseconds. A thread's
        connection is closed when the thread ends (its thread-local storage is released).
        """
        local = self._local
        if getattr(local, "con", None) is None or local.pid != os.getpid():
            local.con, local.pid = self._connect(), os.getpid()
        return local.con

    def close(self) -> None:
        """Close this thread's connection (a later call opens a new one)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            self._local.con = None
            con.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._con()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.db_path}: {exc}") from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: takes the write lock up front, waits when busy)."""
        con = self._con()
        if con.in_transaction:  # nested: part of the enclosing transaction
            yield con
            return
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()
        except sqlite3.DatabaseError as exc:
            if con.in_transaction:  # a failed commit must not leave this thread's connection mid-transaction
                con.rollback()
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(f"{self.db_path}: the store is busy or unwritable ({exc})") from None
            raise StoreError(f"{self.db_path}: {exc}") from None

    def _init_schema(self) -> None:
        con = self._connect()
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.db_path}: made by a newer soundkit (schema {version}); upgrade soundkit")
            if version == SCHEMA_VERSION:
                return
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("BEGIN IMMEDIATE")
            # statement by statement: executescript() would commit the open transaction
            for stmt in filter(str.strip, (_SCHEMA + _REGIONS_SCHEMA).split(";")):
                con.execute(stmt)
            _migrate_regions(con)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.commit()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.db_path}: not a usable soundkit store ({exc})") from None
        finally:
            con.close()

    # -- rows --------------------------------------------------------------------------------------

    _SELECT = "SELECT c.*, l.name AS label FROM clips c LEFT JOIN labels l ON l.id = c.label_id"

    def _path_for(self, digest: str, ext: str) -> Path:
        return self.home / AUDIO_DIR / digest[:2] / f"{digest}{ext}"

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

    # -- quotas ------------------------------------------------------------------------------------

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

    # -- adding ------------------------------------------------------------------------------------

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

    # -- reading -----------------------------------------------------------------------------------

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

    # -- labels ------------------------------------------------------------------------------------

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


def _int_or_none(value: Any) -> int | None:
    try:
        v = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return v if v >= 1 else None


def _chunks(seq: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]
