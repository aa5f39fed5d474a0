"""Classify: upload or record clips and see the model's top labels, spectrogram and timeline."""

import streamlit as st

import soundkit_app as app
from soundkit_app import classify as ui
from soundkit_app import rendering, timeline

app.header("Classify", "Upload or record a sound and see what a model hears in it.")

models = ui.model_choices()
if not models:
    st.info("No model yet. Label some clips, then train one on the **Train** page.", icon=":material/info:")
    app.page_link(st, "train", label="Go to Train", icon=":material/model_training:")
    st.stop()

model_key = st.selectbox(
    "Model", list(models), format_func=models.get, key="classify_model", help="Trained runs, newest first."
)
source = st.radio(
    "Clip",
    ["Upload", "Record", "From the dataset"],
    horizontal=True,
    key="classify_source",
    label_visibility="collapsed",
)
clips: list[tuple[bytes, str]] = []
if source == "Upload":
    files = st.file_uploader(
        "Audio clips (wav, flac, ogg, mp3)", type=app.AUDIO_TYPES, accept_multiple_files=True, key="classify_upload"
    )
    clips = [rendering.uploaded_bytes(f) for f in files or []]
elif source == "Record":
    recording = st.audio_input("Record a sound", sample_rate=app.RECORD_SR, key="classify_record")
    if recording is not None:
        clips = [(recording.getvalue(), rendering.recording_name())]
else:
    picked = ui.stored_clip_picker(key="classify_stored")
    if picked is not None:
        clips = [picked]

if not clips:
    st.caption("Add a clip above to classify it.")
    st.stop()

MAX_CLIPS = 20
if len(clips) > MAX_CLIPS:
    st.warning(f"Showing the first {MAX_CLIPS} of {len(clips)} clips.", icon=":material/warning:")
for i, (data, name) in enumerate(clips[:MAX_CLIPS]):
    with st.container(border=True):
        with app.show_errors(stop=False):
            y, sr = rendering.load_audio(data, name)
            pred, window_s = ui.classify(data, name, model_key)
            label, prob = pred.top[0]
            st.markdown(f"#### {rendering.safe_name(name)}")
            st.markdown(f"Heard: **{label}** · {prob:.0%}")
            left, right = st.columns([2, 3])
            with left:
                st.audio(data, format=rendering.audio_mime(name))
                st.caption(f"{len(y) / sr:.1f} s")
                st.bar_chart(
                    ui.top_table(pred), x="label", y="probability", horizontal=True, sort="-probability", height=220
                )
            with right:
                rendering.image(st, ui.logmel_png(data, name, model_key))
            if len(pred.timeline) > 1:
                duration = len(y) / sr
                st.caption(f"Top label per {window_s:.2f} s window (each drawn over its own slice of the clip)")
                timeline.chart(st, timeline.prediction_table(pred, duration=duration), x0=0.0, x1=duration)
                events = ui.clip_events(pred, duration, y=y, sr=sr)
                if events:
                    st.caption(f"{len(events)} event(s): " + ", ".join(
                        f"{e.label} {e.start:.1f}-{e.end:.1f} s ({e.mean:.0%})" for e in events[:12]))
            ui.add_to_dataset(data, name, suggested=label, key=f"classify_add_{i}")
