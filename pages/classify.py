"""Classify: upload or record clips and see the model's top labels, spectrogram and timeline."""

import streamlit as st

import app_support as app

app.header("Classify", "Upload or record a sound and see what a trained model hears in it.")

runs = app.list_runs()
if not runs:
    st.info("No trained model yet. Label some clips, then train one on the **Train** page.", icon=":material/info:")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()
