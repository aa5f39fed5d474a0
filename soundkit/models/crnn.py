"""A convolutional recurrent network on log-mel windows: conv blocks, then a GRU over time.

The recipe's next step after the CNN (Cakir et al. 2017, "Convolutional recurrent neural networks
for polyphonic sound event detection"): convolutions learn local time-frequency patterns, a
bidirectional GRU reads the sequence of their frequency-pooled frames, so the order of events in
the window counts. Input is raw log-mel dB (n_mels, frames, 1) within [-80, 0], rescaled inside
the model, as for :mod:`soundkit.models.cnn`; training and serving share the log-mel path.
``TrainConfig.options``: ``filters`` (default :data:`FILTERS`), ``gru_units`` (:data:`GRU_UNITS`).
"""

from __future__ import annotations

from soundkit.config import TrainConfig

KIND = "logmel"

#: Filters of the convolutional blocks (conv 3x3, batch norm, ReLU, pooling of mels and frames).
FILTERS = (32, 64, 128)
#: Units of the bidirectional GRU in each direction.
GRU_UNITS = 64


def build(input_shape: tuple[int, int, int], n_classes: int, config: TrainConfig):
    """The CRNN as an uncompiled ``keras.Model``: (batch, n_mels, frames, 1) -> (batch, n_classes)."""
    import keras
    from keras import layers

    reg = keras.regularizers.L1L2(l1=config.l1, l2=config.l2)
    inputs = keras.Input(shape=tuple(input_shape), name="logmel_db")
    x = layers.Rescaling(1 / 40, offset=1.0, name="normalise")(inputs)  # [-80, 0] dB -> [-1, 1]
    x = layers.AveragePooling2D((2, 2), name="downsample")(x)
    for i, filters in enumerate(config.options.get("filters", FILTERS)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling2D((4, 2) if i == 0 else (2, 2), padding="same", name=f"pool{i}")(x)
    x = layers.Permute((2, 1, 3), name="time_first")(x)  # (mels, frames, ch) -> (frames, mels, ch)
    x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]), name="frames")(x)
    x = layers.Bidirectional(layers.GRU(int(config.options.get("gru_units", GRU_UNITS))), name="gru")(x)
    x = layers.Dropout(config.dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", kernel_regularizer=reg, name="probabilities")(x)
    return keras.Model(inputs, outputs, name="soundkit_crnn")
