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

The package: :mod:`.frames` (framing, frame weights), :mod:`.model` (the LiteRT model and its
embedding tensor), :mod:`.cache` (embeddings and their cache), :mod:`.head` (the "embedding"
model family), :mod:`.zeroshot` (AudioSet labels before any training). Everything public is
importable from ``soundkit.models.yamnet`` itself.
"""

from __future__ import annotations

from soundkit.models.yamnet.cache import EmbeddingCache, default_cache_root, embed, embed_files
from soundkit.models.yamnet.frames import (
    EMBEDDING_SIZE,
    FRAME_SAMPLES,
    HOP_SAMPLES,
    N_CLASSES,
    SAMPLE_RATE,
    SOUND_FLOOR_DB,
    WINDOW_SECONDS,
    frame,
    pool,
    sound_weights,
    sounding_frames,
)
from soundkit.models.yamnet.head import (
    CLASSIFIERS,
    HEAD_DEFAULTS,
    KIND,
    MLP_OPTIONS,
    build,
    classifier,
    clip_inputs,
    fit,
    run_info,
    training_inputs,
)
from soundkit.models.yamnet.model import Embedder, class_names, load_embedder, model_path
from soundkit.models.yamnet.zeroshot import YamnetPredictor, zero_shot

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
    "classifier",
    "fit",
    "run_info",
    "training_inputs",
    "clip_inputs",
    "zero_shot",
    "YamnetPredictor",
    "WINDOW_SECONDS",
    "SOUND_FLOOR_DB",
    "HEAD_DEFAULTS",
    "MLP_OPTIONS",
    "CLASSIFIERS",
    "default_cache_root",
]
