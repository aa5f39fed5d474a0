"""Results: per-class accuracy, confusion matrix, metrics, misclassified clips, run comparison."""

import streamlit as st

import app_support as app

app.header("Results", "How well each trained model does, class by class.")
runs = app.list_runs()
if not runs:
    st.info("No finished runs yet. Train a model on the **Train** page.", icon=":material/info:")
    st.stop()
