"""``train --background``: a ``_background_`` class of silence/noise clips soundkit makes, trained for
real (YAMNet head, a few clips), so that a listener answers background instead of a class."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synth import chirp, tone, write_wav

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_listen_cli import _env  # noqa: E402

SR = 16000


def run_cli(*args, home: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "soundkit", *map(str, args)], capture_output=True, text=True,
                          env=_env(home), cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("background")


@pytest.fixture(scope="module")
def tones(work) -> Path:
    """Two classes, 6 clips each: rising chirps and beeping (no folds in the names: soundkit assigns them)."""
    root = work / "tones"
    for k in range(6):
        write_wav(root / "chirp" / f"chirp{k}.wav", chirp(300 + 50 * k, 3000 + 200 * k, 1.0, SR, 0.4), SR)
        beeps = tone(1000 + 100 * k, 1.0, SR, 0.4) * (np.arange(SR) // (SR // 10) % 2 == 0)
        write_wav(root / "beeps" / f"beeps{k}.wav", beeps.astype(np.float32), SR)
    return root


@pytest.fixture(scope="module")
def trained(yamnet_path, tones, work) -> tuple[Path, dict, Path]:
    home, out = work / "home", work / "runs" / "bg"
    res = run_cli("train", tones, "--model", "yamnet", "--background", "10", "--epochs", "40", "--out", out, "--json", home=home)
    assert res.returncode == 0, res.stderr[-3000:]
    return out, json.loads(res.stdout), home


def _pink(seconds: float, db: float, seed: int) -> np.ndarray:
    from soundkit.openset import background_clips

    (_, y), = [c for c in background_clips(3, seconds=seconds, sr=SR, seed=seed, silence=False) if c[0].startswith("pink")]
    return (y / np.sqrt(np.mean(y.astype(np.float64) ** 2)) * 10 ** (db / 20)).astype(np.float32)


@pytest.mark.slow
def test_train_background_adds_the_class_and_the_listener_answers_it(trained, yamnet_path, monkeypatch):
    from soundkit.listen import listen_array
    from soundkit.predict import Predictor

    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(yamnet_path.parent))
    out, summary, home = trained
    assert summary["labels"] == ["_background_", "beeps", "chirp"]
    assert json.loads((out / "labels.json").read_text()) == ["_background_", "beeps", "chirp"]
    made = sorted((home / "cache" / "background").rglob("*.wav"))
    assert len(made) == 10, made
    report = json.loads((out / "report.json").read_text())
    assert report["support"]["_background_"] >= 1  # the test fold holds some of them too
    # noise the run never heard (another seed, another level), then chirps, then noise again
    sound = np.concatenate([chirp(400, 3500, 1.0, SR, 0.4), chirp(400, 3500, 0.5, SR, 0.4)])
    y = np.concatenate([_pink(3.0, -38, seed=7), sound + _pink(1.5, -38, seed=8), _pink(3.0, -38, seed=9)])
    events, lis = listen_array(Predictor.load(out), y, SR, block=1600, on=0.6, off=0.4, smooth=1)
    assert [e.label for e in events] == ["chirp"], events  # the noise makes no event
    assert 2.5 <= events[0].start <= 3.5, events
    noise_frames = [f for f in lis.frames if f.end <= 2.5 or f.start >= 5.5]
    assert noise_frames and sum(f.label == "_background_" for f in noise_frames) >= 0.8 * len(noise_frames), \
        [f.label for f in noise_frames]
    assert lis.labeling == "event"  # "auto" for a YAMNet-head run: segment, then classify
    # predict --events on the same audio: the same detector, the same labeling, onsets from the audio
    wav = write_wav(home / "scene.wav", y, SR)
    r = run_cli("predict", out, wav, "--events", "--on", "0.6", "--off", "0.4", "--smooth", "1", "--json", home=home)
    assert r.returncode == 0, r.stderr.decode()
    (row,) = json.loads(r.stdout)
    found = row["events"]
    assert found and all(2.5 <= e["start"] and e["end"] <= 5.6 for e in found), found  # the noise makes no event
    assert 2.5 <= found[0]["start"] <= 3.5 and "chirp" in [e["label"] for e in found], found


def test_train_background_bad_input(tones, work):
    home = work / "home-bad"
    res = run_cli("train", tones, "--model", "yamnet", "--background", "0", "--out", work / "r0", home=home)
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1].startswith("error:"), res.stderr
    assert "Traceback" not in res.stderr
    dup = work / "dup"
    for k in range(2):
        write_wav(dup / "a" / f"a{k}.wav", tone(400, 0.5, SR), SR)
        write_wav(dup / "_background_" / f"b{k}.wav", np.zeros(SR // 2, np.float32), SR)
    res = run_cli("train", dup, "--model", "yamnet", "--background", "--out", work / "r1", home=home)
    assert res.returncode == 2 and "already has a _background_ class" in res.stderr, res.stderr
    assert not (work / "r1").exists()
