"""YAMNet (Google, AudioSet, 521 classes, Apache-2.0) through LiteRT: embeddings, zero-shot, a head.

The TFLite model takes exactly one frame of 15600 samples at 16 kHz (0.975 s) per call and gives
521 AudioSet scores. Its 1024-d embedding is either an output of the model (the Kaggle/TF-Hub
``tflite/1`` file) or the intermediate tensor ``.../global_average_pooling2d/Mean``; for the latter the
model's flatbuffer is patched in memory to list that tensor as an extra output (about 40 ms once,
no per-call cost), falling back to LiteRT's ``experimental_preserve_all_tensors`` (about 20 % slower
per call) if patching fails. Serving never imports TensorFlow; only :func:`build` imports Keras.

A clip is framed the way YAMNet frames it: zero-padded to cover the whole clip with frames of 15600
samples every 7680 samples (0.48 s). Frame embeddings, shape (n_frames, 1024), are cached on disk
by (audio content, model checksum). The "embedding" model family trains a small Keras head on one
embedding per frame; a clip's prediction is the mean of its frames' probabilities.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from soundkit import weights
from soundkit.errors import ModelError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from soundkit.config import FeatureConfig, TrainConfig

__all__ = [
    "KIND",
    "SAMPLE_RATE",
    "FRAME_SAMPLES",
    "HOP_SAMPLES",
    "EMBEDDING_SIZE",
    "N_CLASSES",
    "Embedder",
    "frame",
    "model_path",
    "load_embedder",
    "class_names",
    "embed",
    "embed_files",
    "pool",
    "sounding_frames",
    "sound_weights",
    "EmbeddingCache",
    "build",
    "fit",
    "run_info",
    "training_inputs",
    "clip_inputs",
    "zero_shot",
    "YamnetPredictor",
]

log = logging.getLogger(__name__)

KIND = "embedding"
SAMPLE_RATE = 16000
FRAME_SAMPLES = 15600  # 0.975 s: one 96x64 log-mel patch
HOP_SAMPLES = 7680  # 0.48 s
EMBEDDING_SIZE = 1024
N_CLASSES = 521
#: Duration of the audio behind one embedding (the Predictor's timeline uses it).
WINDOW_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
_EMBEDDING_TENSOR = "global_average_pooling2d/Mean"
#: Bump when framing or pooling changes, so old cached embeddings are not reused.
_FRONTEND_VERSION = 1


# -- framing ----------------------------------------------------------------------------------------

def frame(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut 16 kHz audio into YAMNet frames, zero-padding the end so every sample is covered.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono audio at 16 kHz.

    Returns
    -------
    frames : np.ndarray, float32, shape (n_frames, 15600)
        A read-only strided view; ``n_frames = 1 + ceil(max(n - 15600, 0) / 7680)``.
    starts : np.ndarray, float64, shape (n_frames,)
        Start of each frame in seconds.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ParameterError(f"YAMNet expects non-empty mono audio of shape (n,), got shape {y.shape}")
    n_frames = 1 + -(-max(y.size - FRAME_SAMPLES, 0) // HOP_SAMPLES)
    total = FRAME_SAMPLES + (n_frames - 1) * HOP_SAMPLES
    padded = np.zeros(total, dtype=np.float32)
    padded[: y.size] = y
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, FRAME_SAMPLES), strides=(padded.strides[0] * HOP_SAMPLES, padded.strides[0]),
        writeable=False,
    )
    return frames, np.arange(n_frames) * (HOP_SAMPLES / SAMPLE_RATE)


def _to_16k(y: np.ndarray, sr: int) -> np.ndarray:
    from soundkit.audio import resample

    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0)
    if not np.all(np.isfinite(y)):
        raise ParameterError("audio contains NaN or infinite samples")
    return resample(y, orig_sr=int(sr), target_sr=SAMPLE_RATE)


# -- the LiteRT model ---------------------------------------------------------------------------------

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


# -- embeddings and their cache --------------------------------------------------------------------

@dataclass(frozen=True)
class _Key:
    key: str  # duck-types FeatureConfig.key for FeatureCache


class EmbeddingCache:
    """Frame embeddings on disk: ``root/<model key>/<hash[:2]>/<content hash>.npy`` (float16).

    Uses :class:`soundkit.features.FeatureCache` (atomic writes; a damaged entry is a miss).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        from soundkit.features import FeatureCache

        self.root = Path(root)
        self._cache = FeatureCache(self.root)

    def get(self, digest: str, model_key: str) -> np.ndarray | None:
        E = self._cache.get(digest, _Key(model_key))  # type: ignore[arg-type]
        if E is not None and (E.ndim != 2 or E.shape[1] != EMBEDDING_SIZE):
            return None
        return E

    def put(self, digest: str, model_key: str, E: np.ndarray) -> None:
        self._cache.put(digest, _Key(model_key), E)  # type: ignore[arg-type]


