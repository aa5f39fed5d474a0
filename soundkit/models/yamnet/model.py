"""The LiteRT YAMNet model: finding and verifying the file (:func:`model_path`), the
:class:`Embedder` that exposes the 1024-d embedding tensor, and the AudioSet class names."""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from soundkit import weights
from soundkit.errors import ModelError
from soundkit.models.yamnet.frames import EMBEDDING_SIZE, FRAME_SAMPLES, N_CLASSES, _to_16k, frame

log = logging.getLogger(__name__)


_EMBEDDING_TENSOR = "global_average_pooling2d/Mean"


#: Bump when framing or pooling changes, so old cached embeddings are not reused.
_FRONTEND_VERSION = 1


def _expose_tensor(content: bytes, suffix: str) -> bytes | None:
    """The model with the tensor whose name ends in ``suffix`` added to its outputs, or None."""
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema

        model = schema.ModelT.InitFromPackedBuf(content, 0)
        graph = model.subgraphs[0]
        names = [(t.name or b"").decode("utf-8", "replace") for t in graph.tensors]
        hits = [i for i, name in enumerate(names) if name.endswith(suffix)]
        if not hits:
            return None
        graph.outputs = [int(i) for i in graph.outputs] + [hits[0]]
        builder = flatbuffers.Builder(len(content) + 4096)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
    except Exception as exc:  # noqa: BLE001 - any failure: use the slower fallback
        log.debug("could not patch the YAMNet model (%s)", exc)
        return None


