"""Public messages (no Streamlit): errors fit for a visitor, without server paths in hosted mode."""

from __future__ import annotations

import re

from soundkit_app.workspace.server_settings import Settings, settings

# -- messages --------------------------------------------------------------------------------------

_ABS_PATH = re.compile(r"(?<![\w.~/])/(?:[^\s/'\"`()<>,;:]+/)+")


def public_message(text: str, *, s: Settings | None = None) -> str:
    """A message fit for a visitor: in hosted mode every absolute path loses its folders (only the last
    part stays), so no server path is shown. Local mode: unchanged."""
    s = s or settings()
    if not s.hosted or not text:
        return text
    return _ABS_PATH.sub("", str(text))
