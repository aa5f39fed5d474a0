"""LiteRT (TensorFlow Lite) export of a trained Keras model, and a check that the export agrees.

``model.keras`` stays the source of truth in a run directory; ``model.tflite`` is a faithful copy
for serving: :class:`soundkit.predict.Predictor` runs it through ``ai_edge_litert`` without
importing TensorFlow. The export uses Keras 3's own ``model.export(path, format="litert")`` (a
SavedModel, then the TensorFlow Lite converter), keeps the batch dimension dynamic so all windows of
a clip go through one interpreter call, and writes atomically (temporary file + ``os.replace``).

The converter needs memory of its own (for Inception V3 a fresh export process peaks at about
1.7 GB; a concrete-function conversion was tried and needed more, or gave NaNs when handed the
Keras model to track), so training runs families that ask for it (``ISOLATE``: Inception V3) in a
child process and exports ``model.keras`` in another one afterwards (:func:`soundkit.training.train`).
``python -m soundkit.export RUN_DIR`` (:func:`export_run`) re-exports a run, for example one whose
export failed.

TensorFlow and Keras are imported lazily, inside the functions.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundkit.errors import ModelError, ParameterError, SoundkitError
from soundkit.fileio import atomic_path

__all__ = [
    "export_tflite", "export_run", "verify", "Verification",
    "TFLITE_NAME", "KERAS_NAME",
]

log = logging.getLogger(__name__)

TFLITE_NAME = "model.tflite"
KERAS_NAME = "model.keras"


def export_tflite(model: Any, path: str | os.PathLike) -> Path:
    """Convert a Keras 3 model to a ``.tflite`` file, atomically.

    Parameters
    ----------
    model : keras.Model
        A built model (for example the one training just fitted, or ``keras.saving.load_model``).
    path : path
        Where the ``.tflite`` file goes; its folder is created. An existing file is replaced only
        once the new one is complete.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ModelError
        The converter failed (the message names the model and the converter's first line).
    """
    path = Path(path)
    if path.suffix != ".tflite":
        raise ParameterError(f"export path must end in .tflite, got {path}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with atomic_path(path) as tmp:
        try:
            model.export(str(tmp), format="litert", verbose=False)
        except Exception as exc:  # noqa: BLE001 - any converter failure becomes one ModelError line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"cannot export model {getattr(model, 'name', '?')!r} to LiteRT: {first}") from exc
        if tmp.stat().st_size == 0:
            raise ModelError(f"LiteRT export of model {getattr(model, 'name', '?')!r} produced an empty file")
    log.info("exported %s (%.1f kB)", path, path.stat().st_size / 1024)
    return path


def export_run(run_dir: str | os.PathLike) -> Path:
    """Export a run directory's ``model.keras`` to ``model.tflite`` beside it.

    Raises
    ------
    ModelError
        No or an unreadable model.keras, or the converter failed.
    """
    run_dir = Path(run_dir)
    keras_path = run_dir / KERAS_NAME
    if not keras_path.is_file():
        raise ModelError(f"{run_dir}: no {KERAS_NAME} to export")
    from soundkit.models import load_model

    return export_tflite(load_model(keras_path), run_dir / TFLITE_NAME)


@dataclass(frozen=True)
class Verification:
    """Result of :func:`verify`.

    Attributes
    ----------
    n : int
        Inputs compared.
    top1_agreement : float
        Fraction of inputs where both models pick the same class.
    max_abs_diff : float
        Largest absolute difference between the two probability arrays.
    ok : bool
        Every top-1 agrees (a disagreement is tolerated only where Keras' own top-2 are within
        ``atol`` of each other, a tie that rounding may break either way).
    """

    n: int
    top1_agreement: float
    max_abs_diff: float
    ok: bool


def verify(run_dir: str | os.PathLike, X: np.ndarray, *, atol: float = 1e-4) -> Verification:
    """Check that ``model.tflite`` and ``model.keras`` of a run agree on the same inputs.

    Parameters
    ----------
    run_dir : path
        A run directory holding both files.
    X : np.ndarray, shape (n, *input_shape)
        Model inputs (for log-mel families: windows of shape (n, n_mels, frames, 1)).
    atol : float
        Probability difference under which a top-1 disagreement counts as a tie.

    Returns
    -------
    Verification
    """
    run_dir = Path(run_dir)
    keras_path, tflite_path = run_dir / KERAS_NAME, run_dir / TFLITE_NAME
    for p in (keras_path, tflite_path):
        if not p.is_file():
            raise ModelError(f"{p}: no such file")
    X = np.asarray(X, dtype=np.float32)
    if X.ndim < 2 or len(X) == 0:
        raise ParameterError(f"verify needs a batch of inputs of shape (n, ...), got shape {X.shape}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from soundkit.models import load_model

    model = load_model(keras_path)
    p_keras = np.asarray(model.predict(X, verbose=0, batch_size=64), dtype=np.float32)

    from soundkit.predict import LiteRTModel

    p_lite = LiteRTModel(tflite_path)(X)
    if p_keras.shape != p_lite.shape:
        raise ModelError(f"{run_dir}: Keras gives shape {p_keras.shape}, LiteRT {p_lite.shape}")
    top_k, top_l = p_keras.argmax(1), p_lite.argmax(1)
    agree = top_k == top_l
    srt = np.sort(p_keras, axis=1)
    ties = (srt[:, -1] - srt[:, -2] <= atol) if p_keras.shape[1] > 1 else np.zeros(len(X), bool)
    result = Verification(
        n=len(X),
        top1_agreement=float(agree.mean()),
        max_abs_diff=float(np.abs(p_keras - p_lite).max()),
        ok=bool(np.all(agree | ties)),
    )
    log.info("verify %s: %s", run_dir, result)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m soundkit.export RUN_DIR``: write RUN_DIR/model.tflite from RUN_DIR/model.keras."""
    parser = argparse.ArgumentParser(prog="python -m soundkit.export", description=main.__doc__)
    parser.add_argument("run_dir", help="a run directory holding model.keras")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        print(export_run(args.run_dir))
    except SoundkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
