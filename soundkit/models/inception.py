"""Inception V3 transfer learning on log-mel images (keras.applications, ImageNet weights).

Input is one window of raw log-mel dB values (n_mels, frames, 1) within [-80, 0]. Inside the model
it is rescaled to [-1, 1] (``keras.applications.inception_v3.preprocess_input`` maps pixels to the
same range), repeated to three channels and resized when a side is below 75 (Inception V3's
minimum) or ``options["image_size"]`` asks for another size.

The Keras transfer recipe (:func:`fit`): the ImageNet base is frozen and called with
``training=False`` (its batch norms stay in inference mode), a new head is trained first, then the
top two inception blocks (after ``mixed8``) are unfrozen and fine-tuned at a low learning rate after
recompiling.

Weights (``config.options["weights"]``):

- ``"imagenet"`` (default): Keras' file ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``
  from ``$SOUNDKIT_WEIGHTS_DIR`` if it is there (checked against Keras' MD5), else through Keras' own
  download and cache (``~/.keras/models``). Offline without the file: :class:`ModelError` saying
  what to do; never a silent fallback to random weights.
- a path to a ``.h5`` / ``.weights.h5`` file of Inception V3 weights without the top;
- ``None`` / ``"none"``: random initialisation, only when asked; the model is then named
  ``inception_v3_random_init`` and :func:`run_info` reports ``transfer: False``.

Options: ``weights``, ``image_size`` (int or [h, w]), ``head_epochs`` (default a third of
``epochs``), ``fine_tune`` (default True), ``fine_tune_from`` (layer name, default "mixed8"),
``fine_tune_learning_rate`` (default ``learning_rate / 100``).

Memory: 128x128 windows, batch 16, fine-tuning: about 1.6 GB peak RSS on CPU, and the LiteRT
converter about 1.7 GB on its own, so :data:`ISOLATE` has training fit in one child process and
export in another (BENCHMARKS.md measures the process tree); ``--batch-size 16`` is the recommended
setting for this family.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soundkit import weights as weights_mod
from soundkit.config import TrainConfig
from soundkit.errors import ModelError, ParameterError

__all__ = ["KIND", "MIN_SIZE", "build", "fit", "resolve_weights", "run_info"]

log = logging.getLogger(__name__)

#: soundkit.training.train fits this family in a child process and exports it in a fresh one.
ISOLATE = True

KIND = "logmel"
#: Smallest image side Inception V3 accepts.
MIN_SIZE = 75
#: The base's layers after this one (the top two inception blocks) are fine-tuned.
FINE_TUNE_FROM = "mixed8"

_NO_WEIGHTS = (None, "none", "None", "random", "")


def _weights_option(config: TrainConfig) -> str | None:
    value = config.options.get("weights", "imagenet")
    if value in _NO_WEIGHTS:
        return None
    return os.fspath(value)


def resolve_weights(value: str | os.PathLike | None) -> Path | None:
    """A local file of Inception V3 (no top) weights for a ``weights`` option, or None.

    Parameters
    ----------
    value : "imagenet", a path, or None / "none"

    Raises
    ------
    ModelError
        The ImageNet weights are neither in $SOUNDKIT_WEIGHTS_DIR nor in Keras' cache and cannot be
        downloaded; a given path does not exist; a file fails its checksum.
    """
    if value in _NO_WEIGHTS:
        return None
    value = os.fspath(value)  # type: ignore[arg-type]
    spec = weights_mod.INCEPTION_V3_NOTOP
    if value != "imagenet":
        p = Path(value).expanduser()
        if not p.is_file():
            raise ModelError(f"Inception V3 weights file {p} does not exist")
        if not p.name.endswith((".h5", ".hdf5")):
            raise ModelError(f"Inception V3 weights file {p}: expected a .h5 or .weights.h5 file")
        return p
    wdir = weights_mod.weights_dir()
    if wdir is not None and (wdir / spec.filename).is_file():
        local = wdir / spec.filename
        weights_mod.verify(local, spec)
        return local
    import keras

    try:
        return Path(keras.utils.get_file(spec.filename, spec.urls[0], cache_subdir="models", file_hash=spec.md5))
    except Exception as exc:  # noqa: BLE001 - offline, refused, or a bad download
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"Inception V3 ImageNet weights are not available (Keras could not fetch {spec.filename}: {reason}); "
            f"put that file in $SOUNDKIT_WEIGHTS_DIR or ~/.keras/models, or pass a weights file, "
            "or choose weights 'none' to train from random weights (not transfer learning)"
        ) from None


def _image_size(input_shape: Sequence[int], config: TrainConfig) -> tuple[int, int]:
    size = config.options.get("image_size")
    if size is None:
        return max(MIN_SIZE, int(input_shape[0])), max(MIN_SIZE, int(input_shape[1]))
    h, w = (size, size) if isinstance(size, (int, float)) else tuple(size)
    if int(h) < MIN_SIZE or int(w) < MIN_SIZE:
        raise ParameterError(f"image_size must be at least {MIN_SIZE}x{MIN_SIZE}, got {size}")
    return int(h), int(w)


def _load_base_weights(base: Any, path: Path) -> None:
    """Load ``path`` into the base and check that every convolution kernel was actually replaced
    (Keras can skip parts of a file that do not match and keep their random initialisation)."""
    import warnings

    import keras

    convs = [layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    before = [layer.kernel.numpy().ravel()[:32].copy() for layer in convs]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            base.load_weights(os.fspath(path))
    except Exception as exc:  # noqa: BLE001 - corrupt file, or weights of another network
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{path}: not usable as Inception V3 weights without the top ({reason[:200]})") from None
    kept = sum(np.array_equal(b, layer.kernel.numpy().ravel()[:32]) for b, layer in zip(before, convs, strict=True))
    if kept:
        raise ModelError(
            f"{path}: left {kept} of {len(convs)} Inception V3 convolutions at their random initialisation; "
            "it does not hold Inception V3 weights without the top"
        )


def build(input_shape: Sequence[int], n_classes: int, config: TrainConfig) -> Any:
    """Inception V3 base (frozen) + a new softmax head, uncompiled.

    Parameters
    ----------
    input_shape : (n_mels, frames, 1)
        Raw log-mel dB windows.
    n_classes : int
    config : TrainConfig
        ``dropout``, ``l2`` and the options listed in the module docstring.

    Returns
    -------
    keras.Model
        (batch, n_mels, frames, 1) -> (batch, n_classes); the base is the layer named "inception_v3".

    Raises
    ------
    ModelError
        Weights unavailable, missing or not Inception V3 weights.
    """
    import keras
    from keras import layers

    if len(input_shape) != 3 or int(input_shape[-1]) != 1:
        raise ModelError(f"Inception V3 takes log-mel windows of shape (n_mels, frames, 1), got {tuple(input_shape)}")
    if n_classes < 2:
        raise ModelError(f"need at least 2 classes to train, got {n_classes}")
    option = _weights_option(config)
    path = resolve_weights(option)
    h, w = _image_size(input_shape, config)
    base = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(h, w, 3), pooling="avg")
    if path is not None:
        _load_base_weights(base, path)
    else:
        log.warning("Inception V3 built from random weights: this run is NOT transfer learning")
    base.trainable = False

    reg = keras.regularizers.l2(config.l2) if config.l2 else None
    inputs = keras.Input(shape=tuple(int(d) for d in input_shape), name="logmel_db")
    x = layers.Rescaling(1 / 40, offset=1.0, name="normalise")(inputs)  # [-80, 0] dB -> [-1, 1]
    x = layers.Concatenate(axis=-1, name="rgb")([x, x, x])
    if (h, w) != (int(input_shape[0]), int(input_shape[1])):
        x = layers.Resizing(h, w, name="resize")(x)
    x = base(x, training=False)  # batch norms stay in inference mode, also when fine-tuning
    x = layers.Dropout(config.dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", kernel_regularizer=reg, name="probabilities")(x)
    name = "inception_v3_random_init" if path is None else "inception_v3_transfer"
    return keras.Model(inputs, outputs, name=name)


def unfreeze_top(model: Any, *, after: str = FINE_TUNE_FROM) -> int:
    """Make the base's layers after ``after`` trainable (batch norms stay frozen); returns their count."""
    base = model.get_layer("inception_v3")
    names = [layer.name for layer in base.layers]
    if after not in names:
        raise ParameterError(f"fine_tune_from {after!r} is not a layer of Inception V3 (e.g. 'mixed7', 'mixed8', 'mixed9')")
    start = names.index(after) + 1
    base.trainable = True
    n = 0
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= start and not isinstance(layer, _batch_norm_class())
        n += bool(layer.trainable and layer.weights)
    return n


