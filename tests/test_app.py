"""AppTest for every page of the Streamlit app: empty store, populated store, main interactions.

The populated data directory is real: a SQLite label store holding synthetic tones, and a run
directory around a tiny hand-weighted Keras model (tests/tiny_run.py, served through LiteRT) whose
report.json comes from its actual predictions on the stored clips. One stored clip is mislabelled on
purpose, so Results has a misclassified clip to relabel. Uploads and recordings go through AppTest's
file_uploader / audio_input support; the browser test (tests/e2e) covers the same in Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from synth import noise, tone, wav_bytes

from soundkit.models.cnn import WIDE_FILTERS

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "tests" / "app_main.py")  # runs streamlit_app.run(); see its docstring
PAGES = ["classify", "label", "spectrogram", "augment", "train", "results"]
SR = 22050


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture
def app_home(tmp_path, monkeypatch):
    """An empty SOUNDKIT_HOME (not created yet)."""
    home = tmp_path / "home"
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_run_template(tmp_path_factory):
    """A run directory around tests/tiny_run.py's hand-weighted "low"/"high" model (made once)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tiny_run import make_run

    return make_run(tmp_path_factory.mktemp("tiny") / "tiny")


def _populate(home: Path, run_template: Path | None) -> dict:
    """Store: 4 low tones labelled "low", 3 high tones labelled "high", 1 high tone mislabelled "low",
    2 unlabelled clips (a low tone, noise). With ``run_template``: runs/tiny with a real report."""
    from soundkit.store import Store

    store = Store(home)
    ids: dict[str, list[int]] = {"low": [], "high": [], "wrong": [], "unlabelled": []}
    for k in range(4):
        ids["low"].append(store.add(wav_bytes(tone(200 + 30 * k, 1.5, SR), SR), name=f"low{k}.wav", label="low").id)
    for k in range(3):
        ids["high"].append(
            store.add(wav_bytes(tone(6000 + 400 * k, 1.5, SR), SR), name=f"high{k}.wav", label="high").id
        )
    ids["wrong"].append(store.add(wav_bytes(tone(7500, 1.5, SR), SR), name="oops.wav", label="low").id)
    ids["unlabelled"].append(store.add(wav_bytes(tone(260, 4.0, SR), SR), name="mystery.wav").id)
    ids["unlabelled"].append(store.add(wav_bytes(noise(1.0, SR, seed=3), SR), name="hiss.wav").id)
    if run_template is not None:
        run_dir = shutil.copytree(run_template, home / "runs" / "tiny")
        _write_report(store, Path(run_dir))
    return ids


def _write_report(store, run_dir: Path) -> None:
    """report.json of the run from its own predictions on the labelled stored clips."""
    from soundkit.evaluation import Report
    from soundkit.predict import Predictor

    pred = Predictor.load(run_dir)
    records = [r for r in store.clips() if r.label is not None]
    P = np.stack([pred.predict_file(r.path).probabilities for r in records])
    y = [pred.labels.index(r.label) for r in records]
    report = Report.from_probabilities(
        P, y, labels=pred.labels, ids=[str(r.id) for r in records], paths=[str(r.path) for r in records]
    )
    (run_dir / "report.json").write_text(json.dumps(report.to_dict()), encoding="utf-8")
    (run_dir / "history.csv").write_text(
        "epoch,loss,accuracy,val_loss,val_accuracy\n1,0.9,0.5,0.8,0.5\n2,0.4,0.9,0.5,0.8\n"
    )


@pytest.fixture
def populated(app_home, tiny_run_template):
    ids = _populate(app_home, tiny_run_template)
    return app_home, ids


