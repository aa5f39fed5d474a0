"""Dataset layouts, folds and downloads: real ESC-10, a full fake ESC-50 tree, synthetic folders."""

from __future__ import annotations

import csv
import io
import json
import socket
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from synth import tone, wav_bytes, write_wav

from soundkit import datasets
from soundkit.datasets import Clip, assign_folds
from soundkit.errors import DatasetError, ParameterError

TINY_WAV = wav_bytes(tone(440, 0.01, sr=8000), 8000)


# -- real ESC-10 ------------------------------------------------------------------------------------


@pytest.mark.data
def test_esc10_real(esc10_dir):
    ds = datasets.load(esc10_dir)
    assert ds.layout == "folders" and ds.official_folds
    assert len(ds.clips) == 400 and len(ds.labels) == 10
    assert "Dog bark" in ds.labels and all(not label[0].isdigit() for label in ds.labels)
    assert set(ds.counts().values()) == {40}
    assert ds.folds == [1, 2, 3, 4, 5]
    assert Counter(c.fold for c in ds.clips) == {f: 80 for f in range(1, 6)}
    assert len({c.id for c in ds.clips}) == 400
    for c in ds.clips:  # the fold is the first digit of the file name, the source the clip id
        fold, src, _ = c.path.stem.split("-")
        assert c.fold == int(fold) and c.source == f"{c.label}/{src}"
    train, test = ds.split(1)
    assert len(train) == 320 and len(test) == 80 and {c.fold for c in test} == {1}
    assert ds.with_folds() is ds  # official folds are kept


@pytest.mark.data
def test_select_subset(esc10_dir):
    ds = datasets.load(esc10_dir)
    sub = ds.select(["Rain", "Dog bark"], limit_per_class=5)
    assert sub.labels == ["Dog bark", "Rain"] and sub.counts() == {"Dog bark": 5, "Rain": 5}
    with pytest.raises(ParameterError, match="unknown label.*'Cat'"):
        ds.select(["Cat"])
    with pytest.raises(ParameterError, match="test fold 9"):
        ds.split(9)


# -- synthetic folder layout --------------------------------------------------------------------------


def test_folder_layout(tmp_path):
    root = tmp_path / "data"
    for label in ("001 - Dog bark", "rain", "Wind"):
        for k in range(3):
            write_wav(root / label / f"clip{k}.wav", tone(300 + 50 * k, 0.05, sr=8000), 8000)
    write_wav(root / "rain" / "nested" / "deep.wav", tone(900, 0.05, sr=8000), 8000)
    (root / "rain" / "notes.txt").write_text("not audio")
    (root / "rain" / ".hidden.wav").write_bytes(TINY_WAV)
    (root / ".git").mkdir()
    (root / ".git" / "x.wav").write_bytes(TINY_WAV)
    (root / "empty").mkdir()
    ds = datasets.load(root)
    assert ds.layout == "folders" and not ds.official_folds
    assert ds.labels == ["Dog bark", "Wind", "rain"]  # sorted, never file-system order
    assert ds.counts() == {"Dog bark": 3, "Wind": 3, "rain": 4}
    assert all(c.fold is None for c in ds.clips)
    with pytest.raises(DatasetError, match="folds are not assigned"):
        ds.split(1)
    folded = ds.with_folds(n_folds=3, seed=1)
    assert folded.folds == [1, 2, 3]
    for label in folded.labels:
        assert sorted(Counter(c.fold for c in folded.clips if c.label == label).values())[-1] <= 2


@pytest.mark.parametrize(
    "setup, needle",
    [
        (lambda p: None, "no such directory"),
        (lambda p: p.mkdir(), "not a dataset"),
        (lambda p: p.write_text("x"), "not a directory"),
        (lambda p: (p / "a").mkdir(parents=True) or (p / "a" / "x.txt").write_text("x"), "not a dataset"),
    ],
    ids=["missing", "empty", "file", "no-audio"],
)
def test_load_errors(tmp_path, setup, needle):
    root = tmp_path / "ds"
    setup(root)
    with pytest.raises(DatasetError, match=needle) as err:
        datasets.load(root)
    assert str(root) in str(err.value)


