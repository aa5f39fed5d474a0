"""soundkit web app: ``streamlit run streamlit_app.py``.

The entry script only: the pages, their config and navigation are in :mod:`soundkit_app.navigation`.
"""

from __future__ import annotations

from soundkit_app.navigation import run

if __name__ == "__main__":
    run()