def open_page(page: str, *, timeout: float = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    if page != "classify":
        at.switch_page(str(ROOT / "pages" / f"{page}.py"))
        at.run()
    return at


def ok(at: AppTest) -> AppTest:
    """Assert the last run raised nothing and showed no error; return ``at`` for chaining."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def click(at: AppTest, key: str) -> AppTest:
    """Click a button and run the page."""
    return at.button(key=key).click().run()


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def select_rows(at: AppTest, rows: list[int]) -> None:
    """Select rows of the Label page's clip table (its selection state accepts writes)."""
    table = next(df for df in at.dataframe if df.key and df.key.startswith("label_table"))
    at.session_state[table.key] = {"selection": {"rows": rows, "columns": [], "cells": []}}


def table_with(at: AppTest, column: str):
    """The first st.dataframe whose table has ``column``, as a pandas DataFrame."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def store_of(home: Path):
    from soundkit.store import Store

    return Store(home)


# -- every page, empty and populated --------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_empty_store(app_home, page):
    at = ok(open_page(page))
    assert at.title[0].value.lower() == page
    if page in ("classify", "results", "train", "label"):
        # a friendly pointer to what to do first, never a traceback
        assert at.info or at.caption, page


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_populated_store(populated, page):
    at = ok(open_page(page))
    assert at.title[0].value.lower() == page
    if page == "label":
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Clips"] == "10" and metrics["Labelled"] == "8" and metrics["Unlabelled"] == "2"
    if page == "results":
        assert {m.label: m.value for m in at.metric}["Accuracy"] == f"{7 / 8:.1%}"
        assert "95% CI" in texts(at.markdown)
    if page == "train":
        assert at.multiselect[0].value == ["high", "low"]
    if page == "label":
        assert at.button(key="label_download")  # ESC-10 / ESC-50 download and import


# -- Label -------------------------------------------------------------------------------------------------


def test_label_create_rename_merge_delete_classes(populated):
    home, _ = populated
    at = ok(open_page("label"))
    at.text_input(key="label_create_name").input("Dog bark")
    click(at, "FormSubmitter:label_create_form-Create")
    ok(at)
    assert "Dog bark" in store_of(home).labels()
    at.selectbox(key="label_rename_old").select("Dog bark")
    at.text_input(key="label_rename_new").input("Dog")
    click(at, "FormSubmitter:label_rename_form-Rename")
    ok(at)
    assert "Dog" in store_of(home).labels() and "Dog bark" not in store_of(home).labels()
    at.selectbox(key="label_merge_src").select("high")
    at.selectbox(key="label_merge_dst").select("low")
    click(at, "FormSubmitter:label_merge_form-Merge")
    ok(at)
    assert store_of(home).labels()["low"] == 8 and "high" not in store_of(home).labels()
    at.selectbox(key="label_delete_name").select("Dog")
    at.checkbox(key="label_delete_sure").check()
    click(at, "FormSubmitter:label_delete_form-Delete class")
    ok(at)
    assert "Dog" not in store_of(home).labels()


def test_label_bulk_assign_accept_suggestions_delete_and_undo(populated):
    home, ids = populated
    at = ok(open_page("label"))
    at.selectbox(key="label_filter").select("Unlabelled").run()
    table = next(df for df in at.dataframe if df.key and df.key.startswith("label_table"))
    assert sorted(table.value["name"]) == ["hiss.wav", "mystery.wav"]
    assert table.value["spectrogram"].str.startswith("data:image/png;base64,").all()

    # the model suggests labels for the unlabelled clips; least confident first
    click(at, "label_suggest")
    ok(at)
    recs = {r.name: r for r in store_of(home).clips(unlabelled=True)}
    assert recs["mystery.wav"].pred_label == "low" and recs["mystery.wav"].pred_run == "tiny"
    at.selectbox(key="label_order").select("Least confident suggestion").run()
    table = next(df for df in at.dataframe if df.key and df.key.startswith("label_table"))
    conf = list(table.value["confidence"])
    assert conf == sorted(conf)
    row = list(table.value["name"]).index("mystery.wav")
    select_rows(at, [row])
    at.run()
    click(at, "label_accept")
    ok(at)
    assert store_of(home).get(ids["unlabelled"][0]).label == "low"

    # bulk assign a class to the remaining unlabelled clip (AppTest cannot type a new option into a
    # selectbox, so the class is created first; the browser test types one)
    store_of(home).create_label("noise")
    at.run()
    table = next(df for df in at.dataframe if df.key and df.key.startswith("label_table"))
    assert list(table.value["name"]) == ["hiss.wav"]
    select_rows(at, [0])
    at.run()
    at.selectbox(key="label_assign_choice").set_value("noise").run()
    click(at, "label_assign")
    ok(at)
    assert store_of(home).get(ids["unlabelled"][1]).label == "noise"

    # delete two clips, then undo
    at.selectbox(key="label_filter").select("high").run()
    select_rows(at, [0, 1])
    at.run()
    click(at, "label_delete")
    ok(at)
    assert store_of(home).count(label="high") == 1
    assert "Deleted 2 clip(s)" in texts(at.info)
    click(at, "label_undo")
    ok(at)
    assert store_of(home).count(label="high") == 3


def test_label_zero_shot_yamnet_suggestions_before_any_training(app_home, yamnet_path, esc10_dir, monkeypatch):
    """With no trained run, YAMNet names unlabelled clips with AudioSet classes; a name accepted
    becomes the clip's label."""
    from soundkit.store import Store

    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(yamnet_path.parent))
    dog = sorted((esc10_dir / "001 - Dog bark").glob("*.ogg"))[0]
    store = Store(app_home)
    dog_id = store.add(dog.read_bytes(), name=dog.name).id
    store.add(wav_bytes(tone(440, 2.0, SR), SR), name="beep.wav")
    at = ok(open_page("label"))
    assert at.selectbox(key="label_suggest_run").value == "pretrained:yamnet"  # no trained run yet
    click(at, "label_suggest")
    ok(at)
    recs = {r.name: r for r in store_of(app_home).clips(unlabelled=True)}
    assert {r.pred_run for r in recs.values()} == {"yamnet-audioset"}
    assert recs[dog.name].pred_label in {"Dog", "Bark", "Bow-wow", "Animal", "Domestic animals, pets"}
    assert 0 < recs[dog.name].pred_confidence <= 1
    assert recs["beep.wav"].pred_label != recs[dog.name].pred_label

    at.selectbox(key="label_filter").select("Unlabelled").run()
    table = next(df for df in at.dataframe if df.key and df.key.startswith("label_table"))
    select_rows(at, [list(table.value["name"]).index(dog.name)])
    at.run()
    click(at, "label_accept")
    ok(at)
    assert store_of(app_home).get(dog_id).label == recs[dog.name].pred_label


