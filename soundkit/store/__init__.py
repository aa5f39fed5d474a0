"""The labelled-clip store: a SQLite index plus content-addressed audio files.

Layout inside the data directory (``soundkit.config.home()``, env SOUNDKIT_HOME)::

    soundkit.sqlite            the index (WAL journal, foreign keys, one transaction per change)
    audio/<h[:2]>/<h>.<ext>    each clip's bytes, named by their content hash (features.content_hash)

Every upload is decoded (:func:`soundkit.audio.load`) before anything is written; bad audio raises
:class:`~soundkit.errors.AudioError` and leaves nothing behind. Files are written atomically (temporary
file + ``os.replace``). Uploaded file names are kept as display names only and never become paths.
Several processes and browser sessions share one store: each call opens its own connection,
waits on a busy store (``busy_timeout``) and writes inside ``BEGIN IMMEDIATE`` transactions.

Modules
-------
:class:`Store` (here) opens the data directory; each concern is a small mixin or a few functions
in a module of its own, ``soundkit.store.<module>``::

    database     schema and its versions, connections, transactions (DatabaseMixin)
    records      ClipRecord, ImportResult and the Data/Progress types
    queries      rows to records, clip ids, clips/count/get/stats (QueriesMixin)
    labels       normalize_label and the label edits (LabelsMixin)
    validation   the clip limits, reading and decoding an upload, the bytes to keep
    ingest       add: de-duplication by hash, quotas, the atomic write (IngestMixin)
    imports      add_many, import_dataset, import_zip, import_annotated (ImportsMixin)
    deletion     delete/undo/purge (DeletionMixin)
    predictions  a model's suggestion per clip (PredictionsMixin)
    export       export_zip and dataset (ExportMixin)

Regions come from :class:`soundkit.regions.RegionsMixin`. The submodules import each other only
downwards (records, database and labels first) and never this package's ``__init__``.

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

import logging
import os
import threading
from pathlib import Path

from soundkit.errors import StoreError
from soundkit.fileio import STALE_TMP_SECONDS, remove_stale_tmp  # noqa: F401
from soundkit.regions import RegionsMixin
from soundkit.store.database import AUDIO_DIR, BUSY_TIMEOUT_S, DB_NAME, SCHEMA_VERSION, DatabaseMixin  # noqa: F401
from soundkit.store.deletion import DeletionMixin
from soundkit.store.export import ExportMixin
from soundkit.store.imports import MAX_ZIP_BYTES, MAX_ZIP_ENTRIES, MAX_ZIP_RATIO, ImportsMixin  # noqa: F401
from soundkit.store.ingest import IngestMixin
from soundkit.store.labels import MAX_LABEL_LENGTH, LabelsMixin, normalize_label
from soundkit.store.predictions import PredictionsMixin
from soundkit.store.queries import QueriesMixin
from soundkit.store.records import ClipRecord, Data, ImportResult, Progress  # noqa: F401
from soundkit.store.validation import (  # noqa: F401
    MAX_CLIP_BYTES,
    MAX_CLIP_SECONDS,
    MAX_NAME_LENGTH,
    MAX_OVERHEAD_BYTES,
    MIN_CLIP_SECONDS,
)

# The names imported above but not used here nor listed in __all__ (noqa: F401) are re-exported:
# callers and tests read them from soundkit.store, as before the store became a package.
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


class Store(
    DatabaseMixin,
    QueriesMixin,
    LabelsMixin,
    IngestMixin,
    ImportsMixin,
    DeletionMixin,
    PredictionsMixin,
    ExportMixin,
    RegionsMixin,
):
    """The labelled-clip store in one data directory (see the module docstring for the API).

    Each concern is a mixin of its own module (listed in the module docstring); this class opens
    the data directory and holds the state they share: ``home``, ``db_path``, the thread-local
    connections and the quotas ``max_clips``/``max_bytes``.
    """

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
