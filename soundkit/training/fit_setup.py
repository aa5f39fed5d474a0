"""The Keras pieces of a fit: the compile every family shares (:func:`compile_model`), its loss and
targets (:func:`loss_for`, :func:`one_hot_targets`, :func:`mixup_alpha`), the learning-rate schedule
and the callback that reports progress and polls ``should_stop``.

Keras is imported inside the functions that need it.
"""

from __future__ import annotations

import math
import time

from soundkit.config import TrainConfig
from soundkit.errors import ParameterError
from soundkit.training.checks import LR_SCHEDULE
from soundkit.training.progress import ShouldStop


def _callback(emit, should_stop: ShouldStop | None, epochs: int):
    import keras

    class ProgressAndCancel(keras.callbacks.Callback):
        """Progress events after each epoch; polls should_stop after each batch."""

        def __init__(self) -> None:
            super().__init__()
            self.cancelled = False
            self.t0 = time.monotonic()

        def _poll(self) -> None:
            if should_stop is not None and not self.cancelled and should_stop():
                self.cancelled = True
                self.model.stop_training = True

        def on_train_batch_end(self, batch, logs=None) -> None:
            self._poll()

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self._poll()

        def on_epoch_end(self, epoch, logs=None) -> None:
            logs = logs or {}
            ev = {k: float(logs[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs}
            msg = ", ".join(f"{k} {v:.3f}" for k, v in ev.items())
            emit(stage="train", done=epoch + 1, total=epochs, epoch=epoch + 1, epochs=epochs,
                 seconds=round(time.monotonic() - self.t0, 2), message=f"epoch {epoch + 1}/{epochs}: {msg}", **ev)
            self._poll()

    return ProgressAndCancel()


def compile_model(model, config: TrainConfig, *, learning_rate: float | None = None, label_smoothing: float = 0.0) -> None:
    """Adam + cross-entropy (:func:`loss_for`) + accuracy: the compile of every family."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate or config.learning_rate),
        loss=loss_for(config, label_smoothing=label_smoothing),
        metrics=["accuracy"],
        jit_compile=False,  # XLA is several times slower for these small convnets on CPU
    )


def mixup_alpha(config: TrainConfig) -> float:
    """The augmentation policy's mixup alpha (0: no mixup), validated by the policy."""
    if not config.augment:
        return 0.0
    from soundkit import augment

    return augment.Policy.from_dict(config.augment).mixup


def one_hot_targets(config: TrainConfig, *, label_smoothing: float = 0.0) -> bool:
    """Whether training targets are one-hot rows (mixup, label smoothing) rather than class indices."""
    return mixup_alpha(config) > 0 or label_smoothing > 0


def loss_for(config: TrainConfig, *, label_smoothing: float = 0.0):
    """Categorical cross-entropy on one-hot targets (:func:`one_hot_targets`), else the sparse form."""
    import keras

    if one_hot_targets(config, label_smoothing=label_smoothing):
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def _lr_schedule(config: TrainConfig, monitor: str):
    """The learning-rate callback: ``options["lr_schedule"]`` "cosine" (the default: warm up 3
    epochs, cosine decay to 1/50 over ``epochs``) or "plateau" (halve after patience/3 epochs
    without improvement)."""
    import keras

    kind = config.options.get("lr_schedule", LR_SCHEDULE)
    base = config.learning_rate
    if kind == "cosine":
        def lr(epoch: int, _lr: float) -> float:
            if epoch < 3:
                return base * (epoch + 1) / 3
            t = (epoch - 3) / max(1, config.epochs - 3)
            return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))

        return keras.callbacks.LearningRateScheduler(lr, verbose=0)
    if kind != "plateau":
        raise ParameterError(f"options.lr_schedule must be 'plateau' or 'cosine', got {kind!r}")
    return keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, factor=0.5, patience=max(2, config.patience // 3), min_lr=base / 32, verbose=0
    )
