"""AppTest entry point: runs the app (soundkit_app.navigation.run) from a folder without a pages/ directory.

Next to a pages/ folder, Streamlit starts every AppTest run in its legacy "pages directory" mode
(AppTest resets that mode before each run), where a page runs without the app's navigation and an
st.rerun changes the widget ids between runs. The app registers its pages by absolute path, so the
same navigation runs from here in the normal st.navigation mode, as it does in a browser.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soundkit_app import navigation  # noqa: E402

navigation.run()
