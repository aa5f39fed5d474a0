"""Model families: one builder module per family (``cnn``, ``inception``, ``yamnet``).

Each family module imports keras only inside its functions and provides

- ``KIND``: ``"logmel"`` (input: raw dB log-mel windows of shape (n_mels, frames, 1), normalised
  inside the model) or ``"embedding"`` (input: one YAMNet embedding per 0.96 s frame);
- ``build(input_shape, n_classes, config) -> keras.Model``, uncompiled, softmax output;
- optionally ``fit(model, train_data, val_data, config, callbacks) -> History`` to train differently;
- for ``KIND == "embedding"``: ``training_inputs(paths, features, *, cache_dir, progress)`` and
  ``clip_inputs(y, sr, features, run_dir)`` (see docs/ARCHITECTURE.md).

Nothing is imported until :func:`family` is called.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from soundkit.config import MODEL_FAMILIES
from soundkit.errors import ModelError

__all__ = ["family", "load_model", "MODEL_FAMILIES"]


def family(name: str) -> ModuleType:
    """The module implementing model family ``name`` ("cnn", "inception" or "yamnet").

    Raises
    ------
    ModelError
        For an unknown name, or a family whose module is not available in this installation.
    """
    if name not in MODEL_FAMILIES:
        raise ModelError(f"unknown model family {name!r}; choose one of {', '.join(MODEL_FAMILIES)}")
    try:
        module = importlib.import_module(f"soundkit.models.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"soundkit.models.{name}":
            raise ModelError(f"model family {name!r} is not available in this installation") from None
        raise
    for attr in ("KIND", "build"):
        if not hasattr(module, attr):
            raise ModelError(f"model family {name!r} is incomplete: soundkit.models.{name} lacks {attr}")
    return module


def load_model(path: str | os.PathLike):
    """Load a ``.keras`` model file (or the ``model.keras`` inside a run directory).

    Returns
    -------
    keras.Model
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.keras"
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - any failure to deserialise is the file's problem
        raise ModelError(f"{path}: cannot be loaded as a Keras model ({type(exc).__name__}: {exc})") from None
