"""Framing as YAMNet frames a clip (15600 samples every 7680 at 16 kHz), the model's sizes, and how
much each frame sounds (:func:`sounding_frames`, :func:`sound_weights`, :func:`pool`)."""

from __future__ import annotations

import numpy as np

from soundkit.errors import ParameterError

SAMPLE_RATE = 16000


FRAME_SAMPLES = 15600  # 0.975 s: one 96x64 log-mel patch


HOP_SAMPLES = 7680  # 0.48 s


EMBEDDING_SIZE = 1024


N_CLASSES = 521


#: Duration of the audio behind one embedding (the Predictor's timeline uses it).
WINDOW_SECONDS = FRAME_SAMPLES / SAMPLE_RATE


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
