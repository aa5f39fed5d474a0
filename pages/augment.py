"""Augment: preview time-stretch, pitch shift and friends, save a policy, add augmented copies."""

import streamlit as st

import soundkit_app as app
from soundkit_app import augment as ui
from soundkit_app import rendering, training

app.header("Augment", "Hear and see what each augmentation does before training with it.")
augment = app.need("augment", "preview", "engine")

engine = augment.engine()
if engine == "rubberband":
    st.success("Engine: **Rubber Band** (the rubberband program), as in the recipe.", icon=":material/check_circle:")
else:
    st.warning(
        "Engine: **librosa fallback** (phase vocoder). Install Rubber Band (`apt install rubberband-cli`) for the "
        "recipe's quality.",
        icon=":material/warning:",
    )

picked = ui.clip_input(key="aug")
if picked is None:
    st.stop()
data, name = picked

c1, c2 = st.columns(2)
ratio = c1.slider(
    "Time stretch (duration ratio)", 0.5, 2.0, 1.0, step=0.01, key="aug_ratio",
    help="Output duration / input duration, as rubberband -t: 1.2 makes the clip 20% longer.",
)  # fmt: skip
semitones = c2.slider("Pitch shift (semitones)", -12.0, 12.0, 0.0, step=0.5, key="aug_semitones")
with st.expander("More transforms", icon=":material/tune:"):
    m1, m2, m3 = st.columns(3)
    add_noise = m1.toggle("Add noise", key="aug_noise_on")
    snr = m1.slider("Noise SNR (dB)", -20, 60, 20, key="aug_snr", disabled=not add_noise)
    gain = m2.slider("Gain (dB)", -12.0, 12.0, 0.0, step=0.5, key="aug_gain")
    shift = m3.slider("Time shift (s)", -1.0, 1.0, 0.0, step=0.05, key="aug_shift")
    seed = m3.number_input("Seed", 0, 10_000, 0, key="aug_seed")

settings = {
    "time_ratio": float(ratio),
    "semitones": float(semitones),
    "noise_snr_db": float(snr) if add_noise else None,
    "gain_db": float(gain),
    "shift_s": float(shift),
    "seed": int(seed),
}
with app.show_errors():
    y, sr = rendering.load_audio(data, name)
    aug_wav, params = ui.augmented(data, name, settings)

span = max(len(y) / sr, float(params["seconds_out"]))  # one time scale: widths follow the durations
left, right = st.columns(2)
with left:
    st.markdown(f"**Original** · {len(y) / sr:.2f} s")
    st.audio(data, format=rendering.audio_mime(name))
    rendering.image(st, ui.spectrogram_figure(data, name, None, span))
with right:
    st.markdown(f"**Augmented** · {params['seconds_out']:.2f} s · engine {params['engine']}")
    st.audio(aug_wav, format="audio/wav")
    rendering.image(st, ui.spectrogram_figure(aug_wav, "augmented.wav", None, span))
st.caption("Both are drawn on the same time scale, so a stretched copy is wider than its original.")
applied = ", ".join(t["type"] for t in params.get("transforms", [])) or "nothing (all settings neutral)"
st.caption(f"Applied: {applied}.")

st.divider()
s1, s2 = st.columns(2)
with s1, st.container(border=True):
    st.markdown("**Save as training policy**")
    st.caption(
        "Each training clip gets copies with settings drawn between neutral and the ones above (both directions "
        "for stretch and pitch). Pick it on the Train page."
    )
    p1, p2 = st.columns([2, 1])
    policy_name = p1.text_input("Name", key="aug_policy_name", placeholder="my-policy")
    copies = p2.number_input("Copies per clip", 1, 16, 2, key="aug_copies")
    mixup = st.toggle(
        "Also mixup", key="aug_mixup",
        help="Blend pairs of training windows and their labels during training (alpha 0.2); on ESC-10 the "
        "recipe's copies plus mixup measured best (BENCHMARKS.md).",
    )
    if st.button("Save policy", key="aug_save", icon=":material/save:", disabled=not policy_name.strip()):
        with app.show_errors(stop=False):
            policy = ui.policy_from_settings(settings, name=policy_name.strip(), copies=int(copies), mixup=mixup)
            path = training.save_policy(policy)
            st.session_state["augment_policy"] = str(path)
            st.toast(f"Saved policy {path.stem}", icon=":material/check:")
with s2, st.container(border=True):
    st.markdown("**Add augmented copy to the dataset**")
    st.caption("The copy keeps the original's label and source, so it always lands in the same fold.")
    label = ui.augmented_copy_label(key="aug_label")
    if st.button("Add copy", key="aug_add", icon=":material/add:"):
        with app.show_errors(stop=False):
            rec = ui.add_augmented_copy(aug_wav, name=name, original=data, label=label, params=params)
            st.toast(f"Added {rec.name}" + (f" as {rec.label}" if rec.label else ""), icon=":material/check:")
