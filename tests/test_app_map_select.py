"""AppTest of the Map tab's selections: a clicked point plays and takes a label; a box labels every
point inside it at once (the chart's selection state set as the browser sends it: {"selection":
{"click": [{"id": ...}], "box": {"x": [x0, x1], "y": [y0, y1]}}})."""

from __future__ import annotations

import numpy as np
from test_app import ok, open_page
from test_app_datamap import mapped_home  # noqa: F401 - the fixture (tones, noise, a liar, one unlabelled)


def _map(at, home):
    return at.session_state[f"label_map:{home.resolve()}"]


def test_click_and_box_selection_label_the_selected_clips(mapped_home):  # noqa: F811
    from soundkit.store import Store

    home, _ = mapped_home
    store = Store(home)
    store.create_label("hiss")  # an empty class to give the box
    at = ok(open_page("label", timeout=120))
    ok(at.button(key="label_map_compute").click().run())
    m = _map(at, home)
    mystery = m.names.index("mystery.wav")
    assert m.labels[mystery] is None
    at.session_state["label_map_chart"] = {"selection": {"click": [{"id": m.ids[mystery]}], "box": {}}}
    ok(at.run())
    assert any("1 selected: mystery.wav" in md.value for md in at.markdown)
    assert len(at.get("audio")) == 1  # the clicked clip's player
    ok(at.selectbox(key="label_map_group_label").set_value("tone").run())
    ok(at.button(key="label_map_group_apply").click().run())
    assert store.get(int(m.ids[mystery])).label == "tone"

    # a box around the noise clips n0..n2: exactly the points inside it get the label
    pick = [m.names.index(f"n{k}.wav") for k in range(3)]
    lo, hi = m.xy[pick].min(axis=0) - 1e-3, m.xy[pick].max(axis=0) + 1e-3
    inside = [i for i in range(len(m.ids)) if np.all(m.xy[i] >= lo) and np.all(m.xy[i] <= hi)]
    assert set(pick) <= set(inside)
    at.session_state["label_map_chart"] = {"selection": {"click": [], "box": {"x": [float(hi[0]), float(lo[0])],
                                                                                  "y": [float(lo[1]), float(hi[1])]}}}
    ok(at.run())
    assert any(f"{len(inside)} selected" in md.value for md in at.markdown)
    ok(at.selectbox(key="label_map_group_label").set_value("hiss").run())
    ok(at.button(key="label_map_group_apply").click().run())
    got = {r.name: r.label for r in store.clips()}
    assert {m.names[i] for i in inside} == {name for name, lab in got.items() if lab == "hiss"}
    assert got["t0.wav"] == "tone" and got["mystery.wav"] in ("tone", "hiss")
