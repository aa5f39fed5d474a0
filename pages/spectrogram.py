"""Spectrogram: waveform and log-mel spectrogram of a stored or uploaded clip, parameters adjustable."""

import streamlit as st

import soundkit_app as app
from soundkit_app import augment as ui
from soundkit_app import rendering

app.header("Spectrogram", "Look at a clip the way the model does: a log-mel spectrogram, in dB.")

picked = ui.clip_input(key="spec")
if picked is None:
    st.stop()
data, name = picked

with st.sidebar:
    st.subheader("Spectrogram parameters")
    st.caption("Defaults are the recipe's: 128 mel bands from a 1024-sample window and hop at 44.1 kHz.")
    n_mels = st.slider("Mel bands (n_mels)", 16, 256, 128, step=8, key="spec_n_mels")
    n_fft = st.select_slider("Window (n_fft, samples)", [256, 512, 1024, 2048, 4096], value=1024, key="spec_n_fft")
    hop = st.select_slider("Hop (hop_length, samples)", [128, 256, 512, 1024, 2048], value=1024, key="spec_hop")
    fmax = st.slider("Highest frequency (fmax, Hz)", 2000, 22050, 22050, step=50, key="spec_fmax")
    if st.button("Reset to the recipe", key="spec_reset", icon=":material/restart_alt:"):
        for k in ("spec_n_mels", "spec_n_fft", "spec_hop", "spec_fmax"):
            st.session_state.pop(k, None)
        st.rerun()

with app.show_errors():
    features = ui.feature_config(n_mels=n_mels, n_fft=n_fft, hop_length=hop, fmax=float(fmax))
    y, sr = rendering.load_audio(data, name)
    png = ui.spectrogram_figure(data, name, features.to_json())

st.markdown(f"#### {rendering.safe_name(name)}")
st.audio(data, format=rendering.audio_mime(name))
frames = 1 + len(y) // features.hop_length
st.caption(
    f"{len(y) / sr:.2f} s at {sr} Hz · {features.n_mels} bands × {frames} frames "
    f"({features.hop_length / sr * 1000:.1f} ms per frame) · a model window of {features.frames} frames covers "
    f"{features.window_seconds:.2f} s"
)
rendering.image(st, png)
