"""Where pretrained weights live, how they are downloaded once, and how they are verified.

A weights file is looked for, in order, at an explicit path, in ``$SOUNDKIT_WEIGHTS_DIR`` and in the
user cache (``$SOUNDKIT_WEIGHTS_CACHE``, else ``$XDG_CACHE_HOME/soundkit/weights``, else
``~/.cache/soundkit/weights``); only then is it downloaded from its official source into the cache.
Downloads accept ``http(s)://`` and ``file://`` URLs and plain paths (tests never touch the network);
a ``.tar.gz`` answer is unpacked to the member the spec names.

Verification: size within the spec's bounds, a pinned checksum where the spec has one, a sha256
recorded on first use (``checksums.json`` in the cache; a later change of the file is reported as
corruption), and a caller-supplied test (YAMNet: load it and run one inference) before a download is
moved into the cache. Nothing here runs at import time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from soundkit.errors import ModelError
from soundkit.fileio import write_atomic

__all__ = [
    "WeightsSpec",
    "YAMNET_TFLITE",
    "YAMNET_CLASS_MAP",
    "INCEPTION_V3_NOTOP",
    "weights_dir",
    "cache_dir",
    "find",
    "fetch",
    "download",
    "verify",
    "sha256_file",
]

log = logging.getLogger(__name__)

Validator = Callable[[Path], None]
ByteProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class WeightsSpec:
    """A pretrained file soundkit knows how to find, download and check.

    Attributes
    ----------
    name : str
        What to call it in messages.
    filename : str
        Its name in ``$SOUNDKIT_WEIGHTS_DIR`` and in the cache.
    urls : tuple of str
        Official sources, tried in order.
    member : str or None
        The file to take out of a ``.tar.gz`` download (any ``*<suffix>`` member when absent).
    min_bytes, max_bytes : int
        Plausible size range; anything outside is rejected as truncated or wrong.
    sha256, md5 : str or None
        Pinned checksums, where the publisher gives one.
    """

    name: str
    filename: str
    urls: tuple[str, ...] = ()
    member: str | None = None
    min_bytes: int = 1
    max_bytes: int = 2**31
    sha256: str | None = None
    md5: str | None = None


YAMNET_TFLITE = WeightsSpec(
    name="YAMNet TFLite model",
    filename="yamnet.tflite",
    urls=(
        "https://www.kaggle.com/api/v1/models/google/yamnet/tfLite/tflite/1/download",
        "https://tfhub.dev/google/lite-model/yamnet/tflite/1?lite-format=tflite",
    ),
    member="1.tflite",
    min_bytes=1_000_000,
    max_bytes=64_000_000,
)

YAMNET_CLASS_MAP = WeightsSpec(
    name="YAMNet class map",
    filename="yamnet_class_map.csv",
    urls=(
        "https://raw.githubusercontent.com/tensorflow/models/master/research/audioset/yamnet/yamnet_class_map.csv",
    ),
    min_bytes=5_000,
    max_bytes=1_000_000,
)

#: Keras' own file name and MD5 for the ImageNet Inception V3 weights without the top.
INCEPTION_V3_NOTOP = WeightsSpec(
    name="Inception V3 ImageNet weights (no top)",
    filename="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    urls=(
        "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    min_bytes=50_000_000,
    max_bytes=200_000_000,
    md5="bcbd6486424b2319ff4ef7d526e38f63",
)

_CHECKSUMS = "checksums.json"


def weights_dir() -> Path | None:
    """``$SOUNDKIT_WEIGHTS_DIR`` (a folder of user-provided weights files), or None when unset."""
    value = os.environ.get("SOUNDKIT_WEIGHTS_DIR")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The per-user download cache for weights (not created here)."""
    value = os.environ.get("SOUNDKIT_WEIGHTS_CACHE")
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "soundkit" / "weights"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def candidates(spec: WeightsSpec, *, path: str | os.PathLike | None = None) -> list[Path]:
    """Where ``spec`` is looked for, in order (explicit path, $SOUNDKIT_WEIGHTS_DIR, cache)."""
    out = []
    if path is not None:
        out.append(Path(path).expanduser())
    wdir = weights_dir()
    if wdir is not None:
        out.append(wdir / spec.filename)
    out.append(cache_dir() / spec.filename)
    return out


