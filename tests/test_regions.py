"""Regions of long recordings: stored, validated, exported as DCASE annotations, re-imported, and cut
at train time from a synthetic recording whose tones sit at known places."""

from __future__ import annotations

import json
import os
import sqlite3
import zipfile

import numpy as np
import pytest
from synth import noise, tone, write_wav

from soundkit import regions as rg
from soundkit.config import FeatureConfig, TrainConfig
from soundkit.errors import ParameterError, StoreError
from soundkit.store import SCHEMA_VERSION, Store

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SR = 16000
LOW, HIGH = 500.0, 3000.0
FEATURES = FeatureConfig(sr=SR, n_fft=512, hop_length=256, n_mels=32, fmax=8000, frames=32, window_hop=16)
FAST = TrainConfig(epochs=3, batch_size=4, learning_rate=3e-3, patience=3, test_fold=1, seed=0,
                   options={"crops_per_clip": 2, "lr_schedule": "plateau"})
#: Ten 1-second tones, alternating low / high, starting at 0.5 s, every 2 s, in a 20 s recording.
PLACES = [(0.5 + 2 * k, 1.5 + 2 * k, "low" if k % 2 == 0 else "high") for k in range(10)]


def recording(path, seconds: float = 20.0):
    y = noise(seconds, SR, 0.002, seed=1)
    for start, end, label in PLACES:
        if end > seconds:
            continue
        a = int(start * SR)
        y[a : a + int((end - start) * SR)] += tone(LOW if label == "low" else HIGH, end - start, SR, 0.5)
    return write_wav(path, y, SR)


@pytest.fixture
def store_rec(tmp_path):
    store = Store(tmp_path / "home")
    rec = store.add(recording(tmp_path / "field.wav"), name="field.wav")
    return store, rec


def dominant_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[int(np.argmax(spec))])


def test_create_move_delete_list_and_reopen(store_rec):
    store, rec = store_rec
    a = store.add_region(rec.id, 0.5, 1.5, label=" dog  bark ", suggested_by="yamnet")
    b = store.add_region(rec.id, 2.5, 3.5, label="Siren")
    assert (a.label, a.suggested_by, a.start, a.end) == ("dog bark", "yamnet", 0.5, 1.5)
    assert [g.id for g in store.regions(rec.id)] == [a.id, b.id]
    moved = store.move_region(b.id, 4.25, 5.0)
    assert (moved.start, moved.end) == (4.25, 5.0) and moved.path.endswith("#t=4.250,5.000")
    assert store.relabel_region(a.id, "Siren").label == "Siren"
    assert store.labels()["Siren"] == 0  # regions do not count as clips
    store.delete_region(a.id)
    assert [g.id for g in store.regions()] == [b.id]
    again = Store(store.home)  # survives reopening
    (g,) = again.regions(rec.id)
    assert (g.id, g.start, g.end, g.label) == (b.id, 4.25, 5.0, "Siren")
    again.rename_label("Siren", "alarm")  # regions follow their label
    assert again.get_region(b.id).label == "alarm"
    again.merge_labels("alarm", "dog")
    assert again.get_region(b.id).label == "dog"
    again.delete(rec.id)
    assert again.regions() == [] and len(again.regions(include_deleted=True)) == 1
    again.purge()  # the recording goes for good: so do its regions
    assert again.regions(include_deleted=True) == []


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [(-1, 1, ">= 0"), (2, 2, "after its start"), (3, 1, "after its start"), (19.5, 21, "ends after"),
     (1, 1.05, "shorter than"), ("x", 1, "number of seconds"), (float("nan"), 1, "finite")],
)
def test_bad_ranges_are_one_clear_error(store_rec, start, end, match):
    store, rec = store_rec
    with pytest.raises(ParameterError, match=match):
        store.add_region(rec.id, start, end, label="dog")
    g = store.add_region(rec.id, 1, 2, label="dog")
    with pytest.raises(ParameterError, match=match):
        store.move_region(g.id, start, end)
    assert [(r.start, r.end) for r in store.regions()] == [(1, 2)]  # nothing half-written


def test_missing_things_and_bad_labels(store_rec):
    store, rec = store_rec
    with pytest.raises(StoreError, match="no recording with id 999"):
        store.add_region(999, 0, 1, label="dog")
    with pytest.raises(StoreError, match="no region with id 42"):
        store.move_region(42, 0, 1)
    with pytest.raises(StoreError, match="no region"):
        store.delete_region(42)
    with pytest.raises(ParameterError, match="must not contain"):
        store.add_region(rec.id, 0, 1, label="a/b")
    assert store.regions() == []


