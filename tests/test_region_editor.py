"""The region editor's Python side (soundkit_app.region_editor) and model suggestions
(soundkit.regions.suggest_regions): edits from the component applied to a real store (bad ones
refused whole), the overview sent instead of the audio, the event detector of a real run (the tiny
hand-weighted low/high model) proposing regions at the tones' places, and the Regions tab in AppTest."""

from __future__ import annotations

import base64
import io
import os

import numpy as np
import pytest
from synth import tone, wav_bytes
from test_app import ok, open_page

from soundkit.errors import ParameterError, SoundkitError, StoreError
from soundkit.store import Store
from soundkit_app import region_editor as ed

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SR = 22050


def scene(sr: int = SR) -> np.ndarray:
    """2 s silence, 1.5 s low tone, 2 s silence, 1.5 s high tone, 2 s silence (9 s)."""
    gap = np.zeros(int(2 * sr), np.float32)
    return np.concatenate([gap, tone(300, 1.5, sr, 0.5), gap, tone(8000, 1.5, sr, 0.5), gap])


@pytest.fixture
def store_rec(tmp_path):
    store = Store(tmp_path / "home")
    rec = store.add(wav_bytes(scene(), SR), name="scene.wav")
    return store, rec


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from tiny_run import make_run

    return make_run(tmp_path_factory.mktemp("tiny") / "run")


def test_edits_add_move_relabel_accept_delete(store_rec):
    store, rec = store_rec
    msg, rid = ed.apply_edit(store, rec.id, {"op": "add", "start": 1.0, "end": 2.5, "label": "dog"})
    g = store.get_region(rid)
    assert (g.start, g.end, g.label, g.suggested_by) == (1.0, 2.5, "dog", "user") and "dog" in msg
    ed.apply_edit(store, rec.id, {"op": "move", "id": rid, "start": 3.0, "end": 4.25})
    ed.apply_edit(store, rec.id, {"op": "relabel", "id": rid, "label": "cat"})
    g = store.get_region(rid)
    assert (g.start, g.end, g.label) == (3.0, 4.25, "cat")
    assert ed.apply_edit(store, rec.id, {"op": "delete", "id": rid}) == ("Region deleted", None)
    assert store.regions(rec.id) == []


@pytest.mark.parametrize("edit, words", [
    ({"op": "add", "start": 2.0, "end": 2.0, "label": "dog"}, "after its start"),  # zero length
    ({"op": "add", "start": 2.0, "end": 2.05, "label": "dog"}, "shorter than"),
    ({"op": "add", "start": 8.0, "end": 12.0, "label": "dog"}, "ends after"),  # beyond the recording
    ({"op": "add", "start": -1.0, "end": 1.0, "label": "dog"}, ">= 0"),
    ({"op": "add", "start": 1.0, "end": 2.0, "label": "a/b"}, "must not contain"),  # unknown label chars
    ({"op": "add", "start": 1.0, "end": 2.0, "label": "dog\x07"}, "control characters"),
    ({"op": "add", "start": 1.0, "end": 2.0, "label": "  "}, "empty"),
    ({"op": "add", "start": "soon", "end": 2.0, "label": "dog"}, "number of seconds"),
    ({"op": "move", "id": 0, "start": 1.0, "end": 2.0}, "not a region of this recording"),
    ({"op": "explode"}, "unknown edit"),
])
def test_bad_edits_are_refused_whole(store_rec, edit, words):
    store, rec = store_rec
    _, keep = ed.apply_edit(store, rec.id, {"op": "add", "start": 0.5, "end": 1.0, "label": "keep"})
    labels = store.labels()
    with pytest.raises(SoundkitError, match=words):
        ed.apply_edit(store, rec.id, edit)
    assert [(g.id, g.start, g.end, g.label) for g in store.regions(rec.id)] == [(keep, 0.5, 1.0, "keep")]
    assert store.labels() == labels  # no label created by the refused edit


def test_a_move_that_overruns_the_recording_leaves_the_region_as_it_was(store_rec):
    store, rec = store_rec
    _, rid = ed.apply_edit(store, rec.id, {"op": "add", "start": 1.0, "end": 2.0, "label": "dog"})
    with pytest.raises(ParameterError, match="ends after"):
        ed.apply_edit(store, rec.id, {"op": "move", "id": rid, "start": 8.5, "end": 9.5})
    g = store.get_region(rid)
    assert (g.start, g.end) == (1.0, 2.0)