def test_duplicate_labels_rejected(tmp_path):
    write_wav(tmp_path / "001 - Dog" / "a.wav", tone(440, 0.05, sr=8000), 8000)
    write_wav(tmp_path / "Dog" / "b.wav", tone(440, 0.05, sr=8000), 8000)
    with pytest.raises(DatasetError, match="both give the label 'Dog'"):
        datasets.load(tmp_path)


# -- ESC-50 layout against the real metadata --------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_esc50(tmp_path_factory, esc50_csv) -> Path:
    """An ESC-50 tree: the real esc50.csv and a tiny WAV for each of its 2000 files."""
    root = tmp_path_factory.mktemp("esc50") / "ESC-50-master"
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    (root / "meta" / "esc50.csv").write_bytes(esc50_csv.read_bytes())
    with esc50_csv.open(newline="") as fh:
        for row in csv.DictReader(fh):
            (root / "audio" / row["filename"]).write_bytes(TINY_WAV)
    return root


@pytest.mark.data
def test_esc50_layout(fake_esc50):
    ds = datasets.load(fake_esc50)
    assert ds.layout == "esc50" and ds.official_folds
    assert len(ds.clips) == 2000 and len(ds.labels) == 50 and set(ds.counts().values()) == {40}
    assert Counter(c.fold for c in ds.clips) == {f: 400 for f in range(1, 6)}
    dog = next(c for c in ds.clips if c.id == "1-100032-A-0.wav")
    assert (dog.label, dog.fold, dog.source) == ("dog", 1, "100032")
    esc10 = datasets.load(fake_esc50, esc10=True)
    assert len(esc10.clips) == 400 and len(esc10.labels) == 10 and "dog" in esc10.labels
    assert set(esc10.counts().values()) == {40}
    assert Counter(c.fold for c in esc10.clips) == {f: 80 for f in range(1, 6)}


@pytest.mark.data
def test_esc50_missing_file_and_column(tmp_path, esc50_csv):
    rows = list(csv.DictReader(esc50_csv.open(newline="")))[:10]
    root = tmp_path / "esc"
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    for r in rows[:-1]:
        (root / "audio" / r["filename"]).write_bytes(TINY_WAV)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (root / "meta" / "esc50.csv").write_text(buf.getvalue())
    with pytest.raises(DatasetError, match=rows[-1]["filename"]):
        datasets.load(root)
    (root / "meta" / "esc50.csv").write_text("filename,fold\n1-1-A-0.wav,1\n")
    with pytest.raises(DatasetError, match="missing column"):
        datasets.load(root)


# -- assign_folds ---------------------------------------------------------------------------------------


def _clips(n_labels=3, n_sources=10, takes=2) -> list[Clip]:
    return [
        Clip(path=Path(f"/x/{label}/{s}-{t}.wav"), label=f"L{label}", source=f"L{label}/s{s}")
        for label in range(n_labels)
        for s in range(n_sources)
        for t in range(takes)
    ]


def test_assign_folds_stratified_grouped_seeded():
    clips = _clips()
    a = assign_folds(clips, n_folds=5, seed=7)
    assert [c.path for c in a] == [c.path for c in clips]  # order kept
    assert {c.fold for c in a} == {1, 2, 3, 4, 5}
    by_source: dict[str, set[int]] = {}
    for c in a:
        by_source.setdefault(c.source, set()).add(c.fold)
    assert all(len(f) == 1 for f in by_source.values())  # grouped
    for label in {c.label for c in a}:  # stratified: 10 sources x 2 takes per label -> 4 clips per fold
        assert set(Counter(c.fold for c in a if c.label == label).values()) == {4}
    assert [c.fold for c in assign_folds(clips, n_folds=5, seed=7)] == [c.fold for c in a]  # deterministic
    others = [[c.fold for c in assign_folds(clips, n_folds=5, seed=s)] for s in range(1, 6)]
    assert any(o != [c.fold for c in a] for o in others)  # the seed matters