def default_cache_root() -> Path:
    """``soundkit.config.cache_dir() / "embeddings"``."""
    from soundkit.config import cache_dir

    return cache_dir() / "embeddings"


def embed(y: np.ndarray, sr: int, *, model: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame embeddings of a clip.

    Returns
    -------
    embeddings : np.ndarray, float32, shape (n_frames, 1024)
    starts : np.ndarray, float64, shape (n_frames,)
        Frame starts in seconds (every 0.48 s).
    """
    _, emb, starts = load_embedder(model).run(y, sr)
    return emb, starts


def embed_files(
    paths: Sequence[str | os.PathLike],
    *,
    cache: EmbeddingCache | str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[np.ndarray]:
    """Frame embeddings of each audio file, in order, cached by content.

    Parameters
    ----------
    paths : sequence of paths
    cache : EmbeddingCache or folder, optional
        Where embeddings are kept (e.g. :func:`default_cache_root`); None: no caching.
    model : path, optional
        The YAMNet file (default: :func:`model_path`).
    progress : callable(done, total), optional
    should_stop : callable() -> bool, optional
        Checked between files; True stops with :class:`~soundkit.errors.SoundkitError`.

    Returns
    -------
    list of np.ndarray, each float32 of shape (n_frames, 1024)
    """
    from soundkit.errors import SoundkitError
    from soundkit.features import content_hash
    from soundkit.regions import load_ranged, range_digest, read_ranged_bytes

    embedder = load_embedder(model)
    if cache is not None and not isinstance(cache, EmbeddingCache):
        cache = EmbeddingCache(cache)
    out = []
    total = len(paths)
    for i, path in enumerate(paths):
        if should_stop and should_stop():
            raise SoundkitError("stopped while computing YAMNet embeddings")
        try:
            data, rng, _ = read_ranged_bytes(path)  # a region: file#t=start,end (soundkit.regions)
        except OSError as exc:
            raise ModelError(f"{path}: cannot be read ({exc.strerror})") from None
        digest = range_digest(content_hash(data), rng)
        E = cache.get(digest, embedder.key) if cache is not None else None
        if E is None:
            y, sr = load_ranged(path, sr=SAMPLE_RATE, data=data)
            _, E, _ = embedder.run(y, sr)
            if cache is not None:
                cache.put(digest, embedder.key, E)
        out.append(E.astype(np.float32, copy=False))
        if progress:
            progress(i + 1, total)
    return out


def sounding_frames(E: np.ndarray, silence: np.ndarray, *, tolerance: float = 0.02) -> np.ndarray:
    """Which frames hold sound: those whose embedding is not within ``tolerance`` (relative) of the
    embedding of digital silence. A clip with no sounding frame keeps all of them.

    Silence is decided on the embedding itself, so cached embeddings need no audio. Noise at
    -80 dBFS already lies about 0.3 (relative) away from silence; ESC clips padded with zeros have
    about 8 % of their frames within 0.001.

    Parameters
    ----------
    E : np.ndarray, shape (n_frames, 1024)
    silence : np.ndarray, shape (1024,)
        :attr:`Embedder.silence`.

    Returns
    -------
    np.ndarray of bool, shape (n_frames,)
    """
    E = np.asarray(E, dtype=np.float32)
    distance = np.linalg.norm(E - silence, axis=1)
    keep = distance > tolerance * float(np.linalg.norm(silence))
    return keep if keep.any() else np.ones(len(E), dtype=bool)


#: Frames this many dB (RMS) below a clip's loudest frame get no weight in zero-shot scores.
SOUND_FLOOR_DB = 30.0


def sound_weights(y: np.ndarray, sr: int, *, floor_db: float = SOUND_FLOOR_DB) -> np.ndarray:
    """How much each YAMNet frame of a clip sounds: its RMS level relative to the loudest frame.

    A frame at the loudest frame's level weighs 1, one ``floor_db`` dB or more below it 0, linearly
    in dB between (so a frame 10 dB down weighs 2/3 with the default). The silence or noise floor
    after a short sound (a meow, a knock) then hardly counts when the frames' scores are pooled.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono audio at ``sr`` (resampled to 16 kHz and framed as :func:`frame` does).
    sr : int
    floor_db : float, keyword-only
        > 0.

    Returns
    -------
    np.ndarray, float64, shape (n_frames,)
        Within [0, 1]; the loudest frame weighs 1 (every frame 1 for digital silence).
    """
    if not floor_db > 0:
        raise ParameterError(f"floor_db must be > 0, got {floor_db}")
    frames, _ = frame(_to_16k(y, sr))
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    top = float(rms.max())
    if top <= 0:
        return np.ones(len(rms))
    db = 20 * np.log10(np.maximum(rms, top * 1e-10) / top)
    return np.clip(1 + db / floor_db, 0.0, 1.0)


def pool(E: np.ndarray) -> np.ndarray:
    """Clip embedding: the mean over frames, shape (1024,)."""
    return np.asarray(E, dtype=np.float32).mean(axis=0)


# -- the model family ("embedding" kind) ----------------------------------------------------------

#: The head's defaults. ``classifier`` "logistic" with ``C`` 3 (issue #16, BENCHMARKS.md "Few-shot"): on
#: ESC-10 cut to 6 clips per class (5 draws x 2 seeds) it scores 95.8 % mean (C 1: 95.3 %, at or below
#: C 3 on every draw) against the MLP's 94.0 %, and 98.5 % on the official 5 folds (MLP 98.25 %), with
#: no epochs to tune and the same model for every seed.
#: The MLP's settings (``classifier`` "mlp") were chosen by ESC-10's official 5-fold CV, seeds 0/1/2: l2 3e-3 with 256-frame
#: steps gives 98.5/98.25/98.0 % (mean 98.25 %, about 10 s a fold on 2 shared cores) against
#: 97.75 % (seed 0) for l2 1e-4 with 128-frame steps. Tried and not kept (seed 0): 5 averaged
#: heads (98.0 % at l2 1e-4, twice as slow), 5 heads + input dropout 0.2 + label smoothing 0.1
#: (97.5 %), input dropout 0.2 (97.75 %). Each is an
#: ``options`` key, so a run can change it. ``l2`` is the family's own default for ``TrainConfig.l2``:
#: it applies while ``TrainConfig.l2`` keeps the shared (CNN) default.
HEAD_DEFAULTS: dict[str, Any] = {
    "l2": 3e-3,
    "hidden": 256,
    "heads": 1,
    "input_dropout": 0.0,
    "label_smoothing": 0.0,
    "frame_batch_size": 256,
    "normalize": False,
    "classifier": "logistic",
    "C": 3.0,
}

#: Options that only the "mlp" classifier reads: giving any of them asks for the MLP.
MLP_OPTIONS = ("hidden", "heads", "input_dropout", "label_smoothing", "frame_batch_size", "normalize")

#: Classifiers (``options["classifier"]``): "mlp" (a hidden layer trained with Adam) or "logistic" (a multinomial
#: logistic regression on L2-normalised frame embeddings, fitted exactly by scikit-learn and stored as
#: a Keras UnitNormalization -> Dense(softmax) model, so export and serving do not change).
CLASSIFIERS = ("mlp", "logistic")


def _option(config: TrainConfig, key: str) -> Any:
    if key == "classifier" and key not in config.options and any(k in config.options for k in MLP_OPTIONS):
        return "mlp"  # MLP settings given: the MLP, whatever the default classifier
    return config.options.get(key, HEAD_DEFAULTS[key])


def classifier(config: TrainConfig) -> str:
    """The head a config trains: ``options["classifier"]``, "mlp" when an MLP-only option
    (:data:`MLP_OPTIONS`) is given, else the default ("logistic", see :data:`CLASSIFIERS`)."""
    return str(_option(config, "classifier"))


def _l2(config: TrainConfig) -> float:
    """``options["l2"]``, else ``config.l2`` where it was changed from the shared default, else the
    family's default."""
    import dataclasses

    from soundkit.config import TrainConfig

    if "l2" in config.options:
        value = config.options["l2"]
    else:
        shared = {f.name: f.default for f in dataclasses.fields(TrainConfig)}["l2"]
        value = HEAD_DEFAULTS["l2"] if config.l2 == shared else config.l2
    if not isinstance(value, (int, float)) or value < 0:
        raise ParameterError(f"l2 must be a number >= 0, got {value!r}")
    return float(value)


def build(input_shape: Sequence[int], n_classes: int, config: TrainConfig) -> Any:
    """A small classifier head on YAMNet frame embeddings (uncompiled, softmax output).

    ``options["heads"]`` heads, each Dropout(``input_dropout``) -> Dense(``hidden``, relu) ->
    Dropout(``config.dropout``) -> Dense(softmax), are built with different initialisations and
    their probabilities averaged by a layer: one Keras model, one ``.tflite``.

    Parameters
    ----------
    input_shape : (1024,)
    n_classes : int
    config : TrainConfig
        ``dropout``; ``l2`` (see :func:`_l2`); ``options`` ``hidden`` (0 for a linear head),
        ``heads``, ``input_dropout`` (defaults: :data:`HEAD_DEFAULTS`).
    """
    import keras
    from keras import layers

    if tuple(input_shape) != (EMBEDDING_SIZE,):
        raise ModelError(f"the yamnet head takes {EMBEDDING_SIZE}-d embeddings, got input shape {tuple(input_shape)}")
    if n_classes < 2:
        raise ModelError(f"need at least 2 classes to train, got {n_classes}")
    head = _option(config, "classifier")
    if head not in CLASSIFIERS:
        raise ParameterError(f"options.classifier must be one of {', '.join(CLASSIFIERS)}, got {head!r}")
    if head == "logistic":
        inputs = keras.Input(shape=(EMBEDDING_SIZE,), name="embedding")
        x = layers.UnitNormalization(name="l2_normalize")(inputs)
        outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
        return keras.Model(inputs, outputs, name="yamnet_logistic")
    hidden = int(_option(config, "hidden"))
    n_heads = int(_option(config, "heads"))
    in_drop = float(_option(config, "input_dropout"))
    if n_heads < 1 or hidden < 0 or not 0 <= in_drop < 1:
        raise ParameterError(f"options: heads must be >= 1, hidden >= 0, input_dropout in [0, 1); got {n_heads}, {hidden}, {in_drop}")
    l2 = _l2(config)
    reg = keras.regularizers.l2(l2) if l2 else None
    inputs = keras.Input(shape=(EMBEDDING_SIZE,), name="embedding")
    features = layers.UnitNormalization(name="l2_normalize")(inputs) if _option(config, "normalize") else inputs
    outs = []
    for k in range(n_heads):
        sfx = "" if n_heads == 1 else f"_{k}"
        x = layers.Dropout(in_drop, name=f"input_dropout{sfx}")(features) if in_drop > 0 else features
        if hidden > 0:
            x = layers.Dense(hidden, activation="relu", kernel_regularizer=reg, name=f"hidden{sfx}")(x)
        x = layers.Dropout(config.dropout, name=f"dropout{sfx}")(x)
        name = "probabilities" if n_heads == 1 else f"probabilities{sfx}"
        outs.append(layers.Dense(n_classes, activation="softmax", kernel_regularizer=reg, name=name)(x))
    outputs = outs[0] if n_heads == 1 else layers.Average(name="probabilities")(outs)
    return keras.Model(inputs, outputs, name="yamnet_head")


def fit(model: Any, train_data: Any, val_data: Any, config: TrainConfig, callbacks: Sequence[Any]) -> Any:
    """Train the head on frame embeddings with a frame-sized batch.

    The training data (a keras PyDataset of ``config.batch_size``-frame batches) is gathered once
    into arrays and fitted with ``options["frame_batch_size"]`` frames per step (default 256: a
    clip gives about ten frames, so this is about 25 clips per step), which makes an epoch
    several times faster than 32-frame steps. Adam, cross-entropy with ``options["label_smoothing"]``
    (one-hot targets when it is > 0), accuracy.

    Returns
    -------
    keras.callbacks.History
    """
    from soundkit.training import compile_model, one_hot_targets

    parts = [train_data[i] for i in range(len(train_data))]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts]) if len(parts[0]) > 2 else None
    if _option(config, "classifier") == "logistic":
        return _fit_logistic(model, X, y, w, val_data, config, callbacks)
    batch = int(_option(config, "frame_batch_size"))
    if batch < 1:
        raise ParameterError(f"frame_batch_size must be >= 1, got {batch}")
    smoothing = float(_option(config, "label_smoothing"))
    if not 0 <= smoothing < 1:
        raise ParameterError(f"label_smoothing must be within [0, 1), got {smoothing}")
    if one_hot_targets(config, label_smoothing=smoothing):  # label smoothing or mixup
        eye = np.eye(int(model.output_shape[-1]), dtype=np.float32)
        y = y if y.ndim == 2 else eye[y]
        if val_data is not None and np.ndim(val_data[1]) == 1:
            val_data = (val_data[0], eye[np.asarray(val_data[1], dtype=np.int64)])
    compile_model(model, config, label_smoothing=smoothing)
    return model.fit(X, y, sample_weight=w, batch_size=batch, epochs=config.epochs, shuffle=True,
                     validation_data=val_data, callbacks=list(callbacks), verbose=0)


