"""soundkit web app: ``streamlit run streamlit_app.py``.

Navigation only; every page lives in pages/ and stays thin (widgets + calls into soundkit + rendering).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import soundkit_app
from soundkit_app import workspace

HERE = Path(__file__).resolve().parent
#: (page file, title, icon), in menu order; the first is the default page.
PAGES = [
    (HERE / "pages" / "classify.py", "Classify", ":material/graphic_eq:"),
    (HERE / "pages" / "listen.py", "Listen", ":material/hearing:"),
    (HERE / "pages" / "label.py", "Label", ":material/label:"),
    (HERE / "pages" / "spectrogram.py", "Spectrogram", ":material/equalizer:"),
    (HERE / "pages" / "augment.py", "Augment", ":material/tune:"),
    (HERE / "pages" / "train.py", "Train", ":material/model_training:"),
    (HERE / "pages" / "results.py", "Results", ":material/analytics:"),
]


def navigation() -> st.navigation:
    """Register the pages with st.navigation and return the page to run."""
    pages = [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]
    return st.navigation(pages)


def configure() -> None:
    """Page config and session state, once per script run."""
    st.set_page_config(page_title="soundkit", page_icon=":material/graphic_eq:", layout="wide")
    soundkit_app.init_state()
    workspace.enter()  # hosted mode: this session's private workspace (local mode: nothing to do)


def run() -> None:
    configure()
    page = navigation()
    with soundkit_app.navigation_scope():
        page.run()


if __name__ == "__main__":
    run()