def test_label_upload_clips_and_zip(app_home, tmp_path):
    import zipfile

    store_of(app_home).create_label("hum")
    at = ok(open_page("label"))
    uploader = at.file_uploader(key="label_upload_0")
    uploader.upload("a.wav", wav_bytes(tone(300, 1.0, SR), SR), "audio/wav")
    uploader.upload("b.wav", wav_bytes(tone(900, 1.0, SR), SR), "audio/wav")
    uploader.upload("broken.wav", b"not audio at all", "audio/wav")
    at.run()
    at.selectbox(key="label_upload_label").set_value("hum").run()
    click(at, "label_upload_add")
    assert not at.exception
    store = store_of(app_home)
    assert store.labels() == {"hum": 2}
    assert "broken.wav" in texts(at.code)  # the bad file is reported, the good ones are kept
    # ... right below the upload button (in the Add clips tab, before the Record section), not in an expander
    add_tab = at.tabs[1]
    assert "Added 2 clip(s); 1 file(s) could not be added" in texts(add_tab.warning)
    assert not at.expander or not any("could not be added" in str(e.label) for e in at.expander)

    buf = tmp_path / "ds.zip"
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("bird/b1.wav", wav_bytes(tone(4000, 0.5, SR), SR))
        zf.writestr("bird/b2.wav", wav_bytes(tone(4200, 0.5, SR), SR))
        zf.writestr("engine/e1.wav", wav_bytes(noise(0.5, SR, seed=1), SR))
    at.file_uploader(key="label_upload_1").upload("ds.zip", buf.read_bytes(), "application/zip")
    at.run()
    click(at, "label_upload_add")
    ok(at)
    assert store_of(app_home).labels() == {"bird": 2, "engine": 1, "hum": 2}
    assert at.file_uploader(key="label_upload_2")  # a fresh, empty uploader after each import
    assert "Added 3 clip(s)." in texts(at.tabs[1].success)
    for gen in (2, 3):  # the same zip again, twice: "already there" every time
        at.file_uploader(key=f"label_upload_{gen}").upload("ds.zip", buf.read_bytes(), "application/zip")
        at.run()
        click(at, "label_upload_add")
        ok(at)
        info = texts(at.tabs[1].info)  # stored clips keep their labels, and the message says which
        assert "Added 0 clip(s), 3 already there (kept as " in info and ": nothing new was added." in info