def _batch_norm_class():
    import keras

    return keras.layers.BatchNormalization


def fit(model: Any, train_data: Any, val_data: Any, config: TrainConfig, callbacks: Sequence[Any]) -> Any:
    """The transfer recipe: train the head, then fine-tune the top blocks at a low learning rate.

    Phase 1 trains the new head (``options["head_epochs"]``, default a third of ``config.epochs``)
    at ``config.learning_rate`` with the base frozen; phase 2 unfreezes the layers after
    ``options["fine_tune_from"]``, recompiles at ``options["fine_tune_learning_rate"]`` (default
    ``learning_rate / 100``) and continues up to ``config.epochs`` (epoch numbers continue). A
    callback that stopped for cancellation (``cancelled`` attribute) ends training after phase 1.

    Returns
    -------
    keras.callbacks.History
        Both phases' epochs in one history.
    """
    from soundkit.training import compile_model

    opts = config.options
    head_epochs = int(opts.get("head_epochs", max(1, config.epochs // 3)))
    if not 1 <= head_epochs <= config.epochs:
        raise ParameterError(f"head_epochs must be within 1..epochs ({config.epochs}), got {head_epochs}")
    callbacks = list(callbacks)
    compile_model(model, config)
    hist = model.fit(train_data, validation_data=val_data, epochs=head_epochs, callbacks=callbacks, verbose=0)
    done = len(hist.history.get("loss", []))
    cancelled = any(getattr(cb, "cancelled", False) for cb in callbacks)
    if cancelled or not opts.get("fine_tune", True) or done >= config.epochs or head_epochs >= config.epochs:
        return hist
    if model.name == "inception_v3_random_init":
        log.warning("fine-tuning an Inception V3 that started from random weights (not transfer learning)")
    n = unfreeze_top(model, after=str(opts.get("fine_tune_from", FINE_TUNE_FROM)))
    lr = float(opts.get("fine_tune_learning_rate", config.learning_rate / 100))
    log.info("fine-tuning %d layers of Inception V3 at learning rate %g", n, lr)
    compile_model(model, config, learning_rate=lr)
    hist2 = model.fit(train_data, validation_data=val_data, initial_epoch=done, epochs=config.epochs,
                      callbacks=callbacks, verbose=0)
    for key, values in hist2.history.items():
        hist.history.setdefault(key, []).extend(values)
    hist.epoch = list(hist.epoch) + list(hist2.epoch)
    return hist


def run_info(config: TrainConfig) -> dict[str, Any]:
    """What a run's meta.json should say about the pretrained part: {"pretrained", "transfer"}."""
    option = _weights_option(config)
    if option is None:
        return {"pretrained": None, "transfer": False}
    return {"pretrained": "imagenet" if option == "imagenet" else os.path.basename(option), "transfer": True}