def test_edits_of_another_recordings_region_are_refused(store_rec):
    store, rec = store_rec
    other = store.add(wav_bytes(tone(500, 6.0, SR), SR), name="other.wav")
    g = store.add_region(other.id, 1.0, 2.0, label="dog")
    with pytest.raises(ParameterError, match="not a region of this recording"):
        ed.apply_edit(store, rec.id, {"op": "delete", "id": g.id})
    assert store.get_region(g.id)


def test_overview_is_an_envelope_and_a_png_not_the_audio(store_rec):
    from PIL import Image

    store, rec = store_rec
    ov = ed.overview.__wrapped__(str(rec.path), rec.hash)
    assert ov["duration"] == pytest.approx(9.0, abs=0.01)
    lo, hi = np.array(ov["env_min"]), np.array(ov["env_max"])
    assert len(lo) == len(hi) == ed.ENVELOPE_BINS
    t = np.arange(len(hi)) * ov["duration"] / len(hi)
    assert hi[(t > 2.2) & (t < 3.3)].min() > 0.2 and lo[(t > 2.2) & (t < 3.3)].max() < -0.2  # the low tone
    assert np.abs(hi[t < 1.9]).max() < 1e-3  # the silence before it
    png = base64.b64decode(ov["spec"].split(",", 1)[1])
    img = Image.open(io.BytesIO(png))
    assert img.height == 64 and 0 < img.width <= ed.SPEC_COLUMNS
    rgb = np.asarray(img.convert("RGB"), float)
    col = lambda s: rgb[:, int(s / ov["duration"] * img.width)]  # noqa: E731
    # the high tone (8 kHz) lights the top rows, the low one (300 Hz) the bottom rows
    assert col(6.2)[:20].sum() > col(2.7)[:20].sum() and col(2.7)[-20:].sum() > col(6.2)[-20:].sum()


def test_pictures_go_whole_once_per_key_and_again_when_the_browser_asks(monkeypatch):
    import streamlit as st

    ui: dict = {}
    pic = {"env_min": [0.0], "env_max": [1.0], "spec": "data:image/png;base64,AAAA", "t0": 1.0}
    first = ed.pictures_once(ui, "7:abc", pic)
    assert first == {"key": "7:abc", **pic}
    assert ed.pictures_once(ui, "7:abc", pic) == {"key": "7:abc", "t0": 1.0}  # the key only
    assert ed.pictures_once(ui, "7:abd", pic)["spec"] == pic["spec"]  # another content hash: whole
    state = {"ed": {"need": {"key": "7:abc", "nonce": "n1"}}, "ed__ui": ui}
    monkeypatch.setattr(st, "session_state", state)
    ed._on_need("ed")
    assert ed.pictures_once(ui, "7:abc", pic)["spec"] == pic["spec"]  # asked for: whole again
    for k in range(ed.MAX_SENT + 5):
        ed.pictures_once(ui, f"k{k}", pic)
    assert len(ui["sent"]) == ed.MAX_SENT


def test_envelope_keeps_every_peak():
    y = np.zeros(100_000, np.float32)
    y[12_345], y[77_777] = 0.9, -0.8
    lo, hi = ed.envelope(y, bins=100)
    assert hi.max() == pytest.approx(0.9) and lo.min() == pytest.approx(-0.8)
    assert ed.envelope(np.zeros(10, np.float32), bins=100)[0].shape == (10,)


def test_region_clip_is_exactly_the_region(store_rec):
    import soundfile as sf

    store, rec = store_rec
    g = store.add_region(rec.id, 2.0, 3.5, label="low")
    clip = ed.region_clip(store, g.id)
    y, sr = sf.read(io.BytesIO(base64.b64decode(clip["url"].split(",", 1)[1])))
    assert len(y) / sr == pytest.approx(1.5, abs=0.01) == clip["seconds"]
    spec = np.abs(np.fft.rfft(y))
    assert np.fft.rfftfreq(len(y), 1 / sr)[int(np.argmax(spec))] == pytest.approx(300, abs=5)
    with pytest.raises(StoreError):
        ed.region_clip(store, 999)