def _fit_logistic(model: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, val_data: Any,
                  config: TrainConfig, callbacks: Sequence[Any]) -> Any:
    """Fit the "logistic" head: L2-normalised frames -> multinomial logistic regression (lbfgs,
    inverse regularisation ``options["C"]``), whose coefficients become the Dense layer's weights.

    Convex, so there are no epochs, learning rate or early stopping to tune; the validation frames
    join the training frames whenever a held-out test fold exists (``config.test_fold`` set: the
    validation clips are then not the clips the report is on). Classes without training frames get
    a very low bias (never predicted). Returns a keras History with one row.
    """
    import keras
    from sklearn.linear_model import LogisticRegression

    C = _option(config, "C")
    if isinstance(C, bool) or not isinstance(C, (int, float)) or not C > 0:
        raise ParameterError(f"options.C must be a number > 0, got {C!r}")
    y = np.asarray(y)
    if y.ndim == 2:  # one-hot (mixup / smoothing asked for): a linear model takes the hard labels
        y = y.argmax(axis=1)
    n_classes = int(model.output_shape[-1])
    if val_data is not None and config.test_fold is not None:
        Xv, yv = val_data
        yv = np.asarray(yv)
        yv = yv.argmax(axis=1) if yv.ndim == 2 else yv
        X, y = np.concatenate([X, np.asarray(Xv)]), np.concatenate([y, yv.astype(y.dtype)])
        val_data, w = None, None  # weights are recomputed below for the merged frames
    if w is None and config.class_weights:
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        w = (len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1)))[y]
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    progress = next((cb for cb in callbacks if hasattr(cb, "cancelled")), None)
    if progress is not None:
        progress.set_model(model)
    classes = np.unique(y)
    kernel = np.zeros((EMBEDDING_SIZE, n_classes), dtype=np.float32)
    bias = np.full(n_classes, -30.0, dtype=np.float32)
    clf = LogisticRegression(C=float(C), max_iter=2000, tol=1e-5)
    clf.fit(Xn, y, sample_weight=w)
    if len(classes) == 2:  # sklearn keeps one logit: softmax([0, z]) = sigmoid(z)
        kernel[:, classes[1]] = clf.coef_[0]
        bias[classes] = [0.0, clf.intercept_[0]]
    else:
        kernel[:, clf.classes_] = clf.coef_.T
        bias[clf.classes_] = clf.intercept_
    model.get_layer("probabilities").set_weights([kernel, bias])
    logs = _logistic_logs(model, X, y, val_data)
    history = keras.callbacks.History()
    history.set_model(model)
    history.on_train_begin()
    history.on_epoch_end(0, logs)
    if progress is not None:
        progress.on_epoch_end(config.epochs - 1, logs)
    return history


