"""The command line, run for real in subprocesses: error contract, train -> predict -> evaluate, cv."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from synth import noise, tone, write_wav

ROOT = Path(__file__).resolve().parents[1]
REPORT_KEYS = {"accuracy", "per_class_accuracy", "precision", "recall", "f1", "support", "confusion_matrix",
               "labels", "n_test", "misclassified"}


def run_cli(*args: str | Path, home: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOUNDKIT_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("SOUNDKIT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "soundkit", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def home(work) -> Path:
    return work / "home"


@pytest.fixture(scope="module")
def folders(work) -> Path:
    """2 classes x 5 clips, no folds in the names (folds get assigned)."""
    root = work / "folders"
    for k in range(5):
        write_wav(root / "tone" / f"tone{k}.wav", tone(400 + 120 * k, 0.8, 22050))
        write_wav(root / "hiss" / f"hiss{k}.wav", noise(0.8, 22050, amp=0.3, seed=k))
    return root


@pytest.fixture(scope="module")
def esc_style(work) -> Path:
    """ESC-style names {fold}-{source}-{take}: 2 classes x 3 folds x 2 clips."""
    root = work / "esc"
    for fold in (1, 2, 3):
        for take, k in (("A", 0), ("B", 1)):
            write_wav(root / "001 - Whistle" / f"{fold}-{100 + fold}-{take}.wav", tone(2000 + 300 * fold + 50 * k, 0.7))
            write_wav(root / "002 - Rain" / f"{fold}-{200 + fold}-{take}.wav", noise(0.7, seed=10 * fold + k))
    return root


@pytest.fixture(scope="module")
def band_run(work) -> Path:
    """A ready run directory (hand-weighted model) for the predict/evaluate error cases."""
    from tiny_run import make_run

    return make_run(work / "band_run")


@pytest.fixture(scope="module")
def bad_files(work) -> dict[str, Path]:
    d = work / "bad"
    d.mkdir()
    text = d / "notes.wav"
    text.write_text("this is not audio\n")
    empty = d / "empty.wav"
    empty.write_bytes(b"")
    policy = d / "policy.json"
    policy.write_text("{not json")
    (d / "emptydir").mkdir()
    import numpy as np
    import soundfile as sf

    bomb = d / "bomb.flac"  # 200 s x 8 channels x 96 kHz of silence in about 160 KB: refused from its header
    with sf.SoundFile(bomb, "w", samplerate=96000, channels=8, format="FLAC", subtype="PCM_16") as f:
        for _ in range(200):
            f.write(np.zeros((96000, 8), np.int16))
    tiny = write_wav(d / "tiny.wav", tone(440, 0.01, 22050))
    junk = d / "junk.mp3"
    junk.write_bytes(b"\x00" + np.random.default_rng(2).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    broken_run = d / "broken_run"
    broken_run.mkdir()
    (broken_run / "config.json").write_text('{"features": {"sr": "x"}}')
    (broken_run / "labels.json").write_text('["a", "b"]')
    return {"text": text, "empty": empty, "policy": policy, "emptydir": d / "emptydir", "bomb": bomb, "tiny": tiny,
            "junk": junk, "broken_run": broken_run}


# -- the error contract ----------------------------------------------------------------------------

ERROR_CASES = {
    "no command": [],
    "unknown command": ["frobnicate"],
    "train: missing dataset": ["train", "{work}/nope", "--out", "{work}/r"],
    "train: dataset is a file": ["train", "{text}", "--out", "{work}/r"],
    "train: dataset without audio": ["train", "{emptydir}", "--out", "{work}/r"],
    "train: unknown model": ["train", "{folders}", "--model", "resnet9000", "--out", "{work}/r"],
    "train: zero epochs": ["train", "{folders}", "--epochs", "0", "--out", "{work}/r"],
    "train: epochs not a number": ["train", "{folders}", "--epochs", "many", "--out", "{work}/r"],
    "train: no such test fold": ["train", "{esc_style}", "--test-fold", "9", "--out", "{work}/r"],
    "train: unknown label": ["train", "{folders}", "--labels", "tone,banjo", "--out", "{work}/r"],
    "train: one label": ["train", "{folders}", "--labels", "tone", "--out", "{work}/r"],
    "train: unknown augment policy": ["train", "{folders}", "--augment", "wobble", "--out", "{work}/r"],
    "train: broken policy file": ["train", "{folders}", "--augment", "{policy}", "--out", "{work}/r"],
    "train: run exists": ["train", "{folders}", "--out", "{band_run}"],
    "train: weights for a non-transfer model": ["train", "{folders}", "--weights", "none", "--out", "{work}/r"],
    "train: missing inception weights file": ["train", "{folders}", "--model", "inception", "--weights",
                                              "{work}/no.weights.h5", "--epochs", "1", "--out", "{work}/r"],
    "train: zero clips per class": ["train", "{folders}", "--limit-per-class", "0", "--out", "{work}/r"],
    "predict: missing run": ["predict", "{work}/no_run", "{text}", "--json"],
    "predict: not a run": ["predict", "{emptydir}", "{text}", "--json"],
    "predict: missing file": ["predict", "{band_run}", "{work}/missing.wav", "--json"],
    "predict: not audio": ["predict", "{band_run}", "{text}", "--json"],
    "predict: empty file": ["predict", "{band_run}", "{empty}", "--json"],
    "predict: directory": ["predict", "{band_run}", "{emptydir}", "--json"],
    "predict: top-k 0": ["predict", "{band_run}", "{text}", "--top-k", "0"],
    "predict: header bomb": ["predict", "{band_run}", "{bomb}", "--json"],
    "predict: 10 ms clip": ["predict", "{band_run}", "{tiny}", "--json"],
    "predict: junk named .mp3": ["predict", "{band_run}", "{junk}", "--json"],
    "predict: run with a wrongly typed config": ["predict", "{broken_run}", "{tiny}", "--json"],
    "predict: no files": ["predict", "{band_run}"],
    "evaluate: missing run": ["evaluate", "{work}/no_run", "{folders}", "--json"],
    "evaluate: missing dataset": ["evaluate", "{band_run}", "{work}/nope", "--json"],
    "evaluate: labels unknown to the model": ["evaluate", "{band_run}", "{folders}", "--json"],
    "evaluate: no such fold": ["evaluate", "{band_run}", "{esc_style}", "--fold", "7", "--json"],
    "cv: zero epochs": ["cv", "{esc_style}", "--epochs", "0", "--json"],
    "cv: unknown model": ["cv", "{esc_style}", "--model", "svm", "--json"],
    "cv: missing dataset": ["cv", "{work}/nope", "--json"],
    "cv: unknown crops": ["cv", "{esc_style}", "--crops", "center", "--json"],
    "train: unknown crops": ["train", "{folders}", "--crops", "center", "--out", "{work}/r"],
    "train: copies without a policy": ["train", "{folders}", "--copies", "3", "--out", "{work}/r"],
    "cv: too many copies": ["cv", "{esc_style}", "--augment", "recipe", "--copies", "33", "--json"],
    "cv: copies not a number": ["cv", "{esc_style}", "--augment", "recipe", "--copies", "many", "--json"],
    "cv: filters not integers": ["cv", "{esc_style}", "--filters", "32,wide", "--json"],
    "train: zero filters": ["train", "{folders}", "--filters", "16,0", "--out", "{work}/r"],
    "train: filters for yamnet": ["train", "{folders}", "--model", "yamnet", "--filters", "32,64", "--out", "{work}/r"],
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_input_exits_2_with_one_error_line(case, work, home, folders, esc_style, band_run, bad_files):
    names = {"work": work, "folders": folders, "esc_style": esc_style, "band_run": band_run, **bad_files}
    args = [a.format(**names) for a in ERROR_CASES[case]]
    res = run_cli(*args, home=home, timeout=120)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, (case, res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), (case, lines)
    assert res.stdout == ""


def test_error_messages_name_the_problem(work, home, band_run, bad_files):
    res = run_cli("predict", band_run, bad_files["text"], home=home)
    assert str(bad_files["text"]) in res.stderr and "decoded" in res.stderr
    res = run_cli("train", work / "nope", home=home)
    assert "nope" in res.stderr and "no such directory" in res.stderr
    res = run_cli("train", work, "--epochs", "0", home=home)
    assert "--epochs" in res.stderr and "0" in res.stderr


def test_help_and_version(home):
    res = run_cli("--help", home=home)
    assert res.returncode == 0
    for word in ("train", "evaluate", "predict", "cv", "examples:"):
        assert word in res.stdout
    sub = run_cli("train", "--help", home=home)
    assert sub.returncode == 0 and "--test-fold" in sub.stdout and "--status" in sub.stdout
    from soundkit import __version__

    res = run_cli("--version", home=home)
    assert res.returncode == 0 and res.stdout.strip() == f"soundkit {__version__}"


def test_predict_json_and_human_output(band_run, work, home):
    low = write_wav(work / "low.wav", tone(250, 2.0, 16000), 16000)
    high = write_wav(work / "high.wav", tone(6500, 1.0, 44100), 44100)
    res = run_cli("predict", band_run, low, high, "--json", "--top-k", "2", home=home)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)  # stdout is JSON and nothing else
    assert [r["file"] for r in rows] == [str(low), str(high)]
    assert [r["label"] for r in rows] == ["low", "high"]
    for r in rows:
        assert set(r) == {"file", "label", "top"}
        probs = [t["probability"] for t in r["top"]]
        assert len(r["top"]) == 2 and probs == sorted(probs, reverse=True)
        assert r["top"][0]["label"] == r["label"] and 0.99 <= sum(probs) <= 1.0001
    res = run_cli("predict", band_run, low, "--json", "--timeline", home=home)
    row = json.loads(res.stdout)[0]
    assert row["timeline"][0]["start"] == 0.0 and row["timeline"][-1]["end"] == pytest.approx(2.0, abs=0.05)
    human = run_cli("predict", band_run, low, home=home)
    assert human.returncode == 0 and human.stdout.startswith(f"{low}: low (")


def test_predict_command_never_imports_tensorflow(band_run, work, home):
    """Serving a run with a model.tflite from the command line does not pay for TensorFlow."""
    clip = write_wav(work / "quick.wav", tone(300, 1.0, 22050))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOUNDKIT_HOME": str(home)}
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "soundkit", "predict", str(band_run), str(clip),
                          "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    imported = {ln.split("|")[-1].strip() for ln in res.stderr.splitlines() if ln.startswith("import time:")}
    assert "ai_edge_litert" in imported
    heavy = sorted(m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "librosa", "streamlit"))
    assert heavy == []
    assert json.loads(res.stdout)[0]["label"] == "low"


# -- real training (slow) --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(folders, work, home) -> tuple[Path, dict]:
    out = work / "runs" / "tiny"
    res = run_cli("train", folders, "--model", "cnn", "--out", out, "--epochs", "2", "--seed", "1", "--json",
                  home=home)
    assert res.returncode == 0, res.stderr[-3000:]
    return out, json.loads(res.stdout)


@pytest.mark.slow
def test_train_writes_a_complete_run(trained, home):
    out, summary = trained
    assert summary["run_dir"] == str(out)
    assert summary["labels"] == ["hiss", "tone"]
    assert summary["test_fold"] == 5 and 0.0 <= summary["accuracy"] <= 1.0
    for name in ("model.keras", "model.tflite", "config.json", "labels.json", "report.json", "history.csv", "meta.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert REPORT_KEYS <= set(report)
    assert report["labels"] == ["hiss", "tone"] and report["n_test"] == summary["n_test"] >= 2
    assert (home / "cache").is_dir(), "features are cached under $SOUNDKIT_HOME/cache"


@pytest.mark.slow
def test_train_with_fixed_crops_filters_and_copies_records_them(folders, work, home):
    out = work / "runs" / "fixed"
    res = run_cli("train", folders, "--crops", "fixed", "--filters", "8,16,24", "--augment", "gain", "--copies", "3",
                  "--out", out, "--epochs", "1", "--json", home=home)
    assert res.returncode == 0, res.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["options"] == {"crops": "fixed", "filters": [8, 16, 24]}
    import keras

    convs = [layer for layer in keras.saving.load_model(out / "model.keras", compile=False).layers
             if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 16, 24]
    assert config["train"]["augment"]["name"] == "gain" and config["train"]["augment"]["copies"] == 3
    meta = json.loads((out / "meta.json").read_text())
    assert meta["n_augmented"] == 3 * meta["n_train"] > 0


@pytest.mark.slow
def test_predict_and_evaluate_a_trained_run(trained, folders, home, work):
    out, summary = trained
    files = sorted(folders.rglob("*.wav"))[:3]
    res = run_cli("predict", out, *files, "--json", home=home)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads(res.stdout)
    assert [r["file"] for r in rows] == [str(f) for f in files]
    for r in rows:  # the run's calibrated open-set check may answer "unknown" (issue #14)
        assert r["label"] in ("hiss", "tone", "unknown") and len(r["top"]) == 2
        assert sum(t["probability"] for t in r["top"]) == pytest.approx(1.0, abs=1e-3)
    res = run_cli("predict", out, *files, "--json", "--unknown", "off", home=home)
    assert res.returncode == 0, res.stderr[-2000:]
    assert [r["label"] for r in json.loads(res.stdout)] == [r["top"][0]["label"] for r in rows]  # no check: the top class

    res = run_cli("evaluate", out, folders, "--json", home=home)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert REPORT_KEYS <= set(report)
    assert report["n_test"] == 10 and sum(report["support"].values()) == 10
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (2, 2) and cm.sum() == 10
    assert report["accuracy"] == pytest.approx(np.trace(cm) / 10)

    # the held-out fold alone gives the report training wrote
    res = run_cli("evaluate", out, folders, "--fold", str(summary["test_fold"]), "--json", home=home)
    assert res.returncode == 0, res.stderr[-2000:]
    fold_report = json.loads(res.stdout)
    written = json.loads((out / "report.json").read_text())
    assert fold_report["n_test"] == written["n_test"]
    assert fold_report["support"] == written["support"]  # the same clips
    # LiteRT on fresh float32 features vs Keras on cached float16 ones: at most a near-tie may flip
    assert abs(fold_report["accuracy"] - written["accuracy"]) <= 1 / written["n_test"] + 1e-9


@pytest.mark.slow
def test_cv_json_uses_the_official_folds(esc_style, home):
    t0 = time.monotonic()
    res = run_cli("cv", esc_style, "--model", "cnn", "--epochs", "1", "--json", home=home)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert set(out) == {"mean_accuracy", "std_accuracy", "fold_accuracy", "seconds", "pooled_accuracy", "accuracy_ci",
                        "n_test", "fold_n_test", "fold_spread", "notes", "warnings"}
    assert set(out["fold_accuracy"]) == {"1", "2", "3"}
    assert out["n_test"] == 12 and out["notes"] == {} and out["warnings"] == []
    lo, hi = out["accuracy_ci"]
    assert 0 <= lo <= out["pooled_accuracy"] <= hi <= 1 and hi - lo > 0.2  # 12 clips: a wide interval
    accs = list(out["fold_accuracy"].values())
    assert all(0.0 <= a <= 1.0 for a in accs)
    assert out["mean_accuracy"] == pytest.approx(np.mean(accs))
    assert out["std_accuracy"] == pytest.approx(np.std(accs))
    assert 0 < out["seconds"] <= time.monotonic() - t0



@pytest.mark.slow
def test_ctrl_c_during_fitting_stops_after_the_batch(folders, work, home):
    """Ctrl-C while the model fits: the batch finishes, nothing is written, exit 130."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOUNDKIT_HOME": str(home)}
    status, out = work / "sigint-fit-status.json", work / "runs" / "int-fit"
    proc = subprocess.Popen([sys.executable, "-m", "soundkit", "train", str(folders), "--out", str(out),
                             "--epochs", "3000", "--status", str(status)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        try:
            if json.loads(status.read_text()).get("epoch", 0) >= 1:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "error: interrupted"
    final = json.loads(status.read_text())
    assert final["state"] == "cancelled" and final["epoch"] < 3000
    assert not (out / "model.keras").exists()


def test_the_readme_examples_use_the_folder_that_download_makes(tmp_path):
    """README's command-line examples start from `download esc10` and read the folder it creates."""
    import re
    import shlex

    from test_datasets import esc10_zip

    block = re.search(r"## Command line.*?```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    commands = [shlex.split(line) for line in block.splitlines() if line.startswith("python -m soundkit")]
    assert commands[0][3:5] == ["download", "esc10"], commands[0]
    assert not any(".." in word for cmd in commands for word in cmd), "an example reads a folder outside the user's own"
    first = commands[0][3:] + ["--url", str(esc10_zip(tmp_path / "esc10.zip")), "--json"]
    proc = subprocess.run([sys.executable, "-m", "soundkit", *first], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "SOUNDKIT_HOME": str(tmp_path / "home")}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    made = (tmp_path / json.loads(proc.stdout)["path"]).resolve()  # relative to where it ran
    readers = [cmd for cmd in commands[1:] if cmd[3] in ("train", "evaluate", "cv", "augment-study", "import")]
    assert readers
    for cmd in readers:
        dataset = cmd[5] if cmd[3] == "evaluate" else cmd[4]  # evaluate RUN DATASET; the others DATASET
        assert (tmp_path / dataset).resolve() == made, f"{shlex.join(cmd)} reads {dataset}, download made {made}"


@pytest.fixture(scope="module")
def esc_confined(work) -> Path:
    """Like esc_style plus a class whose only recording (two takes) sits in fold 2."""
    root = work / "esc-confined"
    for fold in (1, 2, 3):
        for take, k in (("A", 0), ("B", 1)):
            write_wav(root / "001 - Whistle" / f"{fold}-{100 + fold}-{take}.wav", tone(2000 + 300 * fold + 50 * k, 0.7))
            write_wav(root / "002 - Rain" / f"{fold}-{200 + fold}-{take}.wav", noise(0.7, seed=10 * fold + k))
    for take in "AB":
        write_wav(root / "003 - washing_machine" / f"2-300-{take}.wav", tone(150, 0.7) + noise(0.7, amp=0.05, seed=ord(take)))
    return root


@pytest.mark.slow
def test_cv_reports_a_class_confined_to_one_fold_instead_of_stopping(esc_confined, home, work):
    save = work / "cv-confined.json"
    res = run_cli("cv", esc_confined, "--model", "cnn", "--epochs", "1", "--json", "--save", save, home=home)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert set(out["fold_accuracy"]) == {"1", "2", "3"}
    assert list(out["notes"]) == ["2"] and "washing_machine" in out["notes"]["2"][0]
    assert any("fold 2" in w and "washing_machine" in w for w in out["warnings"])
    assert out["fold_n_test"] == {"1": 4, "2": 4, "3": 4}  # fold 2's two washer clips are not scored
    full = json.loads(save.read_text())
    assert sorted((c["fold"], Path(c["path"]).name) for c in full["clips"]) == sorted(
        (f, f"{f}-{100 * c + f}-{t}.wav") for f in (1, 2, 3) for c in (1, 2) for t in "AB"
    )
    assert full["reports"]["2"]["notes"] == out["notes"]["2"]
    # --limit-per-class draws across folds: every --test-fold still has clips to train on
    res = run_cli("cv", esc_confined, "--model", "cnn", "--epochs", "1", "--json", "--limit-per-class", "3", home=home)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert set(out["fold_accuracy"]) == {"1", "2", "3"}  # the first 3 clips would leave fold 3 empty
    assert out["n_test"] >= 6 and "error:" not in res.stderr


@pytest.mark.slow
def test_train_cv_first_estimates_then_trains_on_all_clips(esc_style, home, work):
    out_dir = work / "runs" / "cv-first"
    res = run_cli("train", esc_style, "--model", "cnn", "--epochs", "1", "--cv-first", "--out", out_dir,
                  "--status", work / "cv-first-status.json", home=home)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "cross-validation grouped by source" in res.stdout and "95% CI" in res.stdout
    cv = json.loads((out_dir / "cv.json").read_text())
    assert cv["n_test"] == 12 and len(cv["clips"]) == 12 and {c["fold"] for c in cv["clips"]} == {1, 2, 3}
    meta = json.loads((out_dir / "meta.json").read_text())
    assert meta["test_fold"] is None and meta["n_train"] == 12 and meta["n_val"] == 0  # the final model saw every clip
    assert meta["evaluated_on"] == "cross-validation"
    report = json.loads((out_dir / "report.json").read_text())  # the pooled cross-validation, clip by clip
    assert report["n_test"] == 12 and report["accuracy"] == pytest.approx(cv["pooled_accuracy"])
    assert sorted(c["fold"] for c in report["clips"]) == [1] * 4 + [2] * 4 + [3] * 4
    assert sum(map(sum, report["confusion_matrix"])) == 12
    status = json.loads((work / "cv-first-status.json").read_text())
    assert status["state"] == "done" and "by cross-validation" in status["message"]