def test_suggestions_from_a_run_sit_on_the_tones_and_are_accepted_or_corrected(store_rec, tiny_run):
    from soundkit.predict import Predictor
    from soundkit.regions import is_suggestion, suggest_regions

    store, rec = store_rec
    added, _ = suggest_regions(store, rec.id, Predictor.load(tiny_run), by="tiny", on=0.7, off=0.55)
    assert [g.label for g in added] == ["low", "high"]
    for g, onset in zip(added, (2.0, 5.5), strict=True):
        assert abs(g.start - onset) <= 0.75 and 0.9 <= g.seconds <= 3.0, g
        assert g.suggested_by == "model:tiny" and is_suggestion(g.suggested_by)
    again, _ = suggest_regions(store, rec.id, Predictor.load(tiny_run), by="tiny", on=0.7, off=0.55)
    assert again == [] and len(store.regions(rec.id)) == 2  # suggesting twice adds nothing
    low, high = added
    ed.apply_edit(store, rec.id, {"op": "accept", "id": low.id})
    ed.apply_edit(store, rec.id, {"op": "move", "id": high.id, "start": 5.5, "end": 7.0})  # a correction
    assert [store.get_region(g.id).suggested_by for g in added] == ["user", "user"]


def test_a_rejected_suggestion_leaves_no_label_behind(store_rec, tiny_run):
    """The run's events are labelled "low" and "high", which the store does not know: while pending
    they create no label (pickers, hotkeys and the label list show none); rejecting one (the editor's
    delete) leaves nothing; accepting the other creates its label, which then stays like any label
    the user made, as does a label the user created with no clip at all."""
    from soundkit.predict import Predictor
    from soundkit.regions import suggest_regions

    store, rec = store_rec
    store.create_label("mine")  # the user's, with no clip and no region
    added, _ = suggest_regions(store, rec.id, Predictor.load(tiny_run), by="tiny", on=0.7, off=0.55)
    low, high = added
    assert (low.label, high.label) == ("low", "high")
    assert store.labels() == {"mine": 0}
    assert [g.label for g in Store(store.home).regions(rec.id)] == ["low", "high"]  # stored with the regions
    ed.apply_edit(store, rec.id, {"op": "delete", "id": low.id})  # rejected
    assert store.labels() == {"mine": 0}
    ed.apply_edit(store, rec.id, {"op": "accept", "id": high.id})
    assert store.labels() == {"high": 0, "mine": 0} and store.get_region(high.id).label == "high"
    ed.apply_edit(store, rec.id, {"op": "delete", "id": high.id})  # the user's label now: it stays
    assert Store(store.home).labels() == {"high": 0, "mine": 0}
    again, _ = suggest_regions(store, rec.id, Predictor.load(tiny_run), by="tiny", on=0.7, off=0.55)
    assert {g.label for g in again} == {"low", "high"}
    for g in again:
        store.delete_region(g.id)
    assert store.labels() == {"high": 0, "mine": 0}  # a known label is never removed by a region edit


def test_correcting_a_suggestion_creates_only_the_label_the_user_gave(store_rec):
    store, rec = store_rec
    a, b, c = store.add_regions(rec.id, [(1.0, 2.0, "Speech"), (3.0, 4.0, "Music"), (5.0, 6.0, "Dog")],
                                suggested_by="model:yamnet")
    assert store.labels() == {}
    ed.apply_edit(store, rec.id, {"op": "relabel", "id": a.id, "label": "voice"})  # the model's word never stored
    ed.apply_edit(store, rec.id, {"op": "move", "id": b.id, "start": 3.5, "end": 4.5})  # a move accepts it
    assert store.labels() == {"Music": 0, "voice": 0}
    assert [(g.label, g.suggested_by) for g in store.regions(rec.id)] == [("voice", "user"), ("Music", "user"),
                                                                          ("Dog", "model:yamnet")]
    store.rename_label("Music", "tune")  # accepted regions follow their label; the pending one has its own
    assert [g.label for g in store.regions(rec.id)] == ["voice", "tune", "Dog"]
    store.create_label("dog")  # the user makes it by hand (any case): accepting refers to it
    assert store.accept_region(c.id).label == "dog" and store.labels() == {"dog": 0, "tune": 0, "voice": 0}
    assert [r.label for r in store.region_clips()] == ["voice", "tune", "dog"]


def test_a_suggestion_of_a_known_label_follows_it(store_rec):
    store, rec = store_rec
    store.create_label("bark")
    (g,) = store.add_regions(rec.id, [(1.0, 2.0, "Bark")], suggested_by="model:yamnet")
    assert g.label == "bark"  # the stored label (case-insensitive), not a second one
    store.rename_label("bark", "woof")
    assert store.get_region(g.id).label == "woof"
    store.delete_region(g.id)
    assert store.labels() == {"woof": 0}


