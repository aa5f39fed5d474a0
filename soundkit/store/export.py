"""The labelled clips leaving the store: as a zip export, or as a :class:`soundkit.clips.Dataset`
to train on.

``export_zip`` writes one folder per class (``_unlabelled/`` if asked), ``metadata.csv`` (file,
label, source, fold, hash, origin, name, seconds) and the regions as ``regions.tsv`` (DCASE layout),
atomically (a temporary file renamed); :meth:`~soundkit.store.imports.ImportsMixin.import_zip` reads
it back. ``dataset`` gives the labelled clips and regions (layout "store"), with the stored folds when
there are two or more and every clip has one, else folds assigned by
:func:`soundkit.clips.assign_folds` (stratified, grouped by source).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from soundkit.errors import DatasetError, StoreError
from soundkit.regions import ANNOTATIONS_NAME, is_suggestion, write_annotations
from soundkit.store.records import Progress

__all__ = ["ExportMixin"]


class ExportMixin:
    """``export_zip`` and ``dataset`` of :class:`soundkit.store.Store` (uses its ``clips``,
    ``audio_path``, ``regions`` and ``region_clips``)."""

    def export_zip(
        self, dest: str | os.PathLike, *, include_unlabelled: bool = False, progress: Progress | None = None
    ) -> Path:
        """Write a zip with one folder per class (``_unlabelled/`` if asked) and ``metadata.csv``
        (file, label, source, fold, hash, origin, name, seconds), plus ``regions.tsv`` when the store
        has regions (a recording with regions is exported even unlabelled). Atomic: a temporary file
        renamed."""
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
