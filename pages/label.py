"""Label: the dataset. Classes, uploads, recordings, a filterable table, bulk labelling, import, export."""

import app_support as app

app.header("Label", "Build the dataset: add clips, name the classes, label quickly.")
store = app.store()
