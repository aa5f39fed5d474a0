"""SQLite write transactions shared by the clip store (soundkit.store) and the training queue
(soundkit.jobqueue)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

__all__ = ["immediate"]


@contextlib.contextmanager
def immediate(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on ``con`` (opened with ``isolation_level=None``): BEGIN IMMEDIATE takes
    the write lock up front (waiting up to the connection's busy timeout), the block's work is
    committed when it ends and rolled back when it raises. sqlite3 errors propagate for the caller to
    word; a failed commit leaves ``con`` outside any transaction."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    try:
        con.commit()
    except sqlite3.DatabaseError:
        if con.in_transaction:
            con.rollback()
        raise
