"""Importing many clips at once: item lists, datasets, zip archives and annotated folders.

Every import reports per-item problems in its :class:`~soundkit.store.records.ImportResult`
(``errors``, ``skipped``) rather than raising, and adds each clip through
:meth:`~soundkit.store.ingest.IngestMixin.add`'s validation and de-duplication.

A zip (path, bytes or file-like) holds one folder per class, an ESC-50 release (``meta/esc50.csv`` +
``audio/``) or a store export (``metadata.csv``); files at its root are added unlabelled, non-audio
entries are listed in ``skipped``. Entries are read into memory one at a time and stored under their
content hash, so entry names never become paths (no zip-slip): a member is labelled only by its own
parent folder, and one whose path is absolute, holds ``..`` or a drive (``C:``) is added unlabelled.
Limits: ``MAX_ZIP_ENTRIES`` entries, ``MAX_ZIP_BYTES`` unpacked, ``MAX_CLIP_BYTES`` per clip, a
compression ratio below ``MAX_ZIP_RATIO``. A DCASE annotation file (``regions.tsv``, see
:mod:`soundkit.regions`) in a zip or an imported folder adds its regions.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from soundkit.errors import AudioError, ParameterError, StoreError
from soundkit.regions import ANNOTATIONS_NAME, read_annotations
from soundkit.store.labels import normalize_label
from soundkit.store.records import ClipRecord, ImportResult, Progress
from soundkit.store.validation import MAX_CLIP_BYTES, _display_name, _read_data

__all__ = ["ImportsMixin", "MAX_ZIP_ENTRIES", "MAX_ZIP_BYTES", "MAX_ZIP_RATIO"]

log = logging.getLogger(__name__)

#: Limits for zip imports: entries, total uncompressed bytes, compression ratio of one entry.
MAX_ZIP_ENTRIES = 50_000
MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_RATIO = 200


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


class ImportsMixin:
    """``add_many``, ``import_dataset``, ``import_zip`` and ``import_annotated`` of
    :class:`soundkit.store.Store` (uses its ``_add`` and, for annotations, its regions)."""

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