class Embedder:
    """One LiteRT interpreter for a YAMNet TFLite file; thread-safe.

    Parameters
    ----------
    path : path
        The ``.tflite`` file.
    num_threads : int, optional
        LiteRT CPU threads (default: LiteRT's own).

    Attributes
    ----------
    path : Path
    sha256 : str
        Checksum of the file (part of the embedding cache key).
    embedding_source : str
        "output" (the model outputs embeddings), "patched" (the pooled tensor exposed as an output)
        or "preserved" (read through ``experimental_preserve_all_tensors``).

    Raises
    ------
    ModelError
        The file is not a YAMNet-like model (input of 15600 float32 samples, a 521-score output, a
        1024-d embedding) or fails a test inference on silence.
    """

    def __init__(self, path: str | os.PathLike, *, num_threads: int | None = None) -> None:
        self.path = Path(path)
        try:
            content = self.path.read_bytes()
        except OSError as exc:
            raise ModelError(f"YAMNet model {self.path}: cannot be read ({exc.strerror})") from None
        self.sha256 = hashlib.sha256(content).hexdigest()
        self._lock = threading.Lock()
        try:
            self._setup(content, num_threads)
            scores, emb = self._run(np.zeros((1, FRAME_SAMPLES), dtype=np.float32))
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - LiteRT errors on a corrupt or foreign file
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(f"YAMNet model {self.path}: is corrupt or not a TFLite model ({reason})") from None
        if not (np.all(np.isfinite(scores)) and np.all(np.isfinite(emb))):
            raise ModelError(f"YAMNet model {self.path}: a test inference gave non-finite values")
        #: Embedding of digital silence, shape (1024,): frames close to it hold no sound.
        self.silence = emb[0].copy()
        self.silence.setflags(write=False)

    def _interpreter(self, content: bytes, num_threads: int | None, preserve: bool = False) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        kwargs: dict[str, Any] = {"model_content": content, "num_threads": num_threads}
        if preserve:
            import warnings

            kwargs["experimental_preserve_all_tensors"] = True
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return Interpreter(**kwargs)
        return Interpreter(**kwargs)

    def _setup(self, content: bytes, num_threads: int | None) -> None:
        interp = self._interpreter(content, num_threads)
        self.embedding_source = "output"
        if not any(int(o["shape"][-1]) == EMBEDDING_SIZE for o in interp.get_output_details()):
            patched = _expose_tensor(content, _EMBEDDING_TENSOR)
            if patched is not None:
                content, self.embedding_source = patched, "patched"
                interp = self._interpreter(content, num_threads)
            else:
                self.embedding_source = "preserved"
                interp = self._interpreter(content, num_threads, preserve=True)
        inputs = interp.get_input_details()
        if len(inputs) != 1 or inputs[0]["dtype"] is not np.float32:
            raise ModelError(f"YAMNet model {self.path}: expected one float32 waveform input, got {len(inputs)} input(s)")
        inp = inputs[0]
        shape = [int(d) for d in inp["shape"]]
        if -1 in [int(d) for d in inp.get("shape_signature", inp["shape"])] or int(np.prod(shape)) != FRAME_SAMPLES:
            shape = [1, FRAME_SAMPLES] if len(shape) == 2 else [FRAME_SAMPLES]
            try:
                interp.resize_tensor_input(inp["index"], shape)
            except Exception:  # noqa: BLE001
                raise ModelError(f"YAMNet model {self.path}: input shape {inp['shape'].tolist()} is not 15600 samples") from None
        interp.allocate_tensors()
        outputs = interp.get_output_details()
        scores = [o for o in outputs if int(o["shape"][-1]) == N_CLASSES]
        if not scores:
            raise ModelError(f"YAMNet model {self.path}: has no output of {N_CLASSES} class scores")
        if self.embedding_source == "preserved":
            found = [t for t in interp.get_tensor_details() if t["name"].endswith(_EMBEDDING_TENSOR)]
            emb_index = found[0]["index"] if found else None
        else:
            emb = [o for o in outputs if int(o["shape"][-1]) == EMBEDDING_SIZE]
            emb_index = emb[0]["index"] if emb else None
        if emb_index is None:
            raise ModelError(f"YAMNet model {self.path}: has no 1024-d embedding output nor a tensor named ...{_EMBEDDING_TENSOR}")
        self._interp = interp
        self._content = content  # the interpreter reads the model from this buffer
        self._in_index, self._in_shape = inp["index"], tuple(shape)
        self._score_index, self._emb_index = scores[0]["index"], emb_index

    def _run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = frames.shape[0]
        scores = np.empty((n, N_CLASSES), dtype=np.float32)
        emb = np.empty((n, EMBEDDING_SIZE), dtype=np.float32)
        interp = self._interp
        with self._lock:
            for i in range(n):
                interp.set_tensor(self._in_index, frames[i].reshape(self._in_shape))
                interp.invoke()
                scores[i] = interp.get_tensor(self._score_index).reshape(-1)[:N_CLASSES]
                emb[i] = interp.get_tensor(self._emb_index).reshape(-1)[:EMBEDDING_SIZE]
        return scores, emb

    def run(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scores and embeddings of every frame of a clip.

        Parameters
        ----------
        y : np.ndarray, shape (n,)
            Mono audio at any rate (resampled to 16 kHz here).
        sr : int

        Returns
        -------
        scores : np.ndarray, float32, shape (n_frames, 521)
            Independent (sigmoid) AudioSet class scores.
        embeddings : np.ndarray, float32, shape (n_frames, 1024)
        starts : np.ndarray, float64, shape (n_frames,)
            Frame starts in seconds.
        """
        frames, starts = frame(_to_16k(y, sr))
        scores, emb = self._run(frames)
        return scores, emb, starts

    @property
    def key(self) -> str:
        """Cache key of this model's embeddings."""
        return f"yamnet-{self.sha256[:12]}-v{_FRONTEND_VERSION}"


def _validate(path: Path) -> None:
    Embedder(path)


#: (where was asked, env) -> (verified path, (size, mtime_ns)): verification runs once per file version
_VERIFIED: dict[tuple, tuple[Path, tuple[int, int]]] = {}


def model_path(path: str | os.PathLike | None = None, *, allow_download: bool = True) -> Path:
    """A verified YAMNet ``.tflite``: ``path``, $SOUNDKIT_WEIGHTS_DIR, the cache, or a download once.

    The search and verification (checksum, test inference) run once per process for an unchanged
    file, so serving does not repeat them on every prediction.

    Raises
    ------
    ModelError
        Missing (the message says where to put it) or corrupt.
    """
    key = (os.fspath(path) if path is not None else None,
           *(os.environ.get(v) for v in ("SOUNDKIT_WEIGHTS_DIR", "SOUNDKIT_WEIGHTS_CACHE", "XDG_CACHE_HOME")))
    hit = _VERIFIED.get(key)
    if hit is not None:
        found, stamp = hit
        try:
            st = found.stat()
            if (st.st_size, st.st_mtime_ns) == stamp:
                return found
        except OSError:
            pass
    found = weights.fetch(weights.YAMNET_TFLITE, path=path, allow_download=allow_download, validate=_validate)
    st = found.stat()
    _VERIFIED[key] = (found, (st.st_size, st.st_mtime_ns))
    return found


@functools.lru_cache(maxsize=4)
def _embedder_for(resolved: str, mtime_ns: int) -> Embedder:
    return Embedder(resolved)


def load_embedder(path: str | os.PathLike | None = None) -> Embedder:
    """The process-wide :class:`Embedder` for ``path`` (default: :func:`model_path`)."""
    p = model_path(path).resolve()
    return _embedder_for(str(p), p.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_class_map(resolved: str) -> tuple[str, ...]:
    try:
        with open(resolved, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        names = tuple(row["display_name"] for row in sorted(rows, key=lambda r: int(r["index"])))
    except (OSError, KeyError, ValueError, csv.Error) as exc:
        raise ModelError(f"YAMNet class map {resolved}: cannot be read ({exc})") from None
    if len(names) != N_CLASSES:
        raise ModelError(f"YAMNet class map {resolved}: has {len(names)} classes, expected {N_CLASSES}")
    return names


def class_names(path: str | os.PathLike | None = None, *, model: str | os.PathLike | None = None) -> list[str]:
    """The 521 AudioSet display names in YAMNet's output order.

    Looked for at ``path``, next to the ``model`` file, in $SOUNDKIT_WEIGHTS_DIR and the cache, then
    downloaded once from the tensorflow/models repository.
    """
    spec = weights.YAMNET_CLASS_MAP
    if path is None and model is not None and (Path(model).parent / spec.filename).is_file():
        path = Path(model).parent / spec.filename
    p = weights.fetch(spec, path=path, validate=lambda f: _read_class_map(str(f)))
    return list(_read_class_map(str(p.resolve())))
