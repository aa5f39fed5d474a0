"""Classify page helpers: the model menu, cached classification, top-k and timeline tables, adding a
classified clip to the dataset, picking a stored clip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from soundkit.errors import SoundkitError
from soundkit_app import optional, show_errors
from soundkit_app.rendering import load_audio, safe_name, spectrogram_png
from soundkit_app.resources import broken_note, good_runs_first, list_runs, predictor, run_title, store_or_none

#: Model key of the pretrained AudioSet model in menus.
YAMNET_KEY = "pretrained:yamnet"


def model_choices() -> dict[str, str]:
    """{model key: title} for the Classify menu: readable trained runs newest first, pretrained
    YAMNet, then broken runs (marked; one warning line names them)."""
    runs, broken = good_runs_first(list_runs())
    broken_note(broken)
    choices = {str(r.path): run_title(r) for r in runs if r.name not in broken}
    if optional("models.yamnet") is not None:
        choices[YAMNET_KEY] = "YAMNet · AudioSet, pretrained (521 classes)"
    choices.update({str(r.path): run_title(r) for r in runs if r.name in broken})
    return choices


@st.cache_resource(show_spinner="Loading YAMNet...")
def _yamnet() -> Any:
    from soundkit.models.yamnet import YamnetPredictor

    return YamnetPredictor.load()


def predictor_for(model_key: str) -> Any:
    """A cached predictor for a model key (a run directory or :data:`YAMNET_KEY`)."""
    if model_key == YAMNET_KEY:
        return _yamnet()
    return predictor(model_key)


def _model_stamp(model_key: str) -> float:
    if model_key == YAMNET_KEY:
        return 0.0
    return max((p.stat().st_mtime for p in Path(model_key).glob("model.*")), default=0.0)


@st.cache_data(show_spinner="Classifying...", max_entries=64)
def _classify(data: bytes, name: str, model_key: str, stamp: float) -> tuple[Any, float]:
    pred = predictor_for(model_key)
    y, sr = load_audio(data, name)
    prediction = pred.predict(y, sr, top_k=5)
    features = getattr(pred, "features", None)
    window = features.window_seconds if features is not None else 0.975
    return prediction, float(window)


def classify(data: bytes, name: str, model_key: str) -> tuple[Any, float]:
    """(Prediction, window seconds) of a clip, cached per content and model."""
    return _classify(data, name, model_key, _model_stamp(model_key))


def top_table(prediction: Any) -> Any:
    """DataFrame of the top-k labels (label, probability)."""
    import pandas as pd

    return pd.DataFrame([{"label": lab, "probability": float(p)} for lab, p in prediction.top])


def timeline_table(prediction: Any) -> Any:
    """DataFrame of the per-window timeline (start, end, label, probability)."""
    import pandas as pd

    return pd.DataFrame(
        [{"start": s.start, "end": s.end, "label": s.label, "probability": s.probability} for s in prediction.timeline]
    )


#: Vega-Lite spec of the per-window timeline: one bar per window, coloured by its top label.
TIMELINE_SPEC = {
    "height": 90,
    "mark": {"type": "bar", "cornerRadius": 2},
    "encoding": {
        "x": {"field": "start", "type": "quantitative", "title": "seconds", "scale": {"nice": False}},
        "x2": {"field": "end"},
        "y": {"field": "label", "type": "nominal", "title": None},
        "color": {"field": "label", "type": "nominal", "legend": None},
        "opacity": {"field": "probability", "type": "quantitative", "scale": {"domain": [0, 1]}, "legend": None},
        "tooltip": [
            {"field": "label"},
            {"field": "probability", "format": ".0%"},
            {"field": "start", "format": ".2f"},
            {"field": "end", "format": ".2f"},
        ],
    },
}


def clip_events(prediction: Any, duration: float, *, y: Any = None, sr: int | None = None) -> list[Any]:
    """The clip's events: the listener's event detector (soundkit.listen) over its window
    probabilities (default thresholds, smoothed over 3 windows), onsets placed from the audio
    ``y`` at ``sr`` when given."""
    from soundkit.listen import timeline_events

    return timeline_events(prediction, smooth=3, duration=duration, y=y, sr=sr)


def run_features(model_key: str) -> Any:
    """The FeatureConfig a model sees (the recipe's defaults for YAMNet and unreadable runs)."""
    from soundkit.config import FeatureConfig

    if model_key != YAMNET_KEY:
        from soundkit.runs import Run

        try:
            return Run(Path(model_key)).load_config().features
        except SoundkitError:
            pass
    return FeatureConfig()


@st.cache_data(show_spinner=False, max_entries=64)
def logmel_png(data: bytes, name: str, model_key: str) -> bytes | None:
    """PNG of the clip's log-mel spectrogram as the model's FeatureConfig computes it."""
    y, sr = load_audio(data, name)
    return spectrogram_png(y, sr, run_features(model_key), title=None)


def add_to_dataset(data: bytes, name: str, *, suggested: str | None, key: str) -> None:
    """ "Add to dataset as ..." for a classified clip: the predicted label or any other."""
    store = store_or_none()
    if store is None:
        return
    labels = list(store.labels())
    options = ([suggested] if suggested else []) + [x for x in labels if x != suggested]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    choice = c1.selectbox(
        "Add to dataset as", options, index=0 if options else None, key=f"{key}_label", accept_new_options=True,
        placeholder="Pick or type a class",
    )  # fmt: skip
    if c2.button("Add to dataset", key=f"{key}_button", disabled=not choice, icon=":material/add:", width="stretch"):
        with show_errors(stop=False):
            res = store.add_many([{"data": data, "name": safe_name(name), "label": choice, "origin": "classify"}])
            if res.errors:
                st.error(res.errors[0][1], icon=":material/error:")
            elif res.added:
                st.toast(f"Added {res.records[0].name} as {res.records[0].label}", icon=":material/check:")
            else:  # stored already: it keeps its label (relabel it on the Label page)
                rec = res.records[0]
                st.toast(f"{rec.name} is in the dataset already, labelled {rec.label or 'unlabelled'}",
                         icon=":material/info:")


def stored_clip_picker(*, key: str) -> tuple[bytes, str] | None:
    """Pick a clip from the label store: (bytes, name), or None (with a hint) when there is none."""
    store = store_or_none()
    if store is None:
        st.info("The label store is not available in this build yet.", icon=":material/construction:")
        return None
    records = store.clips(order="created", limit=2000)
    if not records:
        st.info("The dataset is empty. Add clips on the **Label** page.", icon=":material/info:")
        return None
    by_id = {r.id: r for r in records}
    chosen = st.selectbox(
        "Clip from the dataset",
        list(by_id),
        format_func=lambda i: f"{by_id[i].name} · {by_id[i].label or 'unlabelled'} (#{i})",
        key=key,
    )
    rec = by_id[chosen]
    with show_errors(stop=False):
        return store.read_bytes(rec), rec.name
    return None