def find(spec: WeightsSpec, *, path: str | os.PathLike | None = None) -> Path | None:
    """The first existing file for ``spec`` without downloading; an explicit ``path`` must exist.

    Raises
    ------
    ModelError
        ``path`` was given but is not a file.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ModelError(f"{spec.name}: {p} does not exist or is not a file")
        return p
    for p in candidates(spec):
        if p.is_file():
            return p
    return None


# -- checksum records -------------------------------------------------------------------------------

def _records_path() -> Path:
    return cache_dir() / _CHECKSUMS


def _read_records() -> dict[str, dict]:
    try:
        data = json.loads(_records_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("ignoring unreadable %s", _records_path())
        return {}


def _record(path: Path, sha: str, size: int, source: str) -> None:
    records = _read_records()
    records[str(path.resolve())] = {"sha256": sha, "size": size, "source": source, "recorded": time.time()}
    try:
        write_atomic(_records_path(), json.dumps(records, indent=2, sort_keys=True) + "\n")
    except OSError as exc:  # a read-only cache must not stop inference
        log.warning("cannot record the checksum of %s in %s (%s)", path, _records_path(), exc)


def forget(path: str | os.PathLike) -> None:
    """Drop the recorded checksum of ``path`` (after replacing the file on purpose)."""
    records = _read_records()
    if records.pop(str(Path(path).resolve()), None) is not None:
        write_atomic(_records_path(), json.dumps(records, indent=2, sort_keys=True) + "\n")


def verify(
    path: str | os.PathLike,
    spec: WeightsSpec,
    *,
    validate: Validator | None = None,
    record: bool = True,
    source: str = "local",
) -> str:
    """Check a weights file and return its sha256.

    Size within ``[spec.min_bytes, spec.max_bytes]``, pinned checksums, the sha256 recorded the
    first time this path was used (recorded now when ``record`` and there is none), then
    ``validate(path)`` (a test load or inference) when given.

    Raises
    ------
    ModelError
        One line naming the file and what is wrong with it.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{spec.name}: {p} does not exist or is not a file")
    size = p.stat().st_size
    if not spec.min_bytes <= size <= spec.max_bytes:
        raise ModelError(
            f"{spec.name}: {p} is corrupt or not the expected file ({size} bytes; expected "
            f"{spec.min_bytes}..{spec.max_bytes}); delete it and fetch it again"
        )
    sha = sha256_file(p)
    if spec.sha256 and sha != spec.sha256:
        raise ModelError(f"{spec.name}: {p} has sha256 {sha[:16]}..., expected {spec.sha256[:16]}...; the file is corrupt")
    if spec.md5 and _md5_file(p) != spec.md5:
        raise ModelError(f"{spec.name}: {p} fails its MD5 check ({spec.md5}); the file is corrupt or incomplete")
    known = _read_records().get(str(p.resolve()))
    if known and known.get("sha256") != sha:
        raise ModelError(
            f"{spec.name}: {p} changed since it was first used (sha256 {sha[:16]}..., recorded "
            f"{str(known.get('sha256'))[:16]}... in {_records_path()}); it may be corrupt: delete it to fetch it "
            "again, or call soundkit.weights.forget(path) if you replaced it on purpose"
        )
    if validate is not None:
        try:
            validate(p)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the test load means an unusable file
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(f"{spec.name}: {p} is corrupt or not a usable model ({reason})") from None
    if record and not known:
        _record(p, sha, size, source)
        log.info("%s: recorded sha256 %s for %s", spec.name, sha, p)
    return sha


# -- download -------------------------------------------------------------------------------------

