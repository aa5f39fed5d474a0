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