def test_label_thumbnails_show_the_whole_clip(app_home):
    """A clip whose sound is at 0.1-1.2 s of 5 s: the thumbnail's left part is bright, and the image's
    aspect fits the table cell (2:1), so the cell shows the whole clip, not its middle."""
    import base64
    import io as _io

    from PIL import Image

    from soundkit_app.label import THUMB_SIZE

    y = np.concatenate([np.zeros(int(0.1 * SR)), tone(800, 1.1, SR), np.zeros(int(3.8 * SR))]).astype(np.float32)
    y[int(1.3 * SR):] += noise(len(y) / SR - 1.3, SR, amp=1e-4, seed=3)[: len(y) - int(1.3 * SR)]
    store_of(app_home).add(wav_bytes(y, SR), name="early.wav", label="beep")
    at = ok(open_page("label"))
    table = next(df for df in at.dataframe if df.key and df.key.startswith("label_table")).value
    uri = table["spectrogram"].iloc[0]
    img = np.asarray(Image.open(_io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("L"), dtype=float)
    assert img.shape[::-1] == THUMB_SIZE and THUMB_SIZE[0] / THUMB_SIZE[1] <= 2.2
    w = img.shape[1]
    assert img[:, : w // 4].mean() > 2 * img[:, w // 2 :].mean()  # the sound is in the first quarter


def test_label_downloads_and_imports_esc10_in_the_background(app_home, tmp_path, monkeypatch):
    """The download runs in a server thread (it survives leaving the page); the page shows its
    progress, then the imported clips; a failed download is one line and changes nothing."""
    import zipfile
    from dataclasses import replace

    from soundkit import datasets

    archive = tmp_path / "esc10.zip"  # GitHub's layout, 2 classes x 3 clips
    with zipfile.ZipFile(archive, "w") as zf:
        for k, label in enumerate(("001 - Dog bark", "002 - Rain")):
            for i in range(3):
                zf.writestr(f"ESC-10-master/{label}/{i + 1}-{100 + k}-A.wav", wav_bytes(tone(300 + 100 * i + 1000 * k, 0.5)))
    monkeypatch.setitem(datasets.DOWNLOADS, "esc10", replace(datasets.DOWNLOADS["esc10"], url=archive.as_uri(), min_bytes=0))
    monkeypatch.setitem(datasets.DOWNLOADS, "esc50", replace(datasets.DOWNLOADS["esc50"], url=(tmp_path / "gone.zip").as_uri(), min_bytes=0))
    at = ok(open_page("label"))
    ok(click(at, "label_download"))

    def settled() -> None:
        for _ in range(100):
            at.run()
            if not at.button(key="label_download").disabled:
                return
            time.sleep(0.1)
        raise AssertionError("the download did not finish")

    settled()
    ok(at.run())  # the metrics at the top may have been drawn before the import's last clip: one more run
    clips = store_of(app_home).clips()
    assert len(clips) == 6 and {c.label for c in clips} == {"Dog bark", "Rain"}
    assert {m.label: m.value for m in at.metric}["Clips"] == "6"
    assert (app_home / "datasets" / "ESC-10").is_dir()
    at.selectbox(key="label_download_which").select("ESC-50").run()
    click(at, "label_download")
    settled()
    assert at.error and "gone.zip" in at.error[0].value and "\n" not in at.error[0].value
    assert len(store_of(app_home).clips()) == 6  # nothing lost
    assert not [p for p in (app_home / "datasets").iterdir() if p.name.startswith(".")]  # nothing half-written


def test_label_record_and_export(app_home):
    import io
    import zipfile

    store_of(app_home).create_label("whistle")
    at = ok(open_page("label"))
    rec = at.audio_input(key="label_record_0")
    assert rec.sample_rate == 44100
    rec.upload("rec.wav", wav_bytes(tone(500, 1.0, 44100), 44100))
    at.run()
    at.selectbox(key="label_record_label").set_value("whistle").run()
    click(at, "label_record_add")
    ok(at)
    (clip,) = store_of(app_home).clips()
    assert clip.label == "whistle" and clip.origin == "record" and clip.sr == 44100

    click(at, "label_export_build")
    ok(at)
    path = Path(at.session_state["label_export_path"])
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
        names = zf.namelist()
    assert "metadata.csv" in names and any(n.startswith("whistle/") for n in names)


def test_label_import_folder(app_home, class_folders):
    at = ok(open_page("label"))
    at.text_input(key="label_import_folder").input(str(class_folders)).run()
    click(at, "label_import")
    ok(at)
    assert store_of(app_home).labels() == {"high": 4, "low": 4, "noise": 4}
    at.text_input(key="label_import_folder").input(str(class_folders / "nope")).run()
    at.button(key="label_import").click().run()
    assert at.error and "nope" in at.error[0].value  # one line, no traceback
    assert not at.exception


# -- Classify ------------------------------------------------------------------------------------------------


def test_classify_stored_clip_and_add_to_dataset(populated):
    home, ids = populated
    at = ok(open_page("classify"))
    assert at.selectbox(key="classify_model").value.endswith("tiny")
    at.radio(key="classify_source").set_value("From the dataset").run()
    at.selectbox(key="classify_stored").set_value(ids["unlabelled"][0]).run()
    ok(at)
    assert "Heard: **low**" in texts(at.markdown)
    # a 4 s clip is longer than one 0.74 s window: the timeline is drawn
    assert any("window" in c.value for c in at.caption)
    click(at, "classify_add_0_button")
    ok(at)
    # the same content is already stored: re-adding labels it with the prediction
    assert store_of(home).get(ids["unlabelled"][0]).label == "low"


def test_classify_upload_many_and_record(populated):
    at = ok(open_page("classify"))
    up = at.file_uploader(key="classify_upload")
    up.upload("low.wav", wav_bytes(tone(180, 2.0, SR), SR), "audio/wav")
    up.upload("high.flac", _flac(tone(7000, 2.0, SR)), "audio/flac")
    at.run()
    ok(at)
    md = texts(at.markdown)
    assert "low.wav" in md and "high.flac" in md
    heard = [m.value for m in at.markdown if m.value.startswith("Heard:")]
    assert heard[0].startswith("Heard: **low**") and heard[1].startswith("Heard: **high**")

    at.radio(key="classify_source").set_value("Record").run()
    assert at.audio_input(key="classify_record").sample_rate == 44100
    at.audio_input(key="classify_record").upload("rec.wav", wav_bytes(tone(6500, 1.0, 44100), 44100))
    at.run()
    ok(at)
    assert "Heard: **high**" in texts(at.markdown)


def test_classify_with_pretrained_yamnet(app_home, yamnet_path, monkeypatch):
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(yamnet_path.parent))
    at = ok(open_page("classify"))
    assert at.selectbox(key="classify_model").value == "pretrained:yamnet"  # no trained run yet
    at.file_uploader(key="classify_upload").upload("hiss.wav", wav_bytes(noise(2.0, SR, seed=0), SR), "audio/wav")
    at.run()
    ok(at)
    heard = next(m.value for m in at.markdown if m.value.startswith("Heard:"))
    assert "**" in heard and "%" in heard


def test_classify_bad_upload_is_one_line_error(populated):
    at = open_page("classify")
    at.file_uploader(key="classify_upload").upload("bad.wav", b"RIFF....garbage", "audio/wav")
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "bad.wav" in at.error[0].value and "\n" not in at.error[0].value


def _flac(y):
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, SR, format="FLAC")
    return buf.getvalue()


