"""The clip-by-clip flow (soundkit_app.quicklabel): keys applied to a real Store, acknowledged once,
undo restoring the previous label; and the Label page's one-by-one view in AppTest (its buttons do
what the keys do; the keys themselves are driven in a real browser in tests/e2e/test_keyboard_browser.py)."""

from __future__ import annotations

import pytest
from synth import tone, wav_bytes
from test_app import ok, open_page

SR = 16000


@pytest.fixture
def home(tmp_path, monkeypatch):
    from soundkit.store import Store

    home = tmp_path / "home"
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    store = Store(home)
    for c in ("bird", "car", "dog"):
        store.create_label(c)
    for k in range(5):
        store.add(wav_bytes(tone(300 + 100 * k, 0.5, SR), SR), name=f"c{k}.wav", label="car" if k == 4 else None)
    return home


def test_keys_label_skip_undo_and_are_applied_once(home):
    from soundkit.store import Store
    from soundkit_app import quicklabel as q

    store = Store(home)
    flow = q.snapshot(store, {"unlabelled": False}, "created")
    classes = list(store.labels())
    ids = flow.ids
    state = {"session": "tab1", "keys": [{"seq": 0, "key": "1"}, {"seq": 1, "key": "next"}, {"seq": 2, "key": "3"}]}
    assert q.feed(store, flow, state, classes) == ["Labelled bird", "Labelled dog"]
    assert q.feed(store, flow, state, classes) == []  # the same keys again (a rerun): nothing twice
    assert flow.pos == 3 and flow.labelled == 2
    state["keys"].append({"seq": 3, "key": "9"})  # no 9th class: nothing
    state["keys"].append({"seq": 4, "key": "prev"})
    state["keys"].append({"seq": 5, "key": "2"})  # relabels clip 3 (dog -> car)
    q.feed(store, flow, state, classes)
    assert [store.get(i).label for i in ids] == ["bird", None, "car", None, "car"]
    q.feed(store, flow, {"session": "tab1", "keys": [{"seq": 6, "key": "undo"}]}, classes)
    assert store.get(ids[2]).label == "dog" and flow.pos == 2
    q.feed(store, flow, {"session": "tab1", "keys": [{"seq": 7, "key": "undo"}, {"seq": 8, "key": "undo"}]}, classes)
    assert [store.get(i).label for i in ids] == [None, None, None, None, "car"] and flow.pos == 0
    assert q.press(store, flow, "undo", classes) == "Nothing to undo"
    # a reloaded tab counts its keys from 0 again
    q.feed(store, flow, {"session": "tab2", "keys": [{"seq": 0, "key": "2"}]}, classes)
    assert store.get(ids[0]).label == "car"


def test_label_page_one_by_one_view(home):
    from soundkit.store import Store

    at = ok(open_page("label", timeout=120))
    at.toggle(key="label_quick_on").set_value(True)
    ok(at.run())
    assert "1-9" in " ".join(m.value for m in at.markdown)
    assert any("Clip 1 of 5" in m.value for m in at.markdown)
    ok(at.button(key="label_quick_pick_1").click().run())  # "2 · car"
    assert any("Clip 2 of 5" in m.value for m in at.markdown)
    ok(at.button(key="label_quick_next").click().run())
    ok(at.button(key="label_quick_pick_0").click().run())
    store = Store(home)
    labels = [r.label for r in store.clips(order="created")]
    assert labels == ["car", None, "bird", None, "car"]
    ok(at.button(key="label_quick_undo").click().run())
    assert [r.label for r in store.clips(order="created")] == ["car", None, None, None, "car"]
    assert any("Clip 3 of 5" in m.value for m in at.markdown)
