"""Augment: preview time-stretch, pitch shift and friends, save a policy, add augmented copies."""

import app_support as app

app.header("Augment", "Hear and see what each augmentation does before training with it.")
augment = app.need("augment")
