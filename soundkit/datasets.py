"""Datasets: the layouts soundkit reads, folds and splits.

Layouts, detected from a directory by :func:`load`:

- ``esc50``: ``audio/*.wav`` + ``meta/esc50.csv`` (the official ESC-50 release);
- ``store``: a soundkit label store (``soundkit.sqlite``), see :mod:`soundkit.store`;
- ``folders``: one folder per class (the recipe's ``parent_dir/sub_dirs/*.wav``); a numeric prefix
  such as ``001 - `` is dropped from the label, so the official ESC-10 reads as "Dog bark", ...

Folds: official where the data has them (the ESC-50 metadata; ESC-style file names
``{fold}-{source}-{take}``); otherwise stratified by label and grouped by source, seeded.
Labels are always sorted; never taken from the file system's order.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from soundkit.audio import AUDIO_EXTENSIONS
from soundkit.errors import DatasetError, ParameterError

__all__ = ["Clip", "Dataset", "load", "detect_layout", "assign_folds", "ESC_NAME"]

log = logging.getLogger(__name__)

#: ESC file names: {fold}-{freesound clip id}-{take}.ext
ESC_NAME = re.compile(r"^(?P<fold>\d)-(?P<source>\d+)-(?P<take>[A-Za-z0-9]+)$")
_PREFIX = re.compile(r"^\d+\s*-\s*")


@dataclass(frozen=True)
class Clip:
    """One labelled clip. ``source`` groups clips cut from the same recording (and their
    augmented copies); ``fold`` is None until folds are assigned."""

    path: Path
    label: str
    fold: int | None = None
    source: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        if not self.source:
            object.__setattr__(self, "source", self.path.stem)
        if not self.id:
            object.__setattr__(self, "id", str(self.path))


@dataclass
class Dataset:
    """Clips with sorted labels. ``layout`` names where they came from."""

    root: Path
    clips: list[Clip]
    layout: str
    official_folds: bool = False
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.clips:
            raise DatasetError(f"{self.root}: no labelled audio clips found")

    @property
    def labels(self) -> list[str]:
        return sorted({c.label for c in self.clips})

    @property
    def folds(self) -> list[int]:
        return sorted({c.fold for c in self.clips if c.fold is not None})

    def counts(self) -> dict[str, int]:
        c = Counter(clip.label for clip in self.clips)
        return {label: c[label] for label in self.labels}

    def select(self, labels: Sequence[str] | None = None, limit_per_class: int | None = None) -> Dataset:
        """A dataset with only the given labels, and at most ``limit_per_class`` clips of each."""
        if labels is not None:
            unknown = sorted(set(labels) - set(self.labels))
            if unknown:
                raise ParameterError(f"unknown label(s) {', '.join(map(repr, unknown))}; this dataset has {', '.join(self.labels)}")
        keep: list[Clip] = []
        seen: Counter[str] = Counter()
        for clip in self.clips:
            if labels is not None and clip.label not in labels:
                continue
            if limit_per_class is not None and seen[clip.label] >= limit_per_class:
                continue
            seen[clip.label] += 1
            keep.append(clip)
        return Dataset(self.root, keep, self.layout, self.official_folds, dict(self.meta))

    def with_folds(self, n_folds: int = 5, *, seed: int = 0) -> Dataset:
        """This dataset with every clip in a fold: the official ones if present, else assigned."""
        if self.clips and all(c.fold is not None for c in self.clips):
            return self
        return Dataset(self.root, assign_folds(self.clips, n_folds=n_folds, seed=seed), self.layout, False, dict(self.meta))

    def split(self, test_fold: int) -> tuple[list[Clip], list[Clip]]:
        """(train, test) clips with ``test_fold`` held out. Folds must be assigned."""
        if any(c.fold is None for c in self.clips):
            raise DatasetError(f"{self.root}: folds are not assigned; call with_folds() first")
        if test_fold not in self.folds:
            raise ParameterError(f"test fold {test_fold} does not exist; folds are {', '.join(map(str, self.folds))}")
        train = [c for c in self.clips if c.fold != test_fold]
        test = [c for c in self.clips if c.fold == test_fold]
        return train, test


def detect_layout(root: str | os.PathLike) -> str:
    """'esc50', 'store' or 'folders'; DatasetError when the directory is none of these."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: no such directory")
    if not root.is_dir():
        raise DatasetError(f"{root}: is not a directory")
    if (root / "meta" / "esc50.csv").is_file() and (root / "audio").is_dir():
        return "esc50"
    if (root / "soundkit.sqlite").is_file():
        return "store"
    if any(_audio_files(d) for d in _class_dirs(root)):
        return "folders"
    raise DatasetError(
        f"{root}: not a dataset (expected one folder per class with audio files, "
        "an ESC-50 release with meta/esc50.csv, or a soundkit store)"
    )


