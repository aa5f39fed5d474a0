"""Spectrogram: waveform and log-mel spectrogram of a stored or uploaded clip, parameters adjustable."""

import app_support as app

app.header("Spectrogram", "Look at a clip the way the model does: a log-mel spectrogram.")
plots = app.need("plots")
