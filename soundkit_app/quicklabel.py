"""Label page, clip-by-clip flow at keyboard speed: one clip at a time (player, spectrogram, the
model's suggestion), number keys 1-9 pick a class, Space plays/pauses, the arrows move to the
previous/next clip, U or Ctrl+Z undoes the last label (the clip gets its previous label back).

Keys: components/keys/keys.js (an ``st.components.v2`` module, plain JavaScript) sends every key not
yet acknowledged, with a sequence number; :func:`feed` applies the new ones in order and acknowledges
them, so a rerun that Streamlit interrupts loses no key and applies none twice. Space never reaches
Python: the module plays the ``<audio>`` of the player container itself.

The flow walks a snapshot of the clips the Clips tab's filters select (taken when the filters change
or on "Start over"), so a clip labelled under the "Unlabelled" filter stays in the walk and the arrows
and undo can go back to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

KEYS_JS = Path(__file__).resolve().parents[1] / "components" / "keys" / "keys.js"
#: The st.container key around the current clip's player (Space plays the <audio> inside it).
PLAYER_KEY = "label_quick_player"
_STATE = "label_quick_flow"
LEGEND = "**1-9** pick a class · **Space** play / pause · **←** / **→** previous / next clip · **U** or **Ctrl+Z** undo"


@dataclass
class Flow:
    """Where a visitor is in the walk: the clip ids, the position, the undo history
    ((clip id, label before, position) per label given), keys acknowledged."""

    signature: str
    ids: list[int]
    pos: int = 0
    history: list[tuple[int, str | None, int]] = field(default_factory=list)
    labelled: int = 0
    session: str | None = None
    ack: int = -1

    @property
    def done(self) -> bool:
        return self.pos >= len(self.ids)

    @property
    def current(self) -> int | None:
        return None if self.done else self.ids[self.pos]


def snapshot(store: Any, query: dict[str, Any], order: str) -> Flow:
    """A fresh walk over the clips ``store.clips(**query, order=order)`` returns now."""
    return Flow(repr((sorted(query.items()), order)), [r.id for r in store.clips(**query, order=order)])


def flow_for(store: Any, query: dict[str, Any], order: str, *, restart: bool = False) -> Flow:
    """This session's walk for these filters (a new one when they changed, or on ``restart``)."""
    sig = repr((sorted(query.items()), order))
    flow = st.session_state.get(_STATE)
    if restart or flow is None or flow.signature != sig:
        flow = snapshot(store, query, order)
        st.session_state[_STATE] = flow
    return flow


def press(store: Any, flow: Flow, key: str, classes: list[str]) -> str | None:
    """Apply one key ("1".."9", "next", "prev", "undo") to the walk; a line saying what it did, or None.

    A number labels the current clip with that class (the n-th of ``classes``) and moves on; a number
    without a class, or a label on a finished walk, does nothing.
    """
    if key.isdigit() and len(key) == 1:
        i = int(key) - 1
        if flow.done or not (0 <= i < len(classes)):
            return None
        clip_id = flow.ids[flow.pos]
        before = store.get(clip_id).label
        store.set_label([clip_id], classes[i])
        flow.history.append((clip_id, before, flow.pos))
        flow.labelled += 1
        flow.pos += 1
        return f"Labelled {classes[i]}"
    if key == "next":
        flow.pos = min(flow.pos + 1, len(flow.ids))
        return None
    if key == "prev":
        flow.pos = max(flow.pos - 1, 0)
        return None
    if key == "undo":
        if not flow.history:
            return "Nothing to undo"
        clip_id, before, pos = flow.history.pop()
        store.set_label([clip_id], before)
        flow.labelled -= 1
        flow.pos = pos
        return f"Undone: back to {before or 'unlabelled'}"
    return None


def feed(store: Any, flow: Flow, state: dict[str, Any] | None, classes: list[str]) -> list[str]:
    """Apply the keys of the component's state not applied yet (in order); what they did."""
    if not state:
        return []
    if state.get("session") != flow.session:  # a new browser tab (or reload): its keys count from 0
        flow.session, flow.ack = state.get("session"), -1
    said = []
    for k in sorted(state.get("keys") or [], key=lambda e: e["seq"]):
        if int(k["seq"]) <= flow.ack:
            continue
        msg = press(store, flow, str(k["key"]), classes)
        flow.ack = int(k["seq"])  # right after the store write: an interrupted rerun never repeats it
        if msg:
            said.append(msg)
    return said


@st.cache_resource(show_spinner=False)
def _component() -> Any:
    return st.components.v2.component("soundkit_keys", js=KEYS_JS.read_text(encoding="utf-8"), isolate_styles=False)