def _open_url(url: str, timeout: float):
    """A readable binary stream and its length (or -1) for an http(s)/file URL or a plain path."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        local = Path(urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" else url).expanduser()
        if not local.is_file():
            raise ModelError(f"{local} does not exist or is not a file")
        return open(local, "rb"), local.stat().st_size
    if parsed.scheme not in ("http", "https"):
        raise ModelError(f"cannot download {url!r}: only http(s)://, file:// URLs and paths are supported")
    request = urllib.request.Request(url, headers={"User-Agent": "soundkit"})
    response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked above
    return response, int(response.headers.get("Content-Length") or -1)


def _extract(tmp: Path, spec: WeightsSpec) -> None:
    """Replace a downloaded .tar.gz in place by the member ``spec`` names."""
    with open(tmp, "rb") as fh:
        magic = fh.read(2)
    if magic != b"\x1f\x8b":
        return
    suffix = Path(spec.filename).suffix
    try:
        with tarfile.open(tmp, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            pick = [m for m in members if spec.member and Path(m.name).name == spec.member]
            pick = pick or [m for m in members if m.name.endswith(suffix)]
            if not pick:
                names = ", ".join(m.name for m in members[:5]) or "nothing"
                raise ModelError(f"{spec.name}: the downloaded archive holds {names}, no {spec.member or '*' + suffix}")
            data = tar.extractfile(pick[0]).read()  # type: ignore[union-attr]
    except tarfile.TarError as exc:
        raise ModelError(f"{spec.name}: the downloaded archive cannot be read ({exc})") from None
    tmp.write_bytes(data)


def download(
    url: str,
    spec: WeightsSpec,
    *,
    dest: str | os.PathLike | None = None,
    validate: Validator | None = None,
    timeout: float = 60.0,
    progress: ByteProgress | None = None,
) -> Path:
    """Download ``url`` (http(s), file:// or a path) to ``dest`` (default: the cache), verified.

    The file is written next to its destination under a temporary name, unpacked if it is a
    ``.tar.gz``, verified (:func:`verify`, including ``validate``) and only then renamed into place,
    so an interrupted or bad download never leaves a file that looks valid.

    Raises
    ------
    ModelError
        The source cannot be reached or read, or what it gave fails verification.
    """
    dest = Path(dest) if dest is not None else cache_dir() / spec.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".download-", suffix=dest.suffix)
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                stream, total = _open_url(url, timeout)
                with stream:
                    done = 0
                    while True:
                        block = stream.read(1 << 20)
                        if not block:
                            break
                        out.write(block)
                        done += len(block)
                        if done > spec.max_bytes * 4:
                            raise ModelError(f"{spec.name}: {url} sent over {spec.max_bytes * 4} bytes; refusing it")
                        if progress:
                            progress(done, total)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - network and file errors become one clear line
            raise ModelError(f"{spec.name}: cannot download {url} ({str(exc).splitlines()[0] or type(exc).__name__})") from None
        _extract(tmp, spec)
        # verify the temporary file, then record the checksum under the final name
        sha = verify(tmp, spec, validate=validate, record=False)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    forget(dest)
    _record(dest, sha, dest.stat().st_size, url)
    log.info("%s: downloaded %s to %s (sha256 %s)", spec.name, url, dest, sha)
    return dest


def fetch(
    spec: WeightsSpec,
    *,
    path: str | os.PathLike | None = None,
    urls: Sequence[str] | None = None,
    allow_download: bool = True,
    validate: Validator | None = None,
    progress: ByteProgress | None = None,
) -> Path:
    """A verified local file for ``spec``: found (:func:`find`) or downloaded once into the cache.

    Parameters
    ----------
    spec : WeightsSpec
    path : path, optional
        An explicit file; it must exist (no fallback, no download).
    urls : sequence of str, optional
        Sources to try instead of ``spec.urls`` (``file://`` URLs or paths in tests).
    allow_download : bool
        False: only look locally.
    validate : callable(path), optional
        A test load or inference run on a file before it is trusted.

    Raises
    ------
    ModelError
        Not found and not downloadable (the message says where to put the file), or corrupt.
    """
    found = find(spec, path=path)
    if found is not None:
        verify(found, spec, validate=validate)
        return found
    sources = list(urls if urls is not None else spec.urls)
    wdir = weights_dir()
    where = f"$SOUNDKIT_WEIGHTS_DIR ({wdir})" if wdir else "$SOUNDKIT_WEIGHTS_DIR"
    if not allow_download or not sources:
        raise ModelError(
            f"{spec.name} not found: put {spec.filename} in {where} or {cache_dir()}"
        )
    errors = []
    for url in sources:
        try:
            return download(url, spec, validate=validate, progress=progress)
        except ModelError as exc:
            errors.append(str(exc))
            log.warning("%s", exc)
    raise ModelError(
        f"{spec.name} is not available: {errors[-1]}; download {spec.filename} from {sources[0]} "
        f"on a machine with internet access and put it in {where} or {cache_dir()}"
    )


def copy_into_cache(src: str | os.PathLike, spec: WeightsSpec, *, validate: Validator | None = None) -> Path:
    """Install a local file into the cache (verified), e.g. one downloaded by hand."""
    return download(os.fspath(src), spec, validate=validate)