def test_schema_2_store_keeps_its_pending_suggestions_labels(tmp_path):
    """A store made before suggestions kept their own label (schema 2, the column absent) opens as
    schema 3 with every region and label as it was."""
    import sqlite3

    from soundkit.store import SCHEMA_VERSION

    store = Store(tmp_path / "home")
    rec = store.add(wav_bytes(scene(), SR), name="scene.wav")
    store.create_label("Dog")
    (guess,) = store.add_regions(rec.id, [(1.0, 2.0, "Dog")], suggested_by="model:yamnet")
    (mine,) = store.add_regions(rec.id, [(3.0, 4.0, "cat")], suggested_by="user")
    store.close()
    con = sqlite3.connect(store.db_path)
    con.execute("ALTER TABLE regions DROP COLUMN suggested_label")
    con.execute("PRAGMA user_version = 2")
    con.commit()
    con.close()
    again = Store(store.home)
    assert [(g.label, g.suggested_by) for g in again.regions(rec.id)] == [("Dog", "model:yamnet"), ("cat", "user")]
    again.delete_label("Dog")  # the suggestion keeps the model's word (filled in by the upgrade)
    assert again.get_region(guess.id).label == "Dog" and again.labels() == {"cat": 0}
    con = sqlite3.connect(store.db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    con.close()


def test_add_regions_is_all_or_nothing(store_rec):
    store, rec = store_rec
    with pytest.raises(ParameterError):
        store.add_regions(rec.id, [(1.0, 2.0, "a"), (3.0, 4.0, "b"), (5.0, 99.0, "c")], suggested_by="model:x")
    assert store.regions(rec.id) == [] and "a" not in store.labels()


def test_import_annotations_against_stored_recordings(store_rec):
    store, rec = store_rec
    text = "filename\tonset\toffset\tevent_label\nscene.wav\t1.000\t2.000\tdog\nnope.wav\t1\t2\tdog\nscene.wav\t8\t20\tdog\n"
    result = store.import_annotations(text, where="up.tsv")
    assert result.regions == 1 and len(result.errors) == 2
    assert [(g.start, g.end, g.label) for g in store.regions(rec.id)] == [(1.0, 2.0, "dog")]
    assert store.import_annotations(text).regions == 0  # stored already


# -- the Regions tab (AppTest) ---------------------------------------------------------------------

@pytest.fixture
def app_home(tmp_path, monkeypatch, tiny_run):
    import shutil

    home = tmp_path / "home"
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    store = Store(home)
    rec = store.add(wav_bytes(scene(), SR), name="scene.wav")
    shutil.copytree(tiny_run, home / "runs" / "tiny-tones")
    return home, rec


def test_regions_tab_suggests_with_a_run_and_accepts_all(app_home):
    home, rec = app_home
    at = ok(open_page("label", timeout=120))
    assert at.selectbox(key="label_regions_recording").options == ["scene.wav (9.0 s)"]
    model = at.selectbox(key="label_regions_model")
    assert "tiny-tones" in model.options[0]  # trained runs first, then YAMNet: the run is the default
    ok(at.button(key="label_regions_suggest").click().run())
    got = Store(home).regions(rec.id)
    assert [g.label for g in got] == ["low", "high"] and all(g.suggested_by == "model:tiny-tones" for g in got)
    assert any("2 suggestion(s) added" in i.value for i in at.info)
    assert Store(home).labels() == {}  # pending: no label yet for the pickers and hotkeys
    ok(at.button(key="label_regions_accept_all").click().run())
    assert [g.suggested_by for g in Store(home).regions(rec.id)] == ["user", "user"]
    assert Store(home).labels() == {"high": 0, "low": 0}
    assert at.button(key="label_regions_accept_all").disabled


def test_regions_tab_a_rejected_suggestion_leaves_no_label_in_the_pickers(app_home):
    """Suggest, reject "low" with its Delete button, accept the rest: the tab's label picker never
    offers "low", and offers "high" once it is accepted; a label made by hand stays throughout."""
    home, rec = app_home
    Store(home).create_label("mine")
    at = ok(open_page("label", timeout=120))
    ok(at.button(key="label_regions_suggest").click().run())
    low, high = Store(home).regions(rec.id)
    assert (low.label, high.label) == ("low", "high")
    assert at.selectbox(key="label_regions_label").options == ["mine"]
    ok(at.button(key=f"label_regions_delete_{low.id}").click().run())
    assert [g.id for g in Store(home).regions(rec.id)] == [high.id]
    assert at.selectbox(key="label_regions_label").options == ["mine"]
    ok(at.button(key="label_regions_accept_all").click().run())
    assert at.selectbox(key="label_regions_label").options == ["high", "mine"]
    assert Store(home).labels() == {"high": 0, "mine": 0}


@pytest.mark.data
def test_yamnet_zero_shot_suggests_the_dog_where_it_barks(tmp_path, monkeypatch, yamnet_path, esc10_dir):
    """A 20 s recording: silence, an ESC-10 dog bark at 8 s, silence. YAMNet's events, stored as
    suggestions, include a dog-ish region over the bark and nothing in the silence."""
    from soundkit import audio
    from soundkit.models.yamnet import YamnetPredictor
    from soundkit.regions import suggest_regions

    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(yamnet_path.parent))
    bark, sr = audio.load(esc10_dir / "001 - Dog bark" / "1-100032-A.ogg", sr=16000)
    sounding = np.flatnonzero(np.abs(bark) > 0.05 * np.abs(bark).max())
    bark = bark[sounding[0] : sounding[-1] + 1][: 3 * sr]
    y = np.zeros(20 * sr, np.float32)
    y[8 * sr : 8 * sr + len(bark)] = bark
    store = Store(tmp_path / "home")
    rec = store.add(wav_bytes(y, sr), name="yard.wav")
    added, _ = suggest_regions(store, rec.id, YamnetPredictor.load(), by="yamnet", on=0.3, off=0.2)
    assert added, "no suggestion at all"
    assert all(g.suggested_by == "model:yamnet" for g in added)
    assert all(g.end > 7.0 and g.start < 8.0 + len(bark) / sr + 1.0 for g in added), [(g.label, g.start, g.end) for g in added]
    assert any(g.label in ("Dog", "Bark", "Animal", "Domestic animals, pets", "Bow-wow") for g in added), [g.label for g in added]
    assert store.labels() == {}  # AudioSet's names are no labels of the user's until accepted
    for g in added:  # rejected, every one
        store.delete_region(g.id)
    assert store.labels() == {} and store.regions(rec.id) == []