def _pressed(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        return value["pressed"]
    except (KeyError, TypeError):
        return getattr(value, "pressed", None)


def _on_keys(key: str) -> None:
    """Apply the new keys before the page runs (so its counts above the flow are already current)."""
    from soundkit_app import resources

    flow = st.session_state.get(_STATE)
    if flow is None:
        return
    store = resources.store()
    said = feed(store, flow, _pressed(st.session_state.get(key)), list(store.labels()))
    st.session_state.setdefault("label_quick_said", []).extend(said)


def _press_button(store: Any, flow: Flow, key: str, classes: list[str]) -> None:
    msg = press(store, flow, key, classes)
    if msg:
        st.session_state.setdefault("label_quick_said", []).append(msg)


def keys(*, key: str, flow: Flow) -> dict[str, Any] | None:
    """Mount the keyboard component; its state ({"session", "keys"}) or None."""
    result = _component()(
        key=key, data={"ack": flow.ack, "session": flow.session, "player": f".st-key-{PLAYER_KEY}"},
        on_pressed_change=lambda: _on_keys(key), height="content",
    )
    return _pressed(result)


def quick_section(store: Any, query: dict[str, Any], order: str) -> None:
    """The clip-by-clip flow (the Clips tab with "Label one by one" on), a fragment: a key reruns the
    flow alone, not the whole Label page (its counts at the top catch up on the next full run)."""
    _flow_fragment(store, query, order)


@st.fragment
def _flow_fragment(store: Any, query: dict[str, Any], order: str) -> None:
    from soundkit_app import label as ui
    from soundkit_app import rendering, show_errors

    classes = list(store.labels())
    restart = st.button("Start over", key="label_quick_restart", icon=":material/restart_alt:")
    flow = flow_for(store, query, order, restart=restart)
    with show_errors(stop=False):
        said = st.session_state.pop("label_quick_said", [])
        said += feed(store, flow, keys(key="label_quick_keys", flow=flow), classes)  # what the callback left
        for msg in said[-3:]:
            st.toast(msg, icon=":material/keyboard:")
    st.markdown(LEGEND)
    if not classes:
        st.info("No classes yet: create them on the **Classes** tab, then number keys pick them.", icon=":material/info:")
    else:
        st.caption(" · ".join(f"**{i + 1}** {c}" for i, c in enumerate(classes[:9]))
                   + (" (classes after the 9th: use the table view)" if len(classes) > 9 else ""))
    now = st.container(key="label_quick_now")
    if not flow.ids:
        now.info("No clips match these filters.", icon=":material/filter_alt_off:")
        return
    if flow.done:
        now.success(f"Done: {len(flow.ids)} clips walked, {flow.labelled} labelled. ← goes back, U undoes.",
                    icon=":material/done_all:")
    else:
        r = store.get(flow.current)
        now.markdown(f"Clip {flow.pos + 1} of {len(flow.ids)}: **{r.name}** · "
                     f"<span id='label_quick_label'>{r.label or 'unlabelled'}</span>", unsafe_allow_html=True)
        if r.pred_label:
            now.caption(f"model suggests {r.pred_label} ({r.pred_confidence or 0:.0%})")
        if r.deleted:
            now.warning("This clip was deleted since the walk started; → skips it.")
        else:
            autoplay = st.session_state.get("label_quick_autoplay", False)
            with st.container(key=PLAYER_KEY):
                st.audio(str(r.path), format=rendering.audio_mime(str(r.path)), autoplay=autoplay)
            with show_errors(stop=False):
                st.image(ui.spectrogram_thumb(str(r.path), r.hash, large=True), width="stretch")
    b = st.columns(min(len(classes), 9) + 3)
    for i, c in enumerate(classes[:9]):
        b[i].button(f"{i + 1} · {c}", key=f"label_quick_pick_{i}", disabled=flow.done, width="stretch",
                    on_click=_press_button, args=(store, flow, str(i + 1), classes))
    for j, (what, icon) in enumerate([("prev", "arrow_back"), ("next", "arrow_forward"), ("undo", "undo")]):
        b[-3 + j].button(what.capitalize(), key=f"label_quick_{what}", icon=f":material/{icon}:", width="stretch",
                         on_click=_press_button, args=(store, flow, what, classes))
    st.toggle("Play each clip when it opens", key="label_quick_autoplay")
    counts = store.stats()
    st.caption(f"{flow.labelled} labelled in this walk · the dataset: {counts['labelled']} labelled, "
               f"{counts['unlabelled']} unlabelled.")