def test_schema_1_store_gains_the_regions_table(tmp_path, store_rec):
    store, rec = store_rec
    store.close()
    con = sqlite3.connect(store.db_path)
    con.execute("DROP TABLE regions")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    again = Store(store.home)
    assert again.get(rec.id).name == "field.wav"
    again.add_region(rec.id, 0, 1, label="dog")
    con = sqlite3.connect(store.db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    con.close()


def test_export_writes_dcase_annotations_and_import_round_trips(store_rec, tmp_path):
    store, rec = store_rec
    for start, end, label in PLACES[:4]:
        store.add_region(rec.id, start, end, label=label, suggested_by="me")
    out = store.export_zip(tmp_path / "export.zip")  # the recording is unlabelled yet exported: it has regions
    with zipfile.ZipFile(out) as zf:
        text = zf.read(rg.ANNOTATIONS_NAME).decode()
        names = zf.namelist()
    lines = text.splitlines()
    assert lines[0].split("\t") == ["filename", "onset", "offset", "event_label"]
    assert lines[1].split("\t") == ["_unlabelled/field.wav", "0.500", "1.500", "low"]
    assert "_unlabelled/field.wav" in names and len(lines) == 5

    other = Store(tmp_path / "other")
    result = other.import_zip(out)
    assert result.added == 1 and result.regions == 4 and not result.errors
    got = [(g.start, g.end, g.label, g.suggested_by) for g in other.regions()]
    assert got == [(s, e, lab, "import") for s, e, lab in PLACES[:4]]
    assert other.import_zip(out).regions == 0  # importing again adds no duplicate regions
    assert len(other.regions()) == 4


def test_cli_imports_a_folder_of_recordings_with_annotations(tmp_path, capsys):
    from soundkit.cli import main

    folder = tmp_path / "field"
    recording(folder / "a.wav")
    recording(folder / "sub" / "b.wav", seconds=18.0)
    (folder / "labels.tsv").write_text(
        "filename\tonset\toffset\tevent_label\n"
        "a.wav\t0.5\t1.5\tlow\n"
        "sub/b.wav\t2.5\t3.5\thigh\n"
        "b.wav\t4.5\t5.5\tlow\n"  # a bare name finds sub/b.wav
        "a.wav\t5\t\t\n"  # DCASE "no event" line: skipped
        "a.wav\t19\t25\tlow\n"  # beyond the recording: reported, not stored
        "missing.wav\t0\t1\tlow\n"
    )
    home = tmp_path / "home"
    assert main(["import", str(folder), "--home", str(home), "--json"]) == 0
    store = Store(home)
    got = sorted((g.recording, g.start, g.end, g.label) for g in store.regions())
    assert got == [("a.wav", 0.5, 1.5, "low"), ("b.wav", 2.5, 3.5, "high"), ("b.wav", 4.5, 5.5, "low")]
    summary = json.loads(capsys.readouterr().out)
    assert summary["added"] == 2 and summary["regions"] == 3
    assert [e["message"].split(":")[0] for e in summary["errors"]] == ["region 19-25 s ends after recording 'a.wav' (20.000 s long)", "missing.wav"]


def test_region_clips_are_cut_at_the_right_times(store_rec, tmp_path):
    from soundkit import features as feats

    store, rec = store_rec
    for start, end, label in PLACES:
        store.add_region(rec.id, start, end, label=label)
    silent = rg.ranged_path(rec.path, 1.6, 2.4)  # between two tones
    clips = store.dataset().clips
    assert len(clips) == 10 and all(c.id.startswith("region-") for c in clips)
    for c, (start, end, label) in zip(clips, PLACES, strict=True):
        y, sr = rg.load_ranged(c.path, sr=SR)
        assert len(y) == int((end - start) * SR)
        assert abs(dominant_hz(y, sr) - (LOW if label == "low" else HIGH)) < 20
        assert float(np.sqrt(np.mean(y**2))) > 0.3
    ys, _ = rg.load_ranged(silent, sr=SR)
    assert float(np.sqrt(np.mean(ys**2))) < 0.01
    # the features cache keys each range apart; the log-mel energy sits in the tone's bands
    cache = tmp_path / "cache"
    S = feats.featurize_files([c.path for c in clips], FEATURES, cache=cache)
    assert len(list(cache.rglob("*.npy"))) == 10
    again = feats.featurize_files([c.path for c in clips], FEATURES, cache=cache)
    assert all(np.array_equal(a, b) for a, b in zip(S, again, strict=True))
    low_bands = [float(np.argmax(s.mean(axis=1))) for s, c in zip(S, clips, strict=True) if c.label == "low"]
    high_bands = [float(np.argmax(s.mean(axis=1))) for s, c in zip(S, clips, strict=True) if c.label == "high"]
    assert max(low_bands) < min(high_bands)


@pytest.mark.slow
def test_training_runs_on_regions(store_rec, tmp_path, capsys):
    from soundkit.training import train

    store, rec = store_rec
    for start, end, label in PLACES:
        store.add_region(rec.id, start, end, label=label)
    dataset = store.dataset()
    assert len(list(store.home.rglob("*.wav"))) == 1  # regions are never copied to disk
    run = train(dataset, out=tmp_path / "run", features=FEATURES, config=FAST, cache_dir=tmp_path / "cache")
    assert run.complete and run.load_labels() == ["high", "low"]
    report = run.load_report()
    assert report.n_test >= 1 and sum(report.support.values()) == report.n_test
    cached = [p.stem for p in (tmp_path / "cache").rglob("*.npy")]
    assert len(cached) == 10 and all("-t" in name for name in cached)  # one cache entry per region
    # the CLI evaluates the run on the store's regions (cut from the recording, like training)
    from soundkit.cli import main

    capsys.readouterr()
    assert main(["evaluate", str(run.path), str(store.home), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_test"] == 10 and sum(out["support"].values()) == 10
