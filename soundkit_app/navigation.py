"""The app's pages, page config and navigation (run by ``streamlit run streamlit_app.py``).

Every page lives in pages/ and stays thin (widgets + calls into soundkit + rendering). This module
is the app's one entry: streamlit_app.py calls :func:`run`, and :func:`soundkit_app._ensure_navigation`
calls :func:`configure` and :func:`navigation` for a page Streamlit started on its own.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import soundkit_app
from soundkit_app import workspace

__all__ = ["PAGES", "navigation", "configure", "run"]

ROOT = Path(__file__).resolve().parent.parent
#: (page file, title, icon), in menu order; the first is the default page.
PAGES = [
    (ROOT / "pages" / "classify.py", "Classify", ":material/graphic_eq:"),
    (ROOT / "pages" / "listen.py", "Listen", ":material/hearing:"),
    (ROOT / "pages" / "label.py", "Label", ":material/label:"),
    (ROOT / "pages" / "spectrogram.py", "Spectrogram", ":material/equalizer:"),
    (ROOT / "pages" / "augment.py", "Augment", ":material/tune:"),
    (ROOT / "pages" / "train.py", "Train", ":material/model_training:"),
    (ROOT / "pages" / "results.py", "Results", ":material/analytics:"),
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
    """Configure, register the navigation and run the chosen page."""
    configure()
    page = navigation()
    with soundkit_app.navigation_scope():
        page.run()
