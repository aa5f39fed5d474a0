"""Datasets: the layouts soundkit reads, folds and splits.

Layouts, detected from a directory by :func:`load`:

- ``esc50``: ``audio/*.wav`` + ``meta/esc50.csv`` (the official ESC-50 release);
- ``store``: a soundkit label store (``soundkit.sqlite``), see :mod:`soundkit.store`;
- ``folders``: one folder per class (the recipe's ``parent_dir/sub_dirs/*.wav``); a numeric prefix
  such as ``001 - `` is dropped from the label, so the official ESC-10 reads as "Dog bark", ...

Folds: official where the data has them (the ESC-50 metadata; ESC-style file names
``{fold}-{source}-{take}``); otherwise stratified by label and grouped by source, seeded.
Labels are always sorted; never taken from the file system's order.

Downloads (:func:`download`): the official ESC-10 and ESC-50 archives (or a local copy: a path or a
``file://`` URL), streamed with progress, size-checked, their SHA-256 recorded on first use in
``<dest>/<name>.download.json`` and verified on later downloads, unpacked atomically (into a
temporary folder, then renamed).
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from soundkit.audio import AUDIO_EXTENSIONS
from soundkit.clips import (  # re-exported: the types of every dataset
    ESC_NAME,
    Clip,
    ClipName,
    Dataset,
    assign_folds,
    label_from_folder,
    parse_clip_name,
    parse_esc_name,
)
from soundkit.errors import DatasetError, ParameterError
from soundkit.fileio import write_atomic

__all__ = [
    "Clip", "ClipName", "Dataset", "load", "detect_layout", "assign_folds", "parse_clip_name", "ESC_NAME",
    "DOWNLOADS", "download",
]  # fmt: skip

log = logging.getLogger(__name__)



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


# -- downloads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadSpec:
    """An official dataset archive: where it lives, how big it is, the folder it unpacks to."""

    name: str
    title: str
    url: str
    min_bytes: int
    max_bytes: int
    layout: str
    licence: str


DOWNLOADS: dict[str, DownloadSpec] = {
    "esc10": DownloadSpec(
        "esc10", "ESC-10", "https://github.com/karoldvl/ESC-10/archive/master.zip",
        min_bytes=20 * 2**20, max_bytes=200 * 2**20, layout="folders", licence="CC BY 3.0",
    ),
    "esc50": DownloadSpec(
        "esc50", "ESC-50", "https://github.com/karoldvl/ESC-50/archive/master.zip",
        min_bytes=300 * 2**20, max_bytes=2 * 2**30, layout="esc50", licence="CC BY-NC 3.0",
    ),
}  # fmt: skip

_CHUNK = 1 << 20
#: Largest archive accepted from a URL or path other than the official one.
MAX_DOWNLOAD_BYTES = 4 * 2**30


def download(
    name: str,
    *,
    dest: str | os.PathLike | None = None,
    url: str | os.PathLike | None = None,
    progress: Callable[[dict], None] | None = None,
    force: bool = False,
) -> Path:
    """Download and unpack ESC-10 or ESC-50; returns the dataset folder (``dest/ESC-10``, ...).

    Parameters
    ----------
    name : {"esc10", "esc50"}
    dest : path, optional
        Folder that receives the dataset; default ``<config.home()>/datasets``.
    url : str or path, optional
        Where to fetch the zip: http(s) URL, ``file://`` URL or local path. Default: the official
        archive on GitHub (whose size must be plausible).
    progress : callable(dict), optional
        Gets ``{"stage": "download"|"unpack", "done", "total", "message"}``; sizes in bytes.
    force : bool
        Download again even when the folder is there already.

    Raises
    ------
    DatasetError
        Network failure (one line, no traceback), a wrong size, a checksum differing from the
        one recorded on first use, a damaged or unsafe archive, or an archive holding no dataset.
        Nothing half-written is left behind.
    """
    spec = DOWNLOADS.get(str(name).lower().replace("-", ""))
    if spec is None:
        raise ParameterError(f"unknown dataset {name!r}; choose one of {', '.join(DOWNLOADS)}")
    if dest is None:
        from soundkit.config import home

        dest = home() / "datasets"
    dest = Path(dest).expanduser()
    target = dest / spec.title
    if target.is_dir() and not force:
        try:
            detect_layout(target)
        except DatasetError:
            log.warning("%s exists but holds no dataset; downloading again", target)
        else:
            log.info("%s is there already", target)
            return target
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{dest}: cannot create the folder ({exc.strerror})") from None
    official = url is None
    source = spec.url if url is None else os.fspath(url)
    record_path = dest / f"{spec.title}.download.json"
    fd, tmp_zip = tempfile.mkstemp(dir=dest, prefix=f".tmp-{spec.name}-", suffix=".zip")
    os.close(fd)
    tmp_zip = Path(tmp_zip)
    try:
        size, sha256 = _fetch(source, tmp_zip, spec=spec if official else None, progress=progress)
        _check_checksum(record_path, source, size, sha256, spec)
        root = _unpack(tmp_zip, dest, spec, progress=progress)
    finally:
        tmp_zip.unlink(missing_ok=True)
    _install(root, target)
    if not record_path.exists():
        import json
        import time

        record = {"name": spec.title, "url": source, "bytes": size, "sha256": sha256, "licence": spec.licence,
                  "downloaded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
        write_atomic(record_path, json.dumps(record, indent=2) + "\n")
    log.info("%s ready in %s (%d bytes, sha256 %s)", spec.title, target, size, sha256[:12])
    return target


def _open_source(source: str) -> tuple[Any, int | None]:
    """(binary stream, size or None) for a URL or a local path."""
    import urllib.error
    import urllib.parse
    import urllib.request

    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        try:
            resp = urllib.request.urlopen(  # noqa: S310 - http(s) only, checked above
                urllib.request.Request(source, headers={"User-Agent": "soundkit"}), timeout=60
            )
        except urllib.error.HTTPError as exc:
            raise DatasetError(f"cannot download {source}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DatasetError(
                f"cannot download {source}: {reason} (offline? fetch the zip elsewhere, then upload it on the Label page or pass it with --url PATH)"
            ) from None
        length = resp.headers.get("Content-Length")
        return resp, int(length) if length and length.isdigit() else None
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise DatasetError(f"cannot download {source}: only http(s) and file URLs or local paths are supported")
    else:
        path = Path(source).expanduser()
    if not path.is_file():
        raise DatasetError(f"{path}: no such file" if not path.exists() else f"{path}: is not a file")
    return path.open("rb"), path.stat().st_size


def _fetch(source: str, out: Path, *, spec: DownloadSpec | None, progress) -> tuple[int, str]:
    """Stream ``source`` into ``out``; (bytes, sha256). ``spec``: check the official size range."""
    import hashlib
    import shutil

    stream, total = _open_source(source)
    limit = spec.max_bytes if spec else MAX_DOWNLOAD_BYTES
    if total is not None:
        if total > limit:
            raise DatasetError(f"{source}: is {total / 2**20:.0f} MB, more than the expected {limit / 2**20:.0f} MB")
        free = shutil.disk_usage(out.parent).free
        if free < 2.2 * total:
            raise DatasetError(f"{out.parent}: not enough free disk space ({free / 2**20:.0f} MB) for {total / 2**20:.0f} MB")
    h = hashlib.sha256()
    done = 0
    try:
        with stream, out.open("wb") as fh:
            while True:
                try:
                    chunk = stream.read(_CHUNK)
                except OSError as exc:
                    raise DatasetError(f"cannot download {source}: connection lost after {done} bytes ({exc})") from None
                if not chunk:
                    break
                done += len(chunk)
                if done > limit:
                    raise DatasetError(f"{source}: is larger than the expected {limit / 2**20:.0f} MB")
                h.update(chunk)
                fh.write(chunk)
                if progress:
                    progress({"stage": "download", "done": done, "total": total or 0, "message": source})
    except OSError as exc:
        raise DatasetError(f"{out}: cannot write the download ({exc.strerror or exc})") from None
    if total is not None and done != total:
        raise DatasetError(f"cannot download {source}: got {done} of {total} bytes")
    if spec is not None and done < spec.min_bytes:
        raise DatasetError(
            f"{source}: is only {done / 2**20:.1f} MB, far less than the {spec.min_bytes / 2**20:.0f} MB expected"
        )
    return done, h.hexdigest()


def _check_checksum(record_path: Path, source: str, size: int, sha256: str, spec: DownloadSpec) -> None:
    """Trust on first use: a recorded SHA-256 for the same URL must match."""
    import json

    if not record_path.is_file():
        return
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("ignoring unreadable %s", record_path)
        return
    if record.get("url") == source and record.get("sha256") not in (None, sha256):
        raise DatasetError(
            f"{source}: checksum {sha256[:12]}... differs from the {record['sha256'][:12]}... recorded on first "
            f"download in {record_path}; delete that file if the archive changed on purpose"
        )


def _unpack(archive: Path, dest: Path, spec: DownloadSpec, *, progress) -> Path:
    """Extract into a temporary folder under ``dest`` (zip-slip safe); returns the dataset root in it."""
    import shutil
    import zipfile

    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=f".tmp-{spec.name}-unpack-"))
    try:
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DatasetError(f"{archive.name}: the download is not a valid zip ({exc})") from None
        with zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > 3 * MAX_DOWNLOAD_BYTES:
                raise DatasetError(f"{archive.name}: unpacks to {total / 2**30:.1f} GB; refusing")
            base = tmp.resolve()
            done = 0
            for info in infos:
                name = info.filename.replace("\\", "/")
                target = (tmp / name).resolve()
                if name.startswith("/") or not target.is_relative_to(base) or (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DatasetError(f"{archive.name}: unsafe entry {info.filename!r} (outside the archive or a link)")
                try:
                    zf.extract(info, tmp)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise DatasetError(f"{archive.name}: damaged entry {info.filename!r} ({exc})") from None
                done += info.file_size
                if progress:
                    progress({"stage": "unpack", "done": done, "total": total, "message": info.filename})
        root = _find_dataset_root(tmp, spec)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _find_dataset_root(tmp: Path, spec: DownloadSpec) -> Path:
    """The folder inside the unpacked archive that holds the dataset (GitHub wraps it in NAME-master/)."""
    root = tmp
    while True:  # GitHub archives wrap everything in one NAME-master/ folder
        entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        if len(entries) != 1 or not entries[0].is_dir():
            break
        root = entries[0]
    try:
        layout = detect_layout(root)
    except DatasetError:
        layout = None
    if layout != spec.layout:
        raise DatasetError(f"the archive holds no {spec.title} dataset (expected the {spec.layout!r} layout)")
    return root


def _install(root: Path, target: Path) -> None:
    """Move the unpacked dataset into place (rename within one file system); remove the temp folder."""
    import shutil

    tmp_top = next(p for p in [root, *root.parents] if p.parent == target.parent)
    old = None
    try:
        if target.exists():
            old = target.with_name(f".old-{target.name}-{os.getpid()}")
            os.replace(target, old)
        os.replace(root, target)
    except OSError as exc:
        if old is not None and not target.exists():
            os.replace(old, target)
        raise DatasetError(f"{target}: cannot move the unpacked dataset into place ({exc.strerror})") from None
    finally:
        if tmp_top != target and tmp_top.exists():
            shutil.rmtree(tmp_top, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


