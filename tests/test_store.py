"""The label store against a real SQLite database and real files in tmp."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from synth import chirp, noise, tone, wav_bytes, write_wav

from soundkit import datasets
from soundkit.errors import AudioError, DatasetError, ParameterError, StoreError
from soundkit.store import MAX_LABEL_LENGTH, Store, normalize_label

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "home")


def clip(k: int, seconds: float = 0.25) -> bytes:
    """Distinct small WAV bytes for each k."""
    return wav_bytes(tone(200 + 37 * k, seconds, sr=16000), 16000)


def audio_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "audio").rglob("*") if p.is_file())


def make_zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


# -- adding ---------------------------------------------------------------------------------------


def test_add_stores_content_addressed_file_and_row(store):
    data = clip(1)
    rec = store.add(data, name="dog.wav", label="dog")
    assert rec.id == 1 and rec.label == "dog" and rec.name == "dog.wav" and rec.origin == "upload"
    assert rec.path.read_bytes() == data
    assert rec.path.parent.parent == store.home / "audio"
    assert rec.path.name == f"{rec.hash}.wav" and rec.path.parent.name == rec.hash[:2]
    assert rec.sr == 16000 and rec.channels == 1 and rec.seconds == pytest.approx(0.25)
    assert store.get(rec.id) == rec
    assert store.audio_path(rec) == rec.path and store.read_bytes(rec.id) == data
    con = sqlite3.connect(store.home / "soundkit.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize(
    "name",
    ["../../../etc/passwd.wav", "/abs/path/x.wav", "..\\..\\win.wav", "a/b/c/../../d.wav", "nul\x00byte.wav"],
)
def test_uploaded_names_never_become_paths(store, tmp_path, name):
    rec = store.add(clip(2), name=name)
    assert "/" not in rec.name and "\\" not in rec.name and "\x00" not in rec.name
    assert rec.path.resolve().is_relative_to(store.home.resolve() / "audio")
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and not p.resolve().is_relative_to(store.home.resolve())]
    assert outside == []


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"", "empty"),
        (b"this is not audio at all", "cannot be decoded"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 20, "cannot be decoded"),
        (wav_bytes(np.array([], dtype=np.float32)), "no audio"),
    ],
)
def test_invalid_upload_rejected_and_leaves_nothing(store, data, needle):
    with pytest.raises(AudioError, match=needle) as err:
        store.add(data, name="upload.wav", label="dog")
    assert "upload.wav" in str(err.value) and "\n" not in str(err.value)
    assert audio_files(store.home) == []
    assert store.clips(include_deleted=True) == [] and store.labels() == {}


def test_add_from_path_and_file_like(store, tmp_path):
    path = write_wav(tmp_path / "in" / "bird.wav", chirp(500, 3000, 0.3, sr=16000), 16000)
    rec = store.add(path, label="bird")
    assert rec.name == "bird.wav" and rec.path.read_bytes() == path.read_bytes()
    rec2 = store.add(io.BytesIO(clip(3)), name="memo.wav")
    assert rec2.label is None and rec2.id != rec.id
    with pytest.raises(AudioError, match="no such file"):
        store.add(tmp_path / "missing.wav")


def test_flac_and_ogg_keep_their_format(store, tmp_path):
    import soundfile as sf

    for fmt, ext in (("FLAC", ".flac"), ("OGG", ".ogg")):
        buf = io.BytesIO()
        sf.write(buf, tone(440, 0.5, sr=22050), 22050, format=fmt)
        rec = store.add(buf.getvalue(), name=f"x{ext}")
        assert rec.path.suffix == ext and rec.path.read_bytes() == buf.getvalue()


def test_same_audio_is_deduplicated_and_keeps_its_label(store):
    a = store.add(clip(4), name="a.wav", label="cat")
    b = store.add(clip(4), name="copy.wav")
    assert b.id == a.id and b.label == "cat" and b.name == "a.wav"
    c = store.add(clip(4), name="again.wav", label="dog")  # re-uploading never relabels
    assert c.id == a.id and c.label == "cat"
    d = store.add(clip(4), name="again.wav", label="dog", relabel=True)  # asking for it does
    assert d.id == a.id and d.label == "dog"
    assert len(store.clips()) == 1 and len(audio_files(store.home)) == 1


def test_re_adding_a_deleted_clip_restores_it(store):
    a = store.add(clip(5), name="a.wav", label="cat")
    store.delete([a.id])
    assert store.clips() == []
    b = store.add(clip(5), name="a.wav")
    assert b.id == a.id and not b.deleted and b.label == "cat"


def test_add_many_reports_errors_without_stopping(store):
    events = []
    res = store.add_many(
        [("one.wav", clip(6), "x"), ("bad.wav", b"garbage"), {"data": clip(7), "name": "two.wav", "label": "y"},
         ("dup.wav", clip(6)), ("badlabel.wav", clip(8), "a/b")],
        progress=events.append,
    )  # fmt: skip
    assert (res.added, res.duplicates) == (2, 1)
    assert [n for n, _ in res.errors] == ["bad.wav", "badlabel.wav"]
    assert "bad.wav" in res.errors[0][1]
    assert [e["done"] for e in events] == [1, 2, 3, 4, 5] and all(e["total"] == 5 for e in events)
    assert store.labels() == {"x": 1, "y": 1}
    assert res.to_dict()["added"] == 2


# -- labels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "a/b", "a\\b", "x" * (MAX_LABEL_LENGTH + 1), ".hidden", "bell\x07", 42, None],
)
def test_bad_labels_are_refused(store, bad):
    with pytest.raises(ParameterError, match="label"):
        normalize_label(bad)
    if bad is not None:
        with pytest.raises(ParameterError, match="label"):
            store.add(clip(9), name="c.wav", label=bad)
    assert store.clips() == [] and audio_files(store.home) == []


def test_labels_are_trimmed_and_case_insensitive(store):
    assert normalize_label("  Dog   bark ") == "Dog bark"
    a = store.add(clip(10), name="a.wav", label="  Dog ")
    b = store.add(clip(11), name="b.wav", label="dog")
    assert a.label == "Dog" and b.label == "Dog"
    assert store.labels() == {"Dog": 2}


def test_label_lifecycle(store):
    ids = [store.add(clip(k), name=f"{k}.wav").id for k in range(6)]
    assert store.create_label("rain") == "rain"
    assert store.labels() == {"rain": 0}
    with pytest.raises(StoreError, match="already exists"):
        store.create_label("Rain")
    assert store.create_label("Rain", exist_ok=True) == "rain"
    assert store.set_label(ids[:3], "rain") == 3
    assert store.set_label(ids[3:], "wind") == 3
    assert store.labels() == {"rain": 3, "wind": 3}
    assert store.rename_label("rain", "Rain drops") == "Rain drops"
    assert store.labels() == {"Rain drops": 3, "wind": 3}
    with pytest.raises(StoreError, match="merge"):
        store.rename_label("wind", "rain drops")
    assert store.rename_label("wind", "Wind") == "Wind"  # a change of case is a rename
    assert store.merge_labels("Rain drops", "Wind") == 3
    assert store.labels() == {"Wind": 6}
    assert store.delete_label("Wind") == 6
    assert store.labels() == {}
    assert len(store.clips(unlabelled=True)) == 6
    with pytest.raises(StoreError, match="no label"):
        store.delete_label("Wind")
    with pytest.raises(StoreError, match="itself"):
        store.create_label("a") and store.merge_labels("a", "A")


def test_set_label_is_one_transaction(store):
    ids = [store.add(clip(k), name=f"{k}.wav", label="old").id for k in range(3)]
    with pytest.raises(StoreError, match="no clip with id 999"):
        store.set_label([*ids, 999], "new")
    assert {r.label for r in store.clips()} == {"old"} and "new" not in store.labels()
    assert store.set_label(ids[:2], None) == 2
    assert [r.id for r in store.clips(unlabelled=True)] == ids[:2]
    assert store.set_label([], "x") == 0


def test_clip_filters_and_search(store):
    store.add(clip(1), name="dog_bark_1.wav", label="dog", source="rec1")
    store.add(clip(2), name="100%_cat.wav", label="cat", source="rec1")
    store.add(clip(3), name="street.wav")
    assert [r.name for r in store.clips(label="DOG")] == ["dog_bark_1.wav"]
    assert [r.name for r in store.clips(unlabelled=True)] == ["street.wav"]
    assert len(store.clips(source="rec1")) == 2
    assert [r.name for r in store.clips(search="100%")] == ["100%_cat.wav"]  # % is literal
    assert [r.name for r in store.clips(search="g_b")] == ["dog_bark_1.wav"]  # _ is literal
    assert [r.name for r in store.clips(search="cat")] == ["100%_cat.wav"]  # matches label too
    assert [r.name for r in store.clips(order="name")] == ["100%_cat.wav", "dog_bark_1.wav", "street.wav"]
    assert len(store.clips(limit=2)) == 2 and store.count() == 3 and store.count(unlabelled=True) == 1
    with pytest.raises(ParameterError, match="order"):
        store.clips(order="random")
    with pytest.raises(StoreError, match="no clip with id 42"):
        store.get(42)


# -- delete / undo / purge ------------------------------------------------------------------------


def test_soft_delete_undo_and_purge(store):
    recs = [store.add(clip(k), name=f"{k}.wav", label="a") for k in range(4)]
    token = store.delete([recs[0].id, recs[1].id])
    assert [r.id for r in store.clips()] == [recs[2].id, recs[3].id]
    assert store.labels() == {"a": 2} and store.stats()["deleted"] == 2
    assert len(store.clips(include_deleted=True)) == 4 and store.get(recs[0].id).deleted
    assert store.undo(token) == 2
    assert len(store.clips()) == 4
    with pytest.raises(StoreError, match="nothing to undo"):
        store.undo(token)
    token = store.delete(recs[0].id)
    (store.home / "audio" / "zz").mkdir()
    orphan = store.home / "audio" / "zz" / ("f" * 40 + ".wav")
    orphan.write_bytes(b"x")
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    assert store.purge() == 1
    assert not recs[0].path.exists() and not orphan.exists()
    assert all(r.path.exists() for r in recs[1:])
    with pytest.raises(StoreError, match="nothing to undo"):
        store.undo(token)
    with pytest.raises(StoreError, match="no clip"):
        store.get(recs[0].id)


# -- predictions ----------------------------------------------------------------------------------


def test_predictions_sort_by_uncertainty(store):
    ids = [store.add(clip(k), name=f"{k}.wav").id for k in range(4)]
    store.set_predictions([(ids[0], "dog", 0.9), (ids[1], "cat", 0.3), (ids[2], "dog", 0.6)], run="run-1")
    order = [r.id for r in store.clips(unlabelled=True, order="uncertainty")]
    assert order == [ids[1], ids[2], ids[0], ids[3]]
    rec = store.get(ids[1])
    assert (rec.pred_label, rec.pred_confidence, rec.pred_run) == ("cat", 0.3, "run-1")
    with pytest.raises(ParameterError, match="confidence"):
        store.set_prediction(ids[0], "dog", 1.5)
    store.set_prediction(ids[3], "bird", 0.1)
    assert store.clips(order="uncertainty")[0].id == ids[3]
    store.clear_predictions()
    assert store.get(ids[3]).pred_label is None


# -- zip import / export ------------------------------------------------------------------------------


def test_import_zip_folder_per_class(store, tmp_path):
    data = make_zip({
        "wrapper/001 - Dog bark/1-100-A.wav": clip(1),
        "wrapper/001 - Dog bark/2-200-A.wav": clip(2),
        "wrapper/Rain/r1.wav": clip(3),
        "loose.wav": clip(4),
        "wrapper/README.md": b"# readme",
        "wrapper/Rain/broken.wav": b"not audio",
        "__MACOSX/wrapper/Rain/._r1.wav": b"junk",
        "wrapper/.DS_Store": b"junk",
    })  # fmt: skip
    events = []
    res = store.import_zip(data, progress=events.append)
    assert (res.added, res.duplicates) == (4, 0)
    assert res.skipped == ["wrapper/README.md"]
    assert [n for n, _ in res.errors] == ["wrapper/Rain/broken.wav"]
    assert store.labels() == {"Dog bark": 2, "Rain": 1}
    dogs = store.clips(label="Dog bark")
    assert {(r.fold, r.source) for r in dogs} == {(1, "Dog bark/100"), (2, "Dog bark/200")}
    assert [r.name for r in store.clips(unlabelled=True)] == ["loose.wav"]
    assert events[-1]["done"] == events[-1]["total"] == 5
    again = store.import_zip(data)
    assert (again.added, again.duplicates) == (0, 4)


def test_import_zip_is_zip_slip_safe(store, tmp_path):
    path = tmp_path / "evil.zip"
    path.write_bytes(make_zip({"../../escaped/evil.wav": clip(1), "/abs/evil2.wav": clip(2)}))
    res = store.import_zip(path)
    assert res.added == 2 and not (tmp_path / "escaped").exists()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(store.home.resolve()) or p == path for p in files)
    assert {r.name for r in store.clips()} == {"evil.wav", "evil2.wav"}


def test_import_zip_rejects_non_zip(store, tmp_path):
    with pytest.raises(StoreError, match="not a zip"):
        store.import_zip(b"plain bytes")
    with pytest.raises(StoreError, match="no such file"):
        store.import_zip(tmp_path / "missing.zip")


def test_import_zip_esc50_layout(store, esc50_csv):
    with esc50_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    # two classes in ESC-10 and one outside it, two clips each
    keep = []
    for cat in ("dog", "rain", "cow"):
        keep += [r for r in rows if r["category"] == cat][:2]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(keep)
    entries = {"ESC-50-master/meta/esc50.csv": buf.getvalue().encode()}
    for k, r in enumerate(keep):
        entries[f"ESC-50-master/audio/{r['filename']}"] = clip(k)
    data = make_zip(entries)
    res = store.import_zip(data, esc10=True)
    assert res.added == 4 and res.errors == []
    assert store.labels() == {"dog": 2, "rain": 2}
    recs = store.clips(label="dog")
    want = {(int(r["fold"]), r["src_file"]) for r in keep if r["category"] == "dog"}
    assert {(r.fold, r.source) for r in recs} == want
    res = store.import_zip(data)
    assert (res.added, res.duplicates) == (2, 4) and store.labels()["cow"] == 2


def test_export_zip_round_trip(store, tmp_path):
    store.add(clip(1), name="a.wav", label="dog", source="s1", fold=None)
    store.add(clip(2), name="a.wav", label="dog", source="s2")  # same display name in one folder
    store.add(clip(3), name="c.wav", label="cat")
    store.add(clip(4), name="u.wav")
    dest = tmp_path / "out" / "export.zip"
    events = []
    assert store.export_zip(dest, progress=events.append) == dest
    assert [p.name for p in dest.parent.iterdir()] == ["export.zip"]  # no temporary file left
    with zipfile.ZipFile(dest) as zf:
        names = sorted(zf.namelist())
        meta = list(csv.DictReader(io.StringIO(zf.read("metadata.csv").decode())))
    assert len(names) == 4 and "metadata.csv" in names and len(set(names)) == 4
    assert {m["label"] for m in meta} == {"dog", "cat"} and len(events) == 3
    other = Store(tmp_path / "other")
    res = other.import_zip(dest)
    assert res.added == 3 and res.errors == [] and res.skipped == []
    assert (
        other.labels()
        == store.labels()
        == {
            "cat": 1,
            "dog": 2,
        }
    )
    assert {r.source for r in other.clips(label="dog")} == {"s1", "s2"}
    assert {r.hash for r in other.clips()} == {r.hash for r in store.clips(label="dog") + store.clips(label="cat")}


def test_export_nothing_is_an_error(store, tmp_path):
    store.add(clip(1), name="u.wav")
    with pytest.raises(StoreError, match="nothing to export"):
        store.export_zip(tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


# -- datasets -------------------------------------------------------------------------------------


def test_dataset_assigns_folds_grouped_by_source(store):
    for label in ("a", "b"):
        for src in range(5):
            for take in range(2):
                store.add(
                    clip(100 * (label == "b") + 10 * src + take),
                    name=f"{src}-{take}.wav",
                    label=label,
                    source=f"{label}{src}",
                )
    store.add(clip(999), name="unlabelled.wav")
    ds = store.dataset()
    assert ds.layout == "store" and not ds.official_folds and len(ds.clips) == 20
    assert ds.labels == ["a", "b"] and ds.folds == [1, 2, 3, 4, 5]
    fold_of = {}
    for c in ds.clips:
        assert fold_of.setdefault(c.source, c.fold) == c.fold
    for f in ds.folds:
        assert sorted(c.label for c in ds.clips if c.fold == f) == ["a", "a", "b", "b"]
    assert all(Path(c.path).is_file() for c in ds.clips)
    assert {c.id for c in ds.clips} == {str(r.id) for r in store.clips() if r.label}
    loaded = datasets.load(store.home)
    assert loaded.layout == "store" and [c.fold for c in loaded.clips] == [c.fold for c in ds.clips]


def test_dataset_keeps_stored_folds_and_empty_store_errors(store):
    with pytest.raises(DatasetError, match="no labelled clips"):
        store.dataset()
    store.add(clip(1), name="x.wav", label="a", fold=3)
    store.add(clip(2), name="y.wav", label="b", fold=1)
    ds = store.dataset()
    assert ds.official_folds and [c.fold for c in ds.clips] == [3, 1]
    with pytest.raises(ParameterError, match="fold"):
        store.add(clip(3), name="z.wav", fold=0)


@pytest.mark.data
def test_import_esc10_dataset_keeps_sources_and_folds(store, esc10_dir):
    ds = datasets.load(esc10_dir).select(limit_per_class=3)
    res = store.import_dataset(ds)
    assert res.added == 30 and res.errors == []
    back = store.dataset()
    assert back.official_folds and back.counts() == ds.counts()
    assert sorted((c.label, c.fold, c.source) for c in back.clips) == sorted(
        (c.label, c.fold, c.source) for c in ds.clips
    )
    assert {r.origin for r in store.clips()} == {"dataset:ESC-10"}


# -- robustness -----------------------------------------------------------------------------------


def test_home_that_is_a_file_or_a_broken_database(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        Store(f)
    home = tmp_path / "broken"
    home.mkdir()
    (home / "soundkit.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable soundkit store"):
        Store(home)


def test_reopening_keeps_everything(tmp_path):
    s1 = Store(tmp_path / "h")
    rec = s1.add(clip(1), name="a.wav", label="dog")
    s1.create_label("empty")
    s1.close()
    s2 = Store(tmp_path / "h")
    assert s2.get(rec.id) == rec and s2.labels() == {"dog": 1, "empty": 0}


def test_threads_share_one_store(store):
    errors = []

    def work(k0):
        try:
            for k in range(k0, k0 + 8):
                r = store.add(clip(k), name=f"{k}.wav", label=f"t{k0}")
                store.set_label([r.id], f"t{k0}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k0,)) for k0 in (0, 100, 200, 300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.labels() == {"t0": 8, "t100": 8, "t200": 8, "t300": 8}


WRITER = r"""
import sys, time, io
from pathlib import Path
import numpy as np, soundfile as sf
from soundkit.store import Store
home, who, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
store = Store(home)
while not go.exists():
    time.sleep(0.005)
