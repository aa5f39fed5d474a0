"""The values the store hands out, :class:`ClipRecord` (one stored clip) and :class:`ImportResult`
(what an import did), and the types its API takes: ``Data`` (a clip as bytes, a path or a binary
file-like) and ``Progress`` (the callback of imports and exports, given ``{"stage", "done", "total",
"message"}``). Plain dataclasses; nothing here touches the database."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["ClipRecord", "ImportResult", "Data", "Progress"]

Progress = Callable[[dict], None]
Data = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO


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
