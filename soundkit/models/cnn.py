"""The recipe's log-mel CNN: conv blocks with batch norm and max-pooling, dropout, L1/L2 penalties.

Input is one window of raw log-mel dB values (n_mels, frames, 1) within [-80, 0]; the model
rescales it to about [-1, 1] itself, so callers never normalise.
"""

from __future__ import annotations

from soundkit.config import TrainConfig

KIND = "logmel"

#: Filters of the convolutional blocks (each: conv 3x3, batch norm, ReLU, 2x2 max-pooling).
FILTERS = (16, 32, 64, 128)
#: The wider CNN (``options["filters"]``, ``--filters``): twice the filters, about twice the training
#: time; on ESC-10 it is the one augmentation lifts by more than 5 points (BENCHMARKS.md).
WIDE_FILTERS = (32, 64, 128, 256)
#: Convolutions per block.
CONVS_PER_BLOCK = 1
#: Average-pooling of the input (mel bands, frames) before the first convolution.
INPUT_POOL = (2, 2)
#: Pooling before the classifier: "avg" (global average) or "avgmax" (average and max concatenated).
HEAD = "avg"


def build(input_shape: tuple[int, int, int], n_classes: int, config: TrainConfig):
    """The CNN as an uncompiled ``keras.Model``: (batch, n_mels, frames, 1) -> (batch, n_classes)."""
    import keras
    from keras import layers

    reg = keras.regularizers.L1L2(l1=config.l1, l2=config.l2)
    inputs = keras.Input(shape=tuple(input_shape), name="logmel_db")
    x = layers.Rescaling(1 / 40, offset=1.0, name="normalise")(inputs)  # [-80, 0] dB -> [-1, 1]
    pool = tuple(config.options.get("input_pool", INPUT_POOL))
    if pool != (1, 1):  # halve mel and time resolution: ~3x faster, little lost for 3 s windows
        x = layers.AveragePooling2D(pool, name="downsample")(x)
    for i, filters in enumerate(config.options.get("filters", FILTERS)):
        for j in range(int(config.options.get("convs_per_block", CONVS_PER_BLOCK))):
            name = f"{i}" if j == 0 else f"{i}_{j}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"conv{name}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"bn{name}")(x)  # few steps per epoch
            x = layers.Activation("relu", name=f"relu{name}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)  # "same": small inputs never reach 0
    if config.options.get("head", HEAD) == "avgmax":
        x = layers.Concatenate(name="gap")([layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)])
    else:
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(config.dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", kernel_regularizer=reg, name="probabilities")(x)
    return keras.Model(inputs, outputs, name="soundkit_cnn")
