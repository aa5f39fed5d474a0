"""AppTest of the Label page's Map tab: the map is computed from real YAMNet embeddings of the stored
clips, the deliberately mislabelled clip is listed, and one click relabels it."""

from __future__ import annotations

import pytest
from synth import noise, tone, wav_bytes
from test_app import ok, open_page

SR = 16000


@pytest.fixture
def mapped_home(tmp_path, monkeypatch, yamnet_path):
    """4 tones labelled "tone", 4 noise clips labelled "noise", 1 noise clip labelled "tone", 1 unlabelled."""
    from soundkit.store import Store

    home = tmp_path / "home"
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(yamnet_path.parent))
    store = Store(home)
    for k in range(4):
        store.add(wav_bytes(tone(600 + 40 * k, 1.0, SR), SR), name=f"t{k}.wav", label="tone")
        store.add(wav_bytes(noise(1.0, SR, 0.4, seed=k), SR), name=f"n{k}.wav", label="noise")
    wrong = store.add(wav_bytes(noise(1.0, SR, 0.4, seed=9), SR), name="liar.wav", label="tone").id
    store.add(wav_bytes(tone(700, 1.0, SR), SR), name="mystery.wav")
    return home, {"wrong": [wrong]}


def test_map_tab_flags_the_mislabelled_clip_and_relabels_it(mapped_home):
    from soundkit.store import Store

    home, ids = mapped_home
    at = ok(open_page("label", timeout=120))
    assert not [b for b in at.button if b.key and b.key.startswith("label_map_fix_")]  # nothing before computing
    ok(at.button(key="label_map_compute").click().run())
    (wrong,) = ids["wrong"]
    fixes = [b for b in at.button if b.key and b.key.startswith("label_map_fix_")]
    assert [b.key for b in fixes] == [f"label_map_fix_{wrong}"], [b.key for b in fixes]
    assert fixes[0].label == "Relabel as noise"
    ok(fixes[0].click().run())
    assert Store(home).get(wrong).label == "noise"
    assert not [b for b in at.button if b.key and b.key.startswith("label_map_fix_")]


def test_regions_tab_adds_moves_and_deletes_a_region(tmp_path, monkeypatch):
    from soundkit.store import Store

    home = tmp_path / "home"
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    store = Store(home)
    rec = store.add(wav_bytes(tone(500, 8.0, SR), SR), name="field.wav")
    store.add(wav_bytes(tone(500, 1.0, SR), SR), name="short.wav", label="dog")  # too short to be offered
    at = ok(open_page("label", timeout=120))
    assert at.selectbox(key="label_regions_recording").options == ["field.wav (8.0 s)"]
    at.number_input(key="label_regions_start").set_value(1.0)
    at.number_input(key="label_regions_end").set_value(2.5)
    at.selectbox(key="label_regions_label").set_value("dog").run()
    ok(at.button(key="label_regions_add").click().run())
    (g,) = Store(home).regions(rec.id)
    assert (g.start, g.end, g.label) == (1.0, 2.5, "dog")
    at.number_input(key="label_regions_start").set_value(3.0)
    at.number_input(key="label_regions_end").set_value(2.0)  # end before start: one clear error, nothing moved
    at.button(key=f"label_regions_move_{g.id}").click().run()
    assert any("after its start" in e.value for e in at.error) and not at.exception
    assert Store(home).get_region(g.id).end == 2.5
    at.number_input(key="label_regions_end").set_value(4.0)
    ok(at.button(key=f"label_regions_move_{g.id}").click().run())
    assert (Store(home).get_region(g.id).start, Store(home).get_region(g.id).end) == (3.0, 4.0)
    ok(at.button(key=f"label_regions_delete_{g.id}").click().run())
    assert Store(home).regions() == []
