"""The store's SQLite index: the schema and its versions, connections and transactions.

``soundkit.sqlite`` in the data directory holds the clips, labels and regions tables (WAL journal,
foreign keys on). ``PRAGMA user_version`` is the schema version: a store made by a newer soundkit is
refused, an older one gains the tables it lacks when opened (every statement is ``CREATE ... IF NOT
EXISTS``; version 1 lacked the ``regions`` table of :mod:`soundkit.regions`, version 2 its
``suggested_label`` column, added by :func:`soundkit.regions.migrate`). Each thread has its own
connection; writes run in ``BEGIN IMMEDIATE`` transactions that wait on a busy store up to
``BUSY_TIMEOUT_S``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from soundkit.errors import StoreError
from soundkit.regions import SCHEMA as _REGIONS_SCHEMA
from soundkit.regions import migrate as _migrate_regions
from soundkit.sqlite_tx import immediate

__all__ = ["DatabaseMixin", "DB_NAME", "AUDIO_DIR", "SCHEMA_VERSION", "BUSY_TIMEOUT_S"]

DB_NAME = "soundkit.sqlite"
AUDIO_DIR = "audio"
#: 2: the ``regions`` table (soundkit.regions); a version-1 store gains it when opened.
#: 3: regions.suggested_label (a pending suggestion's label creates no label; soundkit.regions.migrate).
SCHEMA_VERSION = 3
#: How long a connection waits for another writer before the store is "busy".
BUSY_TIMEOUT_S = 30.0

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


class DatabaseMixin:
    """Connections, transactions and the schema of :class:`soundkit.store.Store`, plus where a
    clip's audio file lives. Uses the Store's ``home``, ``db_path`` and ``_local`` (a
    ``threading.local``) set by its constructor."""

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
            with immediate(con):
                yield con
        except sqlite3.DatabaseError as exc:  # immediate() leaves this thread's connection outside any transaction
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

    def _path_for(self, digest: str, ext: str) -> Path:
        """The audio file of the content ``digest``: ``home/audio/<digest[:2]>/<digest><ext>``."""
        return self.home / AUDIO_DIR / digest[:2] / f"{digest}{ext}"


def _chunks(seq: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    """``seq`` in slices of at most ``n`` (ids per ``IN (...)`` statement, under SQLite's variable limit)."""
    for i in range(0, len(seq), n):
        yield seq[i : i + n]