def test_assign_folds_uneven_groups_and_small_classes():
    clips = _clips(n_labels=1, n_sources=3, takes=1) + [
        Clip(path=Path(f"/x/big/{t}.wav"), label="L0", source="big") for t in range(4)
    ]
    a = assign_folds(clips, n_folds=5, seed=0)
    assert len({c.fold for c in a if c.source == "big"}) == 1
    assert len({c.fold for c in a}) == 4  # 4 sources spread over 4 distinct folds
    with pytest.raises(ParameterError, match="n_folds"):
        assign_folds(clips, n_folds=1)


# -- downloads --------------------------------------------------------------------------------------------


def esc10_zip(path: Path, *, n: int = 2, extra: dict[str, bytes] | None = None) -> Path:
    """A zip shaped like GitHub's ESC-10 archive: ESC-10-master/NNN - Label/F-ID-T.ogg."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ESC-10-master/README.md", "ESC-10")
        for k, label in enumerate(("001 - Dog bark", "002 - Rain")):
            for i in range(n):
                zf.writestr(f"ESC-10-master/{label}/{i + 1}-{100 + k}-A.wav", TINY_WAV)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_download_from_local_path_and_file_url(tmp_path):
    archive = esc10_zip(tmp_path / "esc10.zip")
    dest = tmp_path / "data"
    events = []
    root = datasets.download("esc10", dest=dest, url=archive, progress=events.append)
    assert root == dest / "ESC-10"
    ds = datasets.load(root)
    assert ds.labels == ["Dog bark", "Rain"] and len(ds.clips) == 4 and ds.official_folds
    assert (root / "README.md").is_file()
    stages = [e["stage"] for e in events]
    assert "download" in stages and "unpack" in stages
    last = [e for e in events if e["stage"] == "download"][-1]
    assert last["done"] == last["total"] == archive.stat().st_size
    record = json.loads((dest / "ESC-10.download.json").read_text())
    import hashlib

    assert record["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert record["bytes"] == archive.stat().st_size and record["url"] == str(archive)
    assert sorted(p.name for p in dest.iterdir()) == ["ESC-10", "ESC-10.download.json"]  # nothing temporary left
    # present already: no download at all (the source may be gone)
    archive.unlink()
    assert datasets.download("esc10", dest=dest, url=archive) == root
    # a file:// URL works too
    archive2 = esc10_zip(tmp_path / "again.zip", n=3)
    root2 = datasets.download("esc10", dest=tmp_path / "other", url=archive2.as_uri())
    assert len(datasets.load(root2).clips) == 6


def test_download_checksum_recorded_on_first_use(tmp_path):
    archive = esc10_zip(tmp_path / "esc10.zip")
    dest = tmp_path / "data"
    root = datasets.download("esc10", dest=dest, url=archive)
    datasets.download("esc10", dest=dest, url=archive, force=True)  # same bytes: fine
    esc10_zip(archive, n=3)  # the archive behind the same URL changed
    with pytest.raises(DatasetError, match="checksum .* differs"):
        datasets.download("esc10", dest=dest, url=archive, force=True)
    assert len(datasets.load(root).clips) == 4  # the installed data is untouched
    assert sorted(p.name for p in dest.iterdir()) == ["ESC-10", "ESC-10.download.json"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: f"http://127.0.0.1:{_closed_port()}/master.zip", "cannot download .*offline"),
        (lambda p: str(p / "missing.zip"), "no such file"),
        (lambda p: (p / "bad.zip").write_bytes(b"not a zip") and str(p / "bad.zip"), "not a valid zip"),
        (lambda p: str(esc10_zip(p / "slip.zip", extra={"../evil.wav": TINY_WAV})), "unsafe entry"),
        (lambda p: str(make_zip(p / "x.zip", {"x/readme.txt": b"hi", "x/a/b.txt": b"no audio"})), "holds no ESC-10"),
        (lambda p: "ftp://example.org/x.zip", "only http"),
    ],
    ids=["offline", "missing", "corrupt", "zip-slip", "no-dataset", "scheme"],
)
def test_download_failures_are_one_line_and_leave_nothing(tmp_path, make, needle):
    url = make(tmp_path)
    dest = tmp_path / "data"
    with pytest.raises(DatasetError, match=needle) as err:
        datasets.download("esc10", dest=dest, url=url)
    assert "\n" not in str(err.value)
    assert not dest.exists() or list(dest.iterdir()) == []
    assert not (tmp_path / "evil.wav").exists()


def test_download_official_size_check(tmp_path):
    archive = esc10_zip(tmp_path / "esc10.zip")
    with pytest.raises(DatasetError, match="far less than"):
        datasets._fetch(str(archive), tmp_path / "out.zip", spec=datasets.DOWNLOADS["esc10"], progress=None)
    with pytest.raises(ParameterError, match="unknown dataset 'esc99'"):
        datasets.download("esc99", dest=tmp_path)


@pytest.mark.data
def test_download_esc50_layout_and_esc10_subset(tmp_path, esc50_csv):
    rows = list(csv.DictReader(esc50_csv.open(newline="")))
    keep = [r for r in rows if r["category"] in ("dog", "rooster", "cow")][:60]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(keep)
    archive = tmp_path / "esc50.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ESC-50-master/meta/esc50.csv", buf.getvalue())
        for r in keep:
            zf.writestr(f"ESC-50-master/audio/{r['filename']}", TINY_WAV)
    root = datasets.download("esc50", dest=tmp_path / "d", url=archive)
    assert root.name == "ESC-50"
    full = datasets.load(root)
    sub = datasets.load(root, esc10=True)
    assert len(full.clips) == len(keep)
    assert set(sub.labels) == {r["category"] for r in keep if r["esc10"] == "True"} and "cow" not in sub.labels


def test_cli_download(tmp_path, capsys):
    from soundkit.cli import main

    archive = esc10_zip(tmp_path / "esc10.zip")
    rc = main(["download", "esc10", "--dir", str(tmp_path / "d"), "--url", str(archive), "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    result = json.loads(out)
    assert result["path"] == str(tmp_path / "d" / "ESC-10") and result["clips"] == 4
    assert result["labels"] == ["Dog bark", "Rain"]
    rc = main(["download", "esc10", "--dir", str(tmp_path / "e"), "--url", str(tmp_path / "nope.zip")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("error: ") and "nope.zip: no such file" in err[-1]


# -- source recording and fold from ESC-style names, at every entry point --------------------------

@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("4-133047-A-5.wav", (4, "133047", "A", 5)),
        ("4-133047-B-5.wav", (4, "133047", "B", 5)),
        ("1-17367-A.ogg", (1, "17367", "A", None)),
        ("uploads/dog/5-9032-C-0.flac", (5, "9032", "C", 0)),
        ("C:\\clips\\2-118072-A-0", (2, "118072", "A", 0)),
        ("dog_bark.wav", None),
        ("recording-20261201-084000.wav", None),
        ("0-1234-A.wav", None),  # folds start at 1
        ("12-1234-A.wav", None),
        ("4-133047-AB-5.wav", None),
    ],
)
def test_parse_clip_name(name, want):
    parsed = datasets.parse_clip_name(name)
    assert (None if parsed is None else (parsed.fold, parsed.source, parsed.take, parsed.target)) == want


def _store(tmp_path):
    from soundkit.store import Store

    return Store(tmp_path / "home")


def test_store_add_parses_source_and_fold_from_names(tmp_path):
    store = _store(tmp_path)
    a = store.add(wav_bytes(tone(300, 0.5)), name="4-133047-A-5.wav", label="dog")  # an upload
    b = store.add(wav_bytes(tone(350, 0.5)), name="4-133047-B-5.wav", label="dog")  # the other take
    rec = store.add(wav_bytes(tone(400, 0.5)), name="recording-1.wav", origin="record")
    given = store.add(wav_bytes(tone(450, 0.5)), name="1-999-A-5.wav", source="mine", fold=2)
    assert (a.source, a.fold) == (b.source, b.fold) == ("133047", 4)
    assert (rec.source, rec.fold) == (rec.hash, None)  # no ESC name: one source per content hash
    assert (given.source, given.fold) == ("mine", 2)  # what the caller says wins
    many = store.add_many([("2-555-A-1.wav", wav_bytes(tone(500, 0.5)), "cat"), ("x.wav", wav_bytes(tone(550, 0.5)), "cat")])
    assert [(r.source, r.fold) for r in many.records] == [("555", 2), (many.records[1].hash, None)]
    # the exported metadata.csv carries them
    with zipfile.ZipFile(store.export_zip(tmp_path / "out.zip")) as zf:
        rows = {r["name"]: r for r in csv.DictReader(io.StringIO(zf.read("metadata.csv").decode()))}
    assert (rows["4-133047-B-5.wav"]["source"], rows["4-133047-B-5.wav"]["fold"]) == ("133047", "4")
    # the two takes are never split: the dataset groups them by source
    ds = store.dataset()
    assert len({c.fold for c in ds.clips if c.source == "133047"}) == 1


def test_zip_and_folder_imports_parse_esc_names(tmp_path):
    store = _store(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("dog/4-133047-A-5.wav", wav_bytes(tone(300, 0.5)))
        zf.writestr("3-222-A-1.wav", wav_bytes(tone(320, 0.5)))  # at the zip's root: unlabelled
        zf.writestr("plain.wav", wav_bytes(tone(340, 0.5)))
    result = store.import_zip(buf.getvalue())
    got = {r.name: (r.source, r.fold) for r in result.records}
    assert got["4-133047-A-5.wav"] == ("dog/133047", 4)
    assert got["3-222-A-1.wav"] == ("222", 3)
    assert got["plain.wav"][1] is None and got["plain.wav"][0] == next(r.hash for r in result.records if r.name == "plain.wav")
    root = tmp_path / "folders"
    write_wav(root / "cat" / "2-777-A-5.wav", tone(360, 0.5))
    write_wav(root / "cat" / "2-777-B-5.wav", tone(380, 0.5))
    write_wav(root / "owl" / "hoot.wav", tone(390, 0.5))
    write_wav(root / "owl" / "hoot2.wav", tone(395, 0.5))
    store.import_dataset(datasets.load(root))
    cats = store.clips(label="cat")
    assert {(r.source, r.fold) for r in cats} == {("cat/777", 2)}


def test_select_samples_across_folds_and_sources():
    # 5 folds x 4 sources x 2 takes of one label, listed fold by fold: the first 8 would all be fold 1
    clips = [
        Clip(path=Path(f"/x/{f}-{f}{s}-{t}.wav"), label="L", fold=f, source=f"{f}{s}")
        for f in range(1, 6) for s in range(4) for t in "AB"
    ] + [Clip(path=Path(f"/y/{k}.wav"), label="M", fold=1 + k % 5, source=f"m{k}") for k in range(10)]
    ds = datasets.Dataset(Path("/x"), clips, "folders", official_folds=True)
    sub = ds.select(limit_per_class=8, seed=0)
    chosen = [c for c in sub.clips if c.label == "L"]
    assert len(chosen) == 8 and sub.counts() == {"L": 8, "M": 8}
    per_fold = Counter(c.fold for c in chosen)
    assert set(per_fold) == {1, 2, 3, 4, 5} and max(per_fold.values()) - min(per_fold.values()) <= 1  # every fold
    assert len({c.source for c in chosen}) == 8  # one take per source while there are sources
    assert [c.path for c in ds.select(limit_per_class=8, seed=0).clips] == [c.path for c in sub.clips]  # deterministic
    assert {c.path for c in ds.select(limit_per_class=8, seed=1).clips} != {c.path for c in sub.clips}
    assert [c.path for c in sub.clips] == [c.path for c in clips if c in sub.clips]  # dataset order kept
    # fewer sources than asked for: second takes come in
    few = ds.select(["L"], limit_per_class=25, seed=0)
    assert len(few.clips) == 25 and len({c.source for c in few.clips}) == 20
    with pytest.raises(ParameterError, match="limit_per_class"):
        ds.select(limit_per_class=0)
