"""Clips and datasets: the types every loader and the label store share, and how folds are made.

:class:`Clip` (one labelled clip, its fold and source), :class:`Dataset` (clips with sorted labels),
:func:`assign_folds` (stratified by label, grouped by source, seeded) and the ESC-style file-name
parser (:func:`parse_clip_name`). This module imports nothing else of soundkit's but the errors, so
both :mod:`soundkit.datasets` (the loaders) and :mod:`soundkit.store` build on it without a circle.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from soundkit.errors import DatasetError, ParameterError

__all__ = ["Clip", "ClipName", "Dataset", "assign_folds", "parse_clip_name", "parse_esc_name", "label_from_folder",
           "ESC_NAME"]

#: ESC file names: {fold}-{freesound clip id}-{take}[-{class index}].ext (ESC-10 / ESC-50 releases)
ESC_NAME = re.compile(r"^(?P<fold>\d)-(?P<source>\d+)-(?P<take>[A-Za-z])(?:-(?P<target>\d{1,3}))?$")
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

    def select(
        self, labels: Sequence[str] | None = None, limit_per_class: int | None = None, *, seed: int = 0
    ) -> Dataset:
        """A dataset with only the given labels, and at most ``limit_per_class`` clips of each.

        The clips kept of a label are drawn across its folds and sources, not the first N found:
        sources are dealt round-robin over the folds (in a seeded random order within each fold),
        one take per source first, further takes of the same sources only when the label has fewer
        sources than ``limit_per_class``. Deterministic for a given ``seed``; the kept clips stay in
        the dataset's order.
        """
        if labels is not None:
            unknown = sorted(set(labels) - set(self.labels))
            if unknown:
                raise ParameterError(f"unknown label(s) {', '.join(map(repr, unknown))}; this dataset has {', '.join(self.labels)}")
        if limit_per_class is not None and (isinstance(limit_per_class, bool) or int(limit_per_class) < 1):
            raise ParameterError(f"limit_per_class must be a positive integer, got {limit_per_class!r}")
        wanted = [c for c in self.clips if labels is None or c.label in labels]
        if limit_per_class is not None:
            chosen = set()
            for label in sorted({c.label for c in wanted}):
                chosen.update(_spread_sample([c for c in wanted if c.label == label], int(limit_per_class), seed=seed, salt=label))
            wanted = [c for c in wanted if id(c) in chosen]
        return Dataset(self.root, wanted, self.layout, self.official_folds, dict(self.meta))

    def with_folds(self, n_folds: int = 5, *, seed: int = 0) -> Dataset:
        """This dataset with every clip in a fold: the official ones if present (and at least two of
        them: one fold cannot be split), else assigned, stratified and grouped by source."""
        if self.clips and all(c.fold is not None for c in self.clips) and len({c.fold for c in self.clips}) >= 2:
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


def _spread_sample(clips: Sequence[Clip], n: int, *, seed: int, salt: str) -> set[int]:
    """ids (``id()``) of ``n`` of one label's clips spread over folds and sources (see Dataset.select)."""
    import zlib

    import numpy as np

    if len(clips) <= n:
        return {id(c) for c in clips}
    rng = np.random.default_rng([seed, zlib.crc32(salt.encode("utf-8"))])
    by_source: dict[str, list[Clip]] = {}
    for c in clips:
        by_source.setdefault(c.source, []).append(c)
    by_fold: dict[int, list[str]] = {}
    for src, members in by_source.items():
        by_fold.setdefault(members[0].fold if members[0].fold is not None else 0, []).append(src)
    queues = []
    for f in sorted(by_fold):
        srcs = sorted(by_fold[f])
        rng.shuffle(srcs)
        queues.append(srcs)
    order: list[str] = []  # round-robin over folds
    while any(queues):
        for q in queues:
            if q:
                order.append(q.pop(0))
    for members in by_source.values():
        rng.shuffle(members)
    picked: list[Clip] = []
    take = 0
    while len(picked) < n:  # first take of each source, then the second, ...
        for src in order:
            if take < len(by_source[src]) and len(picked) < n:
                picked.append(by_source[src][take])
        take += 1
    return {id(c) for c in picked}


def label_from_folder(name: str) -> str:
    """'001 - Dog bark' -> 'Dog bark'; other names unchanged."""
    return _PREFIX.sub("", name).strip() or name


@dataclass(frozen=True)
class ClipName:
    """What an ESC-style file name says about a clip (see :func:`parse_clip_name`)."""

    fold: int
    source: str
    take: str
    target: int | None = None


def parse_clip_name(name: str | os.PathLike) -> ClipName | None:
    """Fold, source recording and take from an ESC-style file name, else None.

    ``{fold}-{source}-{take}[-{class}]`` with an optional folder and extension, e.g.
    ``4-133047-A-5.wav`` (ESC-50: fold 4, Freesound recording 133047, take A, class 5) or
    ``1-17367-A.ogg`` (ESC-10). Takes of one recording share the source, so a split grouped by
    source keeps them on one side. This is the one parser every entry point uses (folder and zip
    imports, uploads and recordings through :meth:`soundkit.store.Store.add`).

    Parameters
    ----------
    name : str or path
        A file name; only its last component counts (both ``/`` and ``\\`` separate folders).

    Returns
    -------
    ClipName or None
    """
    base = re.split(r"[\\/]", os.fspath(name).strip())[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    m = ESC_NAME.match(stem.strip())
    if not m or int(m["fold"]) < 1:
        return None
    return ClipName(int(m["fold"]), m["source"], m["take"], int(m["target"]) if m["target"] else None)


def parse_esc_name(stem: str) -> tuple[int, str] | None:
    """(fold, source) from an ESC-style file stem, else None (:func:`parse_clip_name`)."""
    parsed = parse_clip_name(stem)
    return (parsed.fold, parsed.source) if parsed else None


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