def test_pending_suggestions_train_nothing_and_export_nothing_until_accepted(store_rec, tmp_path):
    import zipfile

    from soundkit_app.regions import annotations_text

    store, rec = store_rec
    (mine,) = store.add_regions(rec.id, [(1.0, 2.0, "dog")], suggested_by="user")
    (guess,) = store.add_regions(rec.id, [(5.0, 6.0, "cat")], suggested_by="model:yamnet")
    assert [c.id for c in store.region_clips()] == [f"region-{mine.id}"]
    assert "cat" not in annotations_text(store) and "dog" in annotations_text(store)
    with zipfile.ZipFile(store.export_zip(tmp_path / "a.zip")) as zf:
        assert "cat" not in zf.read("regions.tsv").decode()
    store.accept_region(guess.id)
    assert [c.id for c in store.region_clips()] == [f"region-{mine.id}", f"region-{guess.id}"]
    assert "cat" in annotations_text(store)


def test_a_zoomed_view_gets_a_finer_picture_of_its_stretch(tmp_path):
    """10 min of quiet noise with a tone at 300-301 s: the overview's columns are 0.15 s wide; the
    detail of a 4 s view is read by seeking (not decoding the whole file) and is finer."""
    from synth import noise, write_wav

    sr = 8000
    y = noise(600.0, sr, 0.01, seed=0)
    y[300 * sr : 301 * sr] += tone(1000, 1.0, sr, 0.5)
    path = write_wav(tmp_path / "long.wav", y, sr)
    hop = ed.spectrogram_hop(600 * ed.OVERVIEW_SR, ed.SPEC_COLUMNS)
    assert ed.detail_window({"t0": 0, "t1": 600}, 600.0, hop) is None  # the whole recording: the overview
    assert ed.detail_window({"t0": 1, "t1": "x"}, 600.0, hop) is None
    assert ed.detail_window({"t0": 0, "t1": 4}, 10.0, ed.spectrogram_hop(10 * ed.OVERVIEW_SR, ed.SPEC_COLUMNS)) is None
    a, b = ed.detail_window({"t0": 298.5, "t1": 302.5}, 600.0, hop)
    assert a <= 296.5 and b >= 304.5 and b - a <= 12
    d = ed.detail.__wrapped__(str(path), "h", a, b)
    assert d["t0"] == a and d["t1"] == pytest.approx(b, abs=1e-3)
    hi = np.array(d["env_max"])
    t = a + np.arange(len(hi)) * (b - a) / len(hi)
    assert hi[(t > 300.05) & (t < 300.95)].min() > 0.3 and hi[(t < 299.9) | (t > 301.1)].max() < 0.1
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(d["spec"].split(",", 1)[1])))
    assert img.width > (b - a) * ed.OVERVIEW_SR / hop * 5  # several times finer than the overview