def load(root: str | os.PathLike, *, esc10: bool = False) -> Dataset:
    """Read a dataset directory in any known layout.

    Parameters
    ----------
    root : path
    esc10 : bool
        For the ESC-50 layout: keep only the ESC-10 subset (the ``esc10`` column).
    """
    root = Path(root)
    layout = detect_layout(root)
    if layout == "esc50":
        return _load_esc50(root, esc10=esc10)
    if layout == "store":
        from soundkit import store

        return store.Store(root).dataset()
    return _load_folders(root)


def _class_dirs(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def _audio_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file() and not p.name.startswith(".")
    )


def label_from_folder(name: str) -> str:
    """'001 - Dog bark' -> 'Dog bark'; other names unchanged."""
    return _PREFIX.sub("", name).strip() or name


def parse_esc_name(stem: str) -> tuple[int, str] | None:
    """(fold, source) from an ESC-style file stem, else None."""
    m = ESC_NAME.match(stem)
    return (int(m["fold"]), m["source"]) if m else None


def _load_folders(root: Path) -> Dataset:
    clips: list[Clip] = []
    labels_seen: dict[str, str] = {}
    for d in _class_dirs(root):
        files = _audio_files(d)
        if not files:
            continue
        label = label_from_folder(d.name)
        if label in labels_seen:
            raise DatasetError(f"{root}: folders {labels_seen[label]!r} and {d.name!r} both give the label {label!r}")
        labels_seen[label] = d.name
        for p in files:
            parsed = parse_esc_name(p.stem)
            fold, source = parsed if parsed else (None, p.stem)
            clips.append(Clip(path=p, label=label, fold=fold, source=f"{label}/{source}", id=str(p.relative_to(root))))
    official = bool(clips) and all(c.fold is not None for c in clips)
    if not official:
        clips = [replace(c, fold=None) for c in clips]
    return Dataset(root, clips, "folders", official_folds=official)


def _load_esc50(root: Path, *, esc10: bool) -> Dataset:
    meta = root / "meta" / "esc50.csv"
    clips: list[Clip] = []
    with meta.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"filename", "fold", "category", "src_file"}
        if not need <= set(reader.fieldnames or ()):
            raise DatasetError(f"{meta}: missing column(s) {', '.join(sorted(need - set(reader.fieldnames or ())))}")
        for row in reader:
            if esc10 and row.get("esc10", "").strip().lower() != "true":
                continue
            path = root / "audio" / row["filename"]
            if not path.is_file():
                raise DatasetError(f"{meta}: lists {row['filename']}, which is not in {root / 'audio'}")
            clips.append(
                Clip(path=path, label=row["category"], fold=int(row["fold"]), source=row["src_file"], id=row["filename"])
            )
    return Dataset(root, clips, "esc50", official_folds=True, meta={"esc10": esc10})


def assign_folds(clips: Sequence[Clip], *, n_folds: int = 5, seed: int = 0) -> list[Clip]:
    """Folds 1..n_folds, stratified by label and grouped by source (clips of one recording and
    their augmented copies share a fold), seeded. Classes with fewer sources than folds still work:
    their sources are spread over as many folds as they have."""
    if n_folds < 2:
        raise ParameterError(f"n_folds must be at least 2, got {n_folds}")
    import numpy as np

    rng = np.random.default_rng(seed)
    # Deal each label's sources round-robin over the folds, starting from the fold with fewest clips.
    by_label: dict[str, list[str]] = {}
    for c in clips:
        srcs = by_label.setdefault(c.label, [])
        if c.source not in srcs:
            srcs.append(c.source)
    fold_of_source: dict[tuple[str, str], int] = {}
    load = np.zeros(n_folds, dtype=int)
    for label in sorted(by_label):
        sources = sorted(by_label[label])
        rng.shuffle(sources)
        sizes = Counter(c.source for c in clips if c.label == label)
        for src in sorted(sources, key=lambda s: -sizes[s]):  # biggest groups first
            per_label = Counter(fold_of_source[(label, s)] for s in sources if (label, s) in fold_of_source)
            f = min(range(n_folds), key=lambda k: (per_label[k + 1], load[k], rng.random()))
            fold_of_source[(label, src)] = f + 1
            load[f] += sizes[src]
    return [replace(c, fold=fold_of_source[(c.label, c.source)]) for c in clips]
