"""``listen``, ``predict yamnet`` and ``predict --events`` from the command line, for real in subprocesses."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import tone, write_wav

ROOT = Path(__file__).resolve().parents[1]
SR = 22050


def _env(home: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOUNDKIT_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("SOUNDKIT_DEBUG", None)
    shared = Path(os.environ.get("SOUNDKIT_SHARED") or ROOT.parent / "shared") / "weights"
    if (shared / "yamnet.tflite").is_file():
        env.setdefault("SOUNDKIT_WEIGHTS_DIR", str(shared))
    return env


def run_cli(*args, home: Path, stdin: bytes | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "soundkit", *map(str, args)], input=stdin, capture_output=True,
                          env=_env(home), cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("listen_cli")


@pytest.fixture(scope="module")
def run(work) -> Path:
    from tiny_run import make_run

    return make_run(work / "run")


def _scene() -> np.ndarray:
    gap = np.zeros(2 * SR, np.float32)
    return np.concatenate([gap, tone(300, 1.5, SR, 0.5), gap, tone(6000, 1.5, SR, 0.5), gap])


def _stream_wav(y: np.ndarray, sr: int) -> bytes:
    """WAV bytes with the sizes left open (0xFFFFFFFF), as ffmpeg writes them to a pipe."""
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    data[4:8] = b"\xff\xff\xff\xff"
    at = data.index(b"data")
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    return bytes(data)


def _events(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


LISTEN = ["--on", "0.7", "--off", "0.55", "--smooth", "2", "--json"]


def test_listen_a_file_prints_one_json_event_per_line(run, work):
    path = write_wav(work / "scene.wav", _scene(), SR)
    r = run_cli("listen", run, path, *LISTEN, home=work / "home")
    assert r.returncode == 0, r.stderr.decode()
    events = _events(r.stdout)
    assert [e["label"] for e in events] == ["low", "high"]
    assert {"label", "start", "end", "confidence"} <= set(events[0])
    assert abs(events[0]["start"] - 2.0) <= 0.75 and abs(events[1]["start"] - 5.5) <= 0.75
    assert all(0.7 <= e["peak"] <= 1 and e["end"] > e["start"] for e in events)


@pytest.mark.parametrize("labeling", ["auto", "event"])
def test_listen_reads_a_wav_stream_on_stdin_incrementally(run, work, labeling):
    """The first event is printed while the stream is still open (a live pipe from ffmpeg), when it ends."""
    data = _stream_wav(np.concatenate([_scene()[: int(5.5 * SR)], np.zeros(SR, np.float32)]), SR)
    proc = subprocess.Popen([sys.executable, "-m", "soundkit", "listen", str(run), "-", *LISTEN, "--labeling", labeling],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(work / "home"), cwd=ROOT)
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "no event while the stream was open"
        first = json.loads(proc.stdout.readline())
        assert first["label"] == "low"
        assert proc.poll() is None  # still listening
        proc.stdin.write(_stream_wav(tone(6000, 1.5, SR, 0.5), SR)[44:])  # more samples of the same stream
        proc.stdin.close()
        rest = _events(proc.stdout.read())
        assert proc.wait(60) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [e["label"] for e in rest] == ["high"]


def test_listen_labeling_event_labels_each_sound_once(run, work):
    """A sound that begins high and goes on low: one JSON line with --labeling event, two with window
    (the default, "auto", for a log-mel run)."""
    gap = np.zeros(2 * SR, np.float32)
    path = write_wav(work / "turn.wav", np.concatenate([gap, tone(6000, 0.75, SR, 0.5), tone(300, 2.5, SR, 0.5), gap]), SR)
    opts = [*LISTEN[:2], "--off", "0.4", *LISTEN[4:]]
    whole = run_cli("listen", run, path, *opts, "--labeling", "event", home=work / "home")
    split = run_cli("listen", run, path, *opts, home=work / "home")
    assert whole.returncode == 0 and split.returncode == 0, whole.stderr.decode() + split.stderr.decode()
    assert [e["label"] for e in _events(whole.stdout)] == ["low"]
    assert sorted(e["label"] for e in _events(split.stdout)) == ["high", "low"]


def test_listen_realtime_paces_a_file(run, work):
    path = write_wav(work / "short.wav", tone(300, 1.0, SR, 0.5), SR)
    t = time.monotonic()
    r = run_cli("listen", run, path, "--realtime", *LISTEN, home=work / "home")
    assert r.returncode == 0 and [e["label"] for e in _events(r.stdout)] == ["low"]
    assert time.monotonic() - t >= 1.0


@pytest.mark.parametrize("args, stdin, needle", [
    (["listen", "{run}", "-"], b"this is not audio", "not a WAV stream"),
    (["listen", "{run}", "-"], b"", "empty"),
    (["listen", "{run}", "{work}/missing.wav"], None, "no such file"),
    (["listen", "{work}/nope", "{work}/scene.wav"], None, "no such run directory"),
    (["listen", "{run}", "{work}/scene.wav", "--hop", "0"], None, "--hop"),
    (["listen", "{run}", "{work}/scene.wav", "--unknown", "maybe"], None, "--unknown"),
    (["listen", "{run}", "{work}/scene.wav", "--on", "0.3", "--off", "0.5"], None, "--off"),
    (["listen", "{run}", "{work}/scene.wav", "--labeling", "vote"], None, "--labeling"),
    (["listen", "{run}", "{work}/notaudio.wav"], None, "notaudio.wav"),
    (["predict", "yamnet", "{work}/missing.wav"], None, "no such file"),
    (["predict", "{run}", "{work}/scene.wav", "--events", "--smooth", "0"], None, "--smooth"),
])
def test_bad_input_is_one_error_line_and_exit_2(run, work, args, stdin, needle):
    (work / "notaudio.wav").write_bytes(b"RIFF0000WAVEjunkjunkjunk" * 10)
    if not (work / "scene.wav").exists():
        write_wav(work / "scene.wav", _scene(), SR)
    r = run_cli(*[a.format(run=run, work=work) for a in args], stdin=stdin, home=work / "home")
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 2, r.stderr.decode()
    assert [line for line in err if line.startswith("error:")] == [err[-1]] and needle in err[-1]
    assert "Traceback" not in r.stderr.decode()


def test_predict_events_of_a_long_recording(run, work):
    y = np.concatenate([_scene()] * 4)  # 38 s: low, high, low, high, ...
    path = write_wav(work / "long.wav", y, SR)
    r = run_cli("predict", run, path, "--events", "--on", "0.7", "--off", "0.55", "--json", home=work / "home")
    assert r.returncode == 0, r.stderr.decode()
    (row,) = json.loads(r.stdout)
    events = row["events"]
    assert [e["label"] for e in events] == ["low", "high"] * 4
    onsets = np.array([e["start"] for e in events])
    truth = np.array([2.0, 5.5] * 4) + np.repeat(np.arange(4) * len(_scene()) / SR, 2)
    assert np.all(np.abs(onsets - truth) <= 0.05), onsets  # placed from the audio, as the listener does
    assert all(e["end"] <= len(y) / SR + 1e-6 for e in events)


def test_predict_yamnet_zero_shot(yamnet_path, esc10_dir, work):
    dog = sorted((esc10_dir / "001 - Dog bark").glob("*.ogg"))[0]
    r = run_cli("predict", "yamnet", dog, "--events", "--json", home=work / "home")
    assert r.returncode == 0, r.stderr.decode()
    (row,) = json.loads(r.stdout)
    assert row["label"] in ("Dog", "Animal", "Domestic animals, pets", "Bark")
    assert any(e["label"] in ("Dog", "Bark") for e in row["events"])
    assert all(e["label"] != "Silence" for e in row["events"])
    human = run_cli("predict", "yamnet", dog, home=work / "home")
    assert human.returncode == 0 and "Dog" in human.stdout.decode()


def test_listen_yamnet_zero_shot_on_a_stream(yamnet_path, esc10_dir, work):
    import soundkit.audio as audio

    dog = sorted((esc10_dir / "001 - Dog bark").glob("*.ogg"))[0]
    y, sr = audio.load(dog, sr=16000)
    r = run_cli("listen", "yamnet", "-", "--json", "--on", "0.4", stdin=_stream_wav(np.concatenate([np.zeros(16000, np.float32), y]), sr),
                home=work / "home")
    assert r.returncode == 0, r.stderr.decode()
    assert any(e["label"] in ("Dog", "Bark", "Animal") for e in _events(r.stdout))