ids = []
for k in range(25):
    t = np.arange(4000) / 16000
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * (300 + 1000 * who + 7 * k) * t)).astype("float32"), 16000, format="WAV")
    ids.append(store.add(buf.getvalue(), name=f"p{who}-{k}.wav", label=f"proc{who}").id)
    store.set_label(ids[-3:], f"proc{who}")
    store.labels()
# the same shared clip from both processes: one row
store.add(Path(sys.argv[4]).read_bytes(), name="shared.wav", label="shared")
print(len(ids))
"""


def test_two_processes_write_at_once(tmp_path):
    home = tmp_path / "home"
    Store(home)
    go = tmp_path / "go"
    shared = write_wav(tmp_path / "shared.wav", noise(0.2, sr=16000), 16000)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(who), str(go), str(shared)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for who in (1, 2)
    ]  # fmt: skip
    time.sleep(1.0)  # both have imported and opened the store
    go.touch()
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == "25"
    store = Store(home)
    assert store.labels() == {"proc1": 25, "proc2": 25, "shared": 1}
    assert len(store.clips()) == 51 and len(audio_files(home)) == 51
    con = sqlite3.connect(home / "soundkit.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not list((home / "audio").rglob(".tmp-*"))


def test_cli_import_folder_and_zip(tmp_path, capsys, class_folders):
    import json

    from soundkit.cli import main

    home = tmp_path / "cli_home"
    rc = main(["import", str(class_folders), "--home", str(home), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["added"] == 12 and result["errors"] == []
    assert result["labels"] == {"high": 4, "low": 4, "noise": 4}
    zpath = tmp_path / "more.zip"
    zpath.write_bytes(make_zip({"extra/x.wav": clip(1), "extra/bad.wav": b"junk"}))
    rc = main(["import", str(zpath), "--home", str(home), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["added"] == 1 and [e["name"] for e in result["errors"]] == ["extra/bad.wav"]
    assert Store(home).labels()["extra"] == 1
    (tmp_path / "notes.txt").write_text("hello")
    rc = main(["import", str(tmp_path / "notes.txt"), "--home", str(home)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1] == f"error: {tmp_path / 'notes.txt'}: is neither a dataset directory nor a zip file"


def test_busy_store_fails_cleanly_and_recovers(tmp_path, monkeypatch):
    import soundkit.store.database as database  # where connections read the timeout

    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.2)
    store = Store(tmp_path / "home")
    other = sqlite3.connect(store.home / "soundkit.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StoreError, match="busy"):
            store.add(clip(1), name="a.wav", label="dog")
        assert audio_files(store.home) == []  # the file written before the transaction is gone again
        assert store.labels() == {}  # reads still work while another process writes
    finally:
        other.execute("ROLLBACK")
        other.close()
    rec = store.add(clip(1), name="a.wav", label="dog")
    assert store.get(rec.id).label == "dog" and len(audio_files(store.home)) == 1


def test_clips_all_from_one_esc_fold_get_assigned_folds(tmp_path):
    """ESC-style names give each clip fold 1: one fold cannot be split, so folds are assigned."""
    store = Store(tmp_path / "home")
    for k in range(4):
        store.add(wav_bytes(tone(500 + 50 * k, 0.5)), name=f"1-{100 + k}-A-0.wav", label="tone")
        store.add(wav_bytes(noise(0.5, seed=k)), name=f"1-{200 + k}-A-1.wav", label="hiss")
    assert {r.fold for r in store.clips()} == {1}  # parsed from the names
    ds = store.dataset()
    assert len(ds.folds) >= 2 and not ds.official_folds
    train, test = ds.split(ds.folds[-1])
    assert train and test and {c.label for c in train} == {"tone", "hiss"}
    one_fold = datasets.Dataset(tmp_path, list(ds.clips), "folders", True)
    same = datasets.Dataset(tmp_path, [c.__class__(**{**c.__dict__, "fold": 1}) for c in ds.clips], "folders", True)
    assert one_fold.with_folds() is one_fold  # two or more folds: kept
    assert len(same.with_folds().folds) >= 2  # one fold: assigned
