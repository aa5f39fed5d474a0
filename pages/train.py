"""Train: pick classes and a model family, launch a background training job, watch it, cancel it."""

import app_support as app

app.header("Train", "Train a classifier on the labelled clips, in the background.")
jobs = app.need("jobs")