# -- Spectrogram / Augment -------------------------------------------------------------------------------------


def test_spectrogram_of_an_upload(app_home):
    at = ok(open_page("spectrogram"))
    assert "empty" in texts(at.info)  # nothing stored yet: a hint, not a traceback
    at.radio(key="spec_source").set_value("Upload").run()
    at.file_uploader(key="spec_upload").upload("chirp.wav", wav_bytes(tone(1000, 3.0, 44100), 44100), "audio/wav")
    at.run()
    ok(at)
    assert "3.00 s at 44100 Hz · 128 bands × 130 frames" in texts(at.caption)
    assert len(at.get("image")) == 1


def test_spectrogram_parameters(populated):
    at = ok(open_page("spectrogram"))
    assert at.slider(key="spec_n_mels").value == 128
    assert at.select_slider(key="spec_n_fft").value == 1024 and at.select_slider(key="spec_hop").value == 1024
    cap = texts(at.caption)
    assert "128 bands" in cap and "2.97 s" in cap
    at.slider(key="spec_n_mels").set_value(64)
    at.select_slider(key="spec_hop").set_value(512).run()
    ok(at)
    cap = texts(at.caption)
    assert "64 bands" in cap and "11.6 ms per frame" in cap
    assert len(at.get("image")) == 1