def _logistic_logs(model: Any, X: np.ndarray, y: np.ndarray, val_data: Any) -> dict:
    """loss/accuracy (and val_*) of a fitted logistic head, as keras would log them."""

    def metrics(Xa: np.ndarray, ya: np.ndarray) -> tuple[float, float]:
        P = model.predict(Xa, batch_size=1024, verbose=0)
        ya = np.asarray(ya)
        ya = ya.argmax(axis=1) if ya.ndim == 2 else ya.astype(np.int64)
        loss = float(-np.mean(np.log(np.clip(P[np.arange(len(ya)), ya], 1e-12, 1))))
        return loss, float(np.mean(P.argmax(axis=1) == ya))

    loss, acc = metrics(X, y)
    logs = {"loss": loss, "accuracy": acc}
    if val_data is not None and len(val_data[0]):
        logs["val_loss"], logs["val_accuracy"] = metrics(np.asarray(val_data[0]), val_data[1])
    return logs


def run_info(config: TrainConfig) -> dict[str, Any]:
    """What a run's meta.json should say about the pretrained part: {"pretrained", "transfer"}."""
    embedder = load_embedder()
    return {"pretrained": f"yamnet sha256:{embedder.sha256[:16]}", "transfer": True}


def training_inputs(
    paths: Sequence[str | os.PathLike],
    features: FeatureConfig | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[np.ndarray]:
    """Frame embeddings of training clips (the training extension point for embedding kinds).

    Parameters
    ----------
    paths : sequence of paths
    features : FeatureConfig, optional
        Unused: YAMNet's frontend is fixed (16 kHz, 0.975 s frames every 0.48 s).
    cache_dir : path, optional
        The cache root; embeddings are kept in ``cache_dir/embeddings``. None: no caching.
    progress : callable(done, total), optional

    Returns
    -------
    list of np.ndarray, each float32 of shape (n_sounding_frames, 1024)
        Frames of digital silence (padding, gaps) are left out (:func:`sounding_frames`), as
        :func:`clip_inputs` leaves them out at prediction time.
    """
    cache = Path(cache_dir) / "embeddings" if cache_dir is not None else None
    silence = load_embedder().silence
    return [E[sounding_frames(E, silence)] for E in embed_files(paths, cache=cache, progress=progress)]


def clip_inputs(y: np.ndarray, sr: int, features: FeatureConfig | None = None, run_dir: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs for one clip: its frame embeddings.

    ``features`` and ``run_dir`` are accepted for the family interface; YAMNet's frontend is fixed.
    Frames of digital silence are left out, as in :func:`training_inputs` (all are kept when the
    whole clip is silent).

    Returns
    -------
    X : np.ndarray, float32, shape (n_sounding_frames, 1024)
    starts_seconds : np.ndarray, shape (n_sounding_frames,)
    """
    embedder = load_embedder()
    _, E, starts = embedder.run(y, sr)
    keep = sounding_frames(E, embedder.silence)
    return E[keep], starts[keep]


# -- zero-shot ---------------------------------------------------------------------------------------

def zero_shot(
    y: np.ndarray, sr: int, top_k: int = 5, *, model: str | os.PathLike | None = None, weighting: str = "sound"
) -> list[tuple[str, float]]:
    """YAMNet's own AudioSet labels for a clip, before any training.

    Frame scores are averaged with weights saying how much each frame sounds
    (:func:`sound_weights`: RMS level relative to the clip's loudest frame; frames of digital
    silence weigh 0). YAMNet's reference inference weighs all frames alike, so the quiet tail after
    a short sound made "Silence" outrank the sound itself.

    Returns
    -------
    list of (class name, mean score) pairs, best first, ``top_k`` long.
    """
    return YamnetPredictor.load(model).predict(y, sr, top_k=top_k, weighting=weighting).top


class YamnetPredictor:
    """A "pretrained" pseudo-run: YAMNet's 521 AudioSet classes, with the Predictor interface.

    Attributes
    ----------
    labels : list of str (521)
    family : str ("yamnet")
    backend : str ("litert")
    features : None (YAMNet's frontend is fixed)

    ``predict`` returns :class:`soundkit.predict.Prediction`; its ``probabilities`` are the frames'
    sigmoid scores averaged with :func:`sound_weights` (AudioSet is multi-label, so they do not sum
    to one; frames of digital silence weigh 0, frames far below the clip's loudest little or
    nothing, so silence or a noise floor after a short sound does not outweigh it;
    ``weighting="uniform"`` averages every sounding frame alike); the timeline has every frame.
    """

    name = "yamnet-audioset"
    family = "yamnet"
    backend = "litert"
    features = None
    run_dir = None

    def __init__(self, embedder: Embedder, labels: Sequence[str]) -> None:
        self.embedder = embedder
        self.labels = list(labels)

    @classmethod
    def load(cls, model: str | os.PathLike | None = None) -> YamnetPredictor:
        embedder = load_embedder(model)
        return cls(embedder, class_names(model=embedder.path))

    def predict_file(self, path: str | os.PathLike, *, top_k: int = 5) -> Any:
        """Load an audio file at 16 kHz and :meth:`predict` it."""
        from soundkit import audio

        y, sr = audio.load(path, sr=SAMPLE_RATE)
        return self.predict(y, sr, top_k=top_k)

    def predict(self, y: np.ndarray, sr: int, *, top_k: int = 5, weighting: str = "sound") -> Any:
        """Top-k AudioSet classes of a clip and a per-frame timeline (see Predictor.predict).

        ``weighting``: "sound" (default, :func:`sound_weights`) or "uniform" (every sounding frame
        alike, YAMNet's reference pooling without the padding).
        """
        from soundkit.predict import Prediction, Segment

        if top_k < 1:
            raise ParameterError(f"top_k must be >= 1, got {top_k}")
        if weighting not in ("sound", "uniform"):
            raise ParameterError(f"weighting must be 'sound' or 'uniform', got {weighting!r}")
        y16 = _to_16k(y, sr)
        scores, emb, starts = self.embedder.run(y16, SAMPLE_RATE)
        w = sounding_frames(emb, self.embedder.silence).astype(np.float64)
        if weighting == "sound":
            w = w * sound_weights(y16, SAMPLE_RATE)
            if w.sum() <= 0:
                w = np.ones(len(w))
        mean = (w[:, None] * scores).sum(axis=0) / w.sum()
        order = np.argsort(-mean)[:top_k]
        top = [(self.labels[i], float(mean[i])) for i in order]
        best = scores.argmax(axis=1)
        duration = FRAME_SAMPLES / SAMPLE_RATE
        timeline = [
            Segment(float(s), float(s) + duration, self.labels[b], float(scores[j, b]))
            for j, (s, b) in enumerate(zip(starts, best, strict=True))
        ]
        return Prediction(top=top, probabilities=mean, timeline=timeline, window_probabilities=scores,
                          labels=list(self.labels))
