"""Log-mel features, fixed-size windows and a content-addressed feature cache.

The log-mel is computed with NumPy alone (a mel filterbank identical to librosa's default Slaney
filters, checked in the tests), so featurizing and serving never pay for importing librosa/numba.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from soundkit.config import FeatureConfig
from soundkit.errors import ParameterError
from soundkit.fileio import atomic_path

__all__ = [
    "mel_filterbank",
    "log_mel",
    "clip_log_mel",
    "windows",
    "random_window",
    "FeatureCache",
    "featurize_files",
    "content_hash",
    "file_hash",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


# -- mel filterbank (Slaney scale and normalisation, as librosa.filters.mel's defaults) ------------

def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


@functools.lru_cache(maxsize=16)
def mel_filterbank(*, sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Mel filterbank, shape (n_mels, 1 + n_fft // 2), float32; equal to librosa.filters.mel."""
    fmax = sr / 2 if fmax is None else fmax
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, np.newaxis] - fftfreqs[np.newaxis, :]
    lower = -ramps[:-2] / fdiff[:-1, np.newaxis]
    upper = ramps[2:] / fdiff[1:, np.newaxis]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    # periodic Hann, as scipy.signal.get_window("hann", n, fftbins=True)
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def log_mel(
    y: np.ndarray,
    *,
    sr: int = 44100,
    n_fft: int = 1024,
    hop_length: int = 1024,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Log-scaled mel power spectrogram in dB relative to the clip's maximum.

    Centred frames (reflect padding of n_fft // 2), periodic Hann window, power spectrum, Slaney
    mel filters, ``10 * log10(S / max(S))`` floored at ``-top_db``.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono audio.

    Returns
    -------
    np.ndarray, float32, shape (n_mels, 1 + n // hop_length)
        Values within [-top_db, 0].
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"log_mel expects mono audio of shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise ParameterError("log_mel got an empty signal")
    if hop_length <= 0 or n_fft <= 0:
        raise ParameterError(f"n_fft and hop_length must be positive, got n_fft={n_fft}, hop_length={hop_length}")
    pad = n_fft // 2
    mode = "reflect" if y.size > pad else "constant"
    yp = np.pad(y, pad, mode=mode)
    n_frames = 1 + (yp.size - n_fft) // hop_length
    frames = np.lib.stride_tricks.as_strided(
        yp, shape=(n_frames, n_fft), strides=(yp.strides[0] * hop_length, yp.strides[0]), writeable=False
    )
    # float64 frames: NumPy's float32 rfft is several times slower than its float64 one (and less exact)
    spec = np.fft.rfft(frames * _hann(n_fft).astype(np.float64), axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    mel = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax) @ power.T
    amin = 1e-10
    ref = max(float(mel.max()), amin)
    S = 10.0 * np.log10(np.maximum(mel, amin) / ref)
    if top_db is not None:
        S = np.maximum(S, -top_db)
    return S.astype(np.float32)


def clip_log_mel(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """:func:`log_mel` with a FeatureConfig's parameters; shape (n_mels, n_frames)."""
    return log_mel(
        y,
        sr=config.sr,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        top_db=config.top_db,
    )


def windows(S: np.ndarray, *, frames: int = 128, hop: int = 64, floor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut a spectrogram into overlapping fixed-size windows.

    A spectrogram shorter than ``frames`` is padded on the right with ``floor`` (default: its
    minimum). A longer one gets windows every ``hop`` frames plus one aligned to its end, so no
    frame is left out.

    Parameters
    ----------
    S : np.ndarray, shape (n_mels, n_frames)

    Returns
    -------
    W : np.ndarray, shape (n_windows, n_mels, frames)
    starts : np.ndarray of int, shape (n_windows,)
        First frame of each window.
    """
    if S.ndim != 2:
        raise ParameterError(f"windows expects shape (n_mels, n_frames), got {S.shape}")
    if frames <= 0 or hop <= 0:
        raise ParameterError(f"frames and hop must be positive, got frames={frames}, hop={hop}")
    n = S.shape[1]
    if n <= frames:
        fill = float(S.min()) if floor is None else floor
        W = np.full((1, S.shape[0], frames), fill, dtype=S.dtype)
        W[0, :, :n] = S
        return W, np.zeros(1, dtype=np.int64)
    starts = list(range(0, n - frames + 1, hop))
    if starts[-1] != n - frames:
        starts.append(n - frames)
    starts_arr = np.asarray(starts, dtype=np.int64)
    W = np.stack([S[:, s : s + frames] for s in starts_arr])
    return W, starts_arr


def random_window(S: np.ndarray, *, frames: int, rng: np.random.Generator, floor: float | None = None) -> np.ndarray:
    """One random crop of ``frames`` frames (padded when the spectrogram is shorter)."""
    n = S.shape[1]
    if n <= frames:
        return windows(S, frames=frames, hop=frames, floor=floor)[0][0]
    start = int(rng.integers(0, n - frames + 1))
    return S[:, start : start + frames]


# -- cache -----------------------------------------------------------------------------------------

def content_hash(data: bytes) -> str:
    """Hex digest naming audio content (BLAKE2b, 160 bits)."""
    return hashlib.blake2b(data, digest_size=20).hexdigest()


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_hash(path: str | os.PathLike) -> str:
    """:func:`content_hash` of a file's bytes, remembered per (path, size, mtime) in this process so
    repeated featurizing of the same files does not read and hash them again. A ranged path
    (``file#t=start,end``, :mod:`soundkit.regions`) gets the file's hash plus its range."""
    from soundkit.regions import range_digest, split_range

    path, rng = split_range(path)
    if rng is not None:
        return range_digest(file_hash(path), rng)
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    digest = _FILE_HASHES.get(key)
    if digest is None:
        digest = content_hash(Path(path).read_bytes())
        if len(_FILE_HASHES) > 200_000:
            _FILE_HASHES.clear()
        _FILE_HASHES[key] = digest
    return digest


class FeatureCache:
    """Log-mels on disk, keyed by (audio content hash, FeatureConfig.key).

    Layout: ``root/<config key>/<hash[:2]>/<hash>.npy`` holding float16 dB values. Writes are atomic;
    a corrupt entry is recomputed. :meth:`put` returns the values as stored (float16-rounded, as
    float32), so a cold and a warm run hand out identical features.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def _path(self, digest: str, config: FeatureConfig) -> Path:
        return self.root / config.key / digest[:2] / f"{digest}.npy"

    def get(self, digest: str, config: FeatureConfig) -> np.ndarray | None:
        path = self._path(digest, config)
        try:
            return np.load(path).astype(np.float32)
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a damaged entry is just a miss
            log.warning("ignoring damaged cache entry %s", path)
            return None

    def put(self, digest: str, config: FeatureConfig, S: np.ndarray) -> np.ndarray:
        """Store ``S``; returns what :meth:`get` will return for it (float16-rounded float32)."""
        path = self._path(digest, config)
        stored = np.asarray(S).astype(np.float16)
        with atomic_path(path) as tmp:
            np.save(tmp, stored)
        return stored.astype(np.float32)


def _single_blas_thread():
    """A context limiting BLAS to one thread (threadpoolctl; a no-op where it is missing).

    The mel projection is a small matrix product; multithreaded OpenBLAS spins its threads on it and,
    with two or more featurizing processes (or a busy machine), ends up several times slower than a
    single thread.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _keep_freed_memory() -> None:
    """glibc only: keep freed blocks (up to 64 MB) in the heap rather than handing them back to the OS.

    Featurizing a clip allocates and frees a few MB of arrays; by default glibc unmaps or trims them
    at once, so every clip page-faults them in again (about a thousand faults per 5 s clip, half the
    log-mel's time in a VM). Only called in the pool's own worker processes.
    """
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 64 << 20)
        libc.mallopt(m_trim_threshold, 128 << 20)
    except (OSError, AttributeError):  # not glibc
        pass


def _worker_init() -> None:
    """Pool worker start-up: Ctrl-C left to the parent, one BLAS thread for the worker's lifetime
    (threadpoolctl applies the limit when the object is made; it is never restored in the worker),
    freed memory kept."""
    from soundkit.interrupts import ignore_in_child

    ignore_in_child()  # Ctrl-C is the parent's to handle: it stops its workers
    _single_blas_thread()
    _keep_freed_memory()


def _featurize_one(path: str, config: FeatureConfig, cache_root: str | None, digest: str | None = None) -> np.ndarray:
    """Log-mel of one file (or range of one: :mod:`soundkit.regions`), from the cache when there.
    ``digest`` saves hashing the file again."""
    from soundkit.regions import load_ranged, range_digest, read_ranged_bytes

    data, rng, _ = read_ranged_bytes(path)
    cache = FeatureCache(cache_root) if cache_root else None
    if cache:
        digest = digest or range_digest(content_hash(data), rng)
        hit = cache.get(digest, config)
        if hit is not None:
            return hit
    y, sr = load_ranged(path, sr=config.sr, data=data)
    S = clip_log_mel(y, config)
    if cache:
        S = cache.put(digest, config, S)  # type: ignore[arg-type]
    return S


def featurize_files(
    paths: Sequence[str | os.PathLike],
    config: FeatureConfig,
    *,
    cache: FeatureCache | str | os.PathLike | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[np.ndarray]:
    """Log-mel of each file, in order, computed in ``workers`` processes and cached.

    Parameters
    ----------
    paths : sequence of paths
    config : FeatureConfig
    cache : FeatureCache or folder, optional
    workers : int, optional
        Processes to use; default all cores for more than 16 uncached files, else 1.
    progress : callable(done, total), optional

    Returns
    -------
    list of np.ndarray, each float32 of shape (n_mels, n_frames)
    """
    root = None
    if cache is not None:
        root = os.fspath(cache.root if isinstance(cache, FeatureCache) else cache)
    paths = [os.fspath(p) for p in paths]
    total = len(paths)
    out: list[np.ndarray | None] = [None] * total
    todo = list(range(total))
    digests: list[str | None] = [None] * total
    if root:
        c = FeatureCache(root)
        todo = []
        for i, p in enumerate(paths):
            digests[i] = file_hash(p)
            hit = c.get(digests[i], config)  # type: ignore[arg-type]
            if hit is None:
                todo.append(i)
            else:
                out[i] = hit
    done = total - len(todo)
    if progress:
        progress(done, total)
    n_workers = workers if workers is not None else ((os.cpu_count() or 1) if len(todo) > 16 else 1)
    if n_workers <= 1 or len(todo) <= 1:
        with _single_blas_thread():
            for i in todo:
                out[i] = _featurize_one(paths[i], config, root, digests[i])
                done += 1
                if progress:
                    progress(done, total)
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # never fork a process that may hold TensorFlow threads
        n_workers = min(n_workers, len(todo))
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_worker_init) as pool:
            chunks = max(1, len(todo) // (n_workers * 8))
            results = pool.map(
                _featurize_one,
                [paths[i] for i in todo],
                [config] * len(todo),
                [root] * len(todo),
                [digests[i] for i in todo],
                chunksize=chunks,
            )
            for i, S in zip(todo, results, strict=True):
                out[i] = S
                done += 1
                if progress:
                    progress(done, total)
    return out  # type: ignore[return-value]