def test_augment_preview_save_policy_and_add_copy(populated):
    home, ids = populated
    at = ok(open_page("augment"))
    assert "Rubber Band" in texts(at.success) or "librosa" in texts(at.warning)
    at.selectbox(key="aug_stored").set_value(ids["low"][0])
    at.slider(key="aug_ratio").set_value(1.25)
    at.slider(key="aug_semitones").set_value(-2.0).run()
    ok(at)
    assert "**Augmented** · 1.88 s" in texts(at.markdown)  # 1.5 s stretched by 1.25
    at.text_input(key="aug_policy_name").input("slow-low").run()
    click(at, "aug_save")
    ok(at)
    saved = json.loads((home / "policies" / "slow-low.json").read_text())
    assert saved["transforms"][0] == {"type": "time_stretch", "min_ratio": 0.8, "max_ratio": 1.25}
    assert "mixup" not in saved
    at.text_input(key="aug_policy_name").input("slow-low-mixup")
    at.toggle(key="aug_mixup").set_value(True).run()
    click(at, "aug_save")
    ok(at)
    assert json.loads((home / "policies" / "slow-low-mixup.json").read_text())["mixup"] == 0.2
    click(at, "aug_add")
    ok(at)
    original = store_of(home).get(ids["low"][0])
    (copy,) = store_of(home).clips(search="-aug-")
    assert copy.label == "low" and copy.origin == "augment" and copy.source == (original.source or original.hash)
    at.switch_page(str(ROOT / "pages" / "train.py")).run()
    assert "saved: slow-low" in at.selectbox(key="train_augment").options


# -- Results ---------------------------------------------------------------------------------------------------


def test_results_tables_and_one_click_relabel(populated):
    home, ids = populated
    at = ok(open_page("results"))
    metrics = table_with(at, "precision")
    assert list(metrics["class"]) == ["high", "low"]
    assert list(metrics.columns) == ["class", "accuracy", "precision", "recall", "f1", "support"]
    assert metrics.set_index("class").loc["low", "support"] == 5  # 4 low tones + the mislabelled one
    assert "**low** heard as **high**" in texts(at.markdown)
    # every label (but the current one) and "keep as is"
    fix = next(s for s in at.selectbox if s.key and s.key.startswith("results_fix_"))
    assert fix.options == ["keep as is", "high"] and fix.value == "keep as is"
    apply = next(b for b in at.button if b.key and b.key.startswith("results_apply_"))
    assert apply.disabled  # nothing to apply while "keep as is"
    fix.set_value("high").run()
    next(b for b in at.button if b.key and b.key.startswith("results_apply_")).click().run()
    ok(at)
    assert store_of(home).get(ids["wrong"][0]).label == "high"
    assert "Now labelled **high**" in texts(at.success)  # the card changes in place, at once


def test_results_show_the_interval_and_the_clips_tested(populated):
    home, _ = populated
    at = ok(open_page("results"))
    # 7 of 8 right: Wilson 95% interval 53-98%
    assert "**Accuracy on held-out fold" in texts(at.markdown) or "**Accuracy on the validation clips" in texts(at.markdown)
    assert "87.5% (95% CI 53-98%, 8 test clips)" in texts(at.markdown)
    tested = table_with(at, "correct")
    assert len(tested) == 8 and int(tested["correct"].sum()) == 7
    assert list(tested.columns) == ["clip", "true", "predicted", "probability", "correct"]


def test_results_show_a_cross_validated_estimate(populated):
    """A train --cv-first run: cv.json holds the estimate, the clips tested and the fold of each."""
    home, _ = populated
    from soundkit.evaluation import Report
    from soundkit.training import CVResult

    run = home / "runs" / "tiny"
    rep = Report.from_dict(json.loads((run / "report.json").read_text()))
    half = len(rep.clips) // 2
    folds = {1: rep.clips[:half], 2: rep.clips[half:]}
    reports = {}
    for f, clips in folds.items():
        labels = rep.labels
        P = np.eye(len(labels))[[labels.index(c["predicted"]) for c in clips]]
        reports[f] = Report.from_probabilities(P, [labels.index(c["true"]) for c in clips], labels=labels,
                                               ids=[c["id"] for c in clips], paths=[c["path"] for c in clips],
                                               notes=["label 'x' has no training clips in this split"] if f == 2 else ())
    acc = {f: r.accuracy for f, r in reports.items()}
    cv = CVResult(fold_accuracy=acc, mean_accuracy=float(np.mean(list(acc.values()))), std_accuracy=0.0, seconds=1.0,
                  reports=reports, notes={2: list(reports[2].notes)})
    (run / "cv.json").write_text(json.dumps(cv.to_dict()))
    at = ok(open_page("results"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["CV accuracy"] == f"{7 / 8:.1%}" and metrics["Test fold"] == "CV"
    assert "2-fold cross-validation grouped by source" in texts(at.markdown)
    assert "trained on all" in texts(at.markdown)
    assert any("fold 2: label 'x'" in w.value for w in at.warning)
    tested = table_with(at, "fold")
    assert sorted(tested["fold"]) == [1] * half + [2] * (8 - half)


@pytest.mark.slow
def test_results_shows_an_augmentation_study_and_saves_its_policy(app_home, class_folders):
    """A real (tiny) augment-study written where the CLI writes it: the Results page shows its per-class
    table and saves its class-conditional policy for the Train page."""
    import json

    from soundkit import augment, augment_study, datasets
    from soundkit.config import FeatureConfig, TrainConfig

    ds = datasets.load(class_folders).with_folds(n_folds=2, seed=0)
    feats = FeatureConfig(sr=22050, fmax=11025, n_mels=32, frames=16, window_hop=8, n_fft=512, hop_length=512)
    result = augment_study.study(ds, sets=["none", "pitch"], copies=1, features=feats, cache_dir=app_home / "cache",
                           config=TrainConfig(epochs=1, batch_size=4, validation_fraction=0.0,
                                              options={"filters": [8, 16], "input_pool": [1, 1]}))
    augment_study.save_study(result, app_home / "runs" / "augment-study-tiny")

    at = ok(open_page("results"))
    assert "No finished runs yet" in texts(at.info)  # runs view by default; no trained run
    at.segmented_control(key="results_view").set_value("Augmentation studies").run()
    ok(at)
    assert len(at.dataframe) == 1  # the per-class table (AppTest does not expose a plain dataframe's key)
    table = at.dataframe[0].value
    assert list(table.columns) == ["class", "none", "pitch", "class_conditional", "chosen"]
    assert sorted(table["class"]) == sorted(ds.labels)
    assert set(table["chosen"]) <= {"none", "pitch"}
    for row in result["table"]:
        got = table.set_index("class").loc[row["label"]]
        assert got["none"] == pytest.approx(row["none"]) and got["pitch"] == pytest.approx(row["pitch"])
    assert f"{result['sets']['none']['mean_accuracy']:.1%}" in [m.value for m in at.metric]

    click(at, "results_study_policy")
    ok(at)
    saved = app_home / "policies" / "class-conditional-augment-study-tiny.json"
    assert json.loads(saved.read_text())["per_class"] == result["policy"]["per_class"]
    from soundkit_app.training import policy_choices

    assert policy_choices()[str(saved)] == "saved: class-conditional-augment-study-tiny"  # the Train page's menu
    assert augment.policy_from_arg(str(saved)).per_class == result["policy"]["per_class"]


def test_results_compare_two_runs(populated, tiny_run_template):
    home, _ = populated
    from soundkit.store import Store

    second = Path(shutil.copytree(home / "runs" / "tiny", home / "runs" / "tiny-2"))
    report = json.loads((second / "report.json").read_text())
    report["per_class_accuracy"]["high"] = 0.5
    (second / "report.json").write_text(json.dumps(report))
    meta = {"created": "2099-01-01T00:00:00+00:00"}  # newest
    (second / "meta.json").write_text(json.dumps(meta))
    assert Store(home).stats()["clips"] == 10
    at = ok(open_page("results"))
    assert at.selectbox(key="results_run").value == str(second)
    at.selectbox(key="results_compare_run").set_value(str(home / "runs" / "tiny")).run()
    ok(at)
    cmp = table_with(at, "difference").set_index("class")
    assert cmp.loc["high", "difference"] == pytest.approx(0.5 - 1.0)
    assert cmp.loc["low", "difference"] == pytest.approx(0.0)
    assert len(at.get("image")) == 2  # confusion matrix + the two runs' per-class accuracy side by side


# -- Train -----------------------------------------------------------------------------------------------------


def test_train_page_reads_a_dataset_folder(app_home, class_folders):
    at = ok(open_page("train"))
    assert "at least two classes" in texts(at.info)  # empty store
    at.radio(key="train_source").set_value("A dataset folder on this server").run()
    at.text_input(key="train_folder").input(str(class_folders)).run()
    ok(at)
    assert at.multiselect[0].value == ["high", "low", "noise"]
    assert at.multiselect[0].options == ["high (4)", "low (4)", "noise (4)"]
    at.text_input(key="train_folder").input(str(class_folders / "missing")).run()
    assert len(at.error) == 1 and "missing" in at.error[0].value and not at.exception


def test_train_rejects_a_bad_run_name(populated):
    at = ok(open_page("train"))
    at.text_input(key="train_run_name").input("../escape").run()
    at.button(key="train_start").click().run()
    assert len(at.error) == 1 and "run name" in at.error[0].value
    assert not (populated[0] / "runs").exists() or not any((populated[0] / "runs").glob("*escape*"))


def cv_toggle(at: AppTest):
    return next(t for t in at.toggle if t.key and t.key.startswith("train_cv_first"))


def test_train_page_estimates_small_data_by_cross_validation(populated, app_home, tmp_path):
    at = ok(open_page("train"))
    assert cv_toggle(at).value is True  # 5 and 3 clips per class: small data
    assert at.selectbox(key="train_test_fold").disabled
    assert at.selectbox(key="train_test_fold").options == ["Last fold", "None (validation clips)", *[f"Fold {k}" for k in range(1, 6)]]
    cv_toggle(at).set_value(False).run()
    assert not at.selectbox(key="train_test_fold").disabled
    # 20 clips in every class: no longer small, the toggle starts off
    from synth import write_wav

    big = tmp_path / "big"
    for k in range(20):
        write_wav(big / "a" / f"a{k}.wav", tone(300 + 10 * k, 0.3, SR), SR)
        write_wav(big / "b" / f"b{k}.wav", noise(0.3, SR, seed=k), SR)
    at.radio(key="train_source").set_value("A dataset folder on this server").run()
    at.text_input(key="train_folder").input(str(big)).run()
    ok(at)
    assert cv_toggle(at).value is False
    from soundkit_app.training import small_data

    assert small_data({"a": 19, "b": 40}, ["a", "b"]) and not small_data({"a": 19, "b": 40}, ["b"])


def _wait(run_dir: Path, *, timeout: float = 300) -> dict:
    from soundkit import jobs

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        status = jobs.read_status(run_dir)
        if status and status.get("state") != "running":
            return status
        time.sleep(1)
    raise AssertionError(f"training in {run_dir} did not finish in {timeout} s")


@pytest.mark.slow
def test_train_tiny_run_then_results_and_classify(populated):
    home, _ = populated
    at = ok(open_page("train"))
    cv_toggle(at).set_value(False).run()  # one model, no cross-validated estimate first
    at.number_input(key="train_epochs").set_value(2)
    at.selectbox(key="train_test_fold").set_value("0")
    at.number_input(key="train_limit").set_value(4)  # "low" has 5 clips, "high" 3
    at.toggle(key="train_shift").set_value(False)
    at.toggle(key="train_wide").set_value(True)
    at.text_input(key="train_run_name").input("app-tiny").run()
    click(at, "train_start")
    ok(at)
    run_dir = home.resolve() / "runs" / "app-tiny"
    assert at.session_state["train_run"] == str(run_dir)
    assert "Training app-tiny" in texts(at.markdown)  # the live panel
    # a second launch while the first runs is refused with a clear message, not queued
    at.text_input(key="train_run_name").input("app-tiny-2").run()
    at.button(key="train_start").click().run()
    refused = texts(at.error)
    assert "already running" in refused and "app-tiny" in refused, refused
    status = _wait(run_dir)
    assert status["state"] == "done", status
    assert not (home / "runs" / "app-tiny-2" / "model.keras").exists()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["n_train"] + meta["n_val"] == 4 + 3, meta  # at most 4 clips per class were used
    assert json.loads((run_dir / "config.json").read_text())["train"]["options"] == {"crops": "fixed", "filters": list(WIDE_FILTERS)}
    at.run()
    ok(at)
    assert "app-tiny" in texts(at.success)

    at.switch_page(str(ROOT / "pages" / "results.py")).run()
    ok(at)
    assert at.selectbox(key="results_run").value == str(run_dir)
    assert at.metric[0].label == "Accuracy"
    at.switch_page(str(ROOT / "pages" / "classify.py")).run()
    assert at.selectbox(key="classify_model").value == str(run_dir)  # the newest run is the default


@pytest.mark.slow
def test_train_cancel(populated):
    home, _ = populated
    at = ok(open_page("train"))
    at.number_input(key="train_epochs").set_value(300)
    at.text_input(key="train_run_name").input("to-cancel").run()
    click(at, "train_start")
    ok(at)
    run_dir = home.resolve() / "runs" / "to-cancel"
    from soundkit import jobs

    t0 = time.monotonic()
    while (jobs.read_status(run_dir) or {}).get("stage") in (None, "starting") and time.monotonic() - t0 < 120:
        time.sleep(0.5)
    at.run()
    assert "Training to-cancel" in texts(at.markdown)
    click(at, "train_cancel")
    assert jobs.read_status(run_dir)["state"] == "cancelled"
    assert jobs.running_job(home) is None
    assert "cancelled" in texts(at.warning)
