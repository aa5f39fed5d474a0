"""Hostile input costs little: a corpus of bad files built here, each refused with one clear line (or
decoded in bounded memory), peak memory measured in a child process, the store unchanged afterwards.

Also: stored bytes bounded by the audio they hold, re-uploads keep labels, zip member labels only
from a member's own safe folder, broken runs marked (library, CLI, Results and Classify pages), and
temporary files that neither a killed import nor a killed ffmpeg fallback leaves behind.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import noise, silence_flac, tone, wav_bytes

from soundkit import audio
from soundkit.errors import AudioError, ModelError
from soundkit.features import content_hash
from soundkit.store import MAX_OVERHEAD_BYTES, Store

SR = 22050
#: Peak memory a hostile file may cost above the child interpreter's baseline (generous on purpose:
#: it asserts memory is bounded, not a speed; the issue's bomb reached 3.5 GB before).
MEMORY_BOUND_MB = 400
ROOT = Path(__file__).resolve().parents[1]


# -- the corpus -----------------------------------------------------------------------------------------


def _encoded(fmt: str, subtype: str, y: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _junk(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


#: name -> (expected needle in the one-line error, or None when the file is decoded in bounded memory)
EXPECTED = {
    "bomb_8ch_96k_590s.flac": "million samples",  # the 468 KB file: refused from its header
    "bomb_2ch_96k_300s.flac": None,  # within the limits: decoded block by block, memory ~ the output
    "long_8k_700s.flac": "700.0 s long; the limit is 600 s",
    "channels_16.wav": "16 channels; the limit is 8",
    "rate_768k.wav": "sample rate of 768000 Hz",
    "junk.wav": "not a known audio format",
    "junk.mp3": "cannot be decoded as audio",
    "junk.ogg": "not a known audio format",
    "fake_header.ogg": "cannot be decoded as audio",
    "truncated.flac": "damaged or truncated",
    "truncated.ogg": "cannot be decoded as audio",
    "truncated.wav": None,  # libsndfile reads what is there: a shorter, valid clip
    "tiny_10ms.wav": "shortest accepted clip is 0.1 s",
    "trailing_junk_20mb.wav": None,  # a 1 s clip + 20 MB of junk: decodes; stored re-encoded (below)
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    silence_flac(d / "bomb_8ch_96k_590s.flac", seconds=590, channels=8, sr=96000)
    silence_flac(d / "bomb_2ch_96k_300s.flac", seconds=300, channels=2, sr=96000)
    silence_flac(d / "long_8k_700s.flac", seconds=700, channels=1, sr=8000)
    sf.write(d / "channels_16.wav", np.zeros((SR // 2, 16), np.float32), SR, subtype="PCM_16")
    sf.write(d / "rate_768k.wav", tone(1000, 0.2, 768000), 768000, subtype="PCM_16")
    (d / "junk.wav").write_bytes(_junk(300_000, 2))
    (d / "junk.mp3").write_bytes(_junk(300_000, 1))  # starts with an MPEG frame sync by chance: libsndfile refuses it
    (d / "junk.ogg").write_bytes(_junk(300_000, 3))
    (d / "fake_header.ogg").write_bytes(b"OggS" + _junk(300_000, 4))
    y = tone(440, 2.0, SR)
    for ext, fmt, subtype in (("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"), ("wav", "WAV", "PCM_16")):
        data = _encoded(fmt, subtype, y)
        (d / f"truncated.{ext}").write_bytes(data[: len(data) // 2])
    (d / "tiny_10ms.wav").write_bytes(wav_bytes(tone(440, 0.01, SR), SR))
    (d / "trailing_junk_20mb.wav").write_bytes(wav_bytes(tone(660, 1.0, SR), SR) + _junk(20 * 2**20, 5))
    files = {name: d / name for name in EXPECTED}
    assert all(p.is_file() for p in files.values())
    assert files["bomb_8ch_96k_590s.flac"].stat().st_size < 1_000_000  # a header bomb: tiny on disk
    return files


CHILD = r"""
import json, resource, sys, time
import numpy, soundfile, soxr  # the baseline includes the libraries a decode needs
from soundkit import audio, store

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

mode, path, home = sys.argv[1:4]
out = {"base_mb": peak_mb()}
t = time.perf_counter()
try:
    if mode == "load":
        y, sr = audio.load(path, sr=44100, min_seconds=audio.MIN_SECONDS)
        out["seconds"] = len(y) / sr
    elif mode == "add":
        rec = store.Store(home).add(path, label="hostile")
        out.update(seconds=rec.seconds, bytes=rec.bytes, ext=rec.ext)
    elif mode == "zip":
        out["result"] = store.Store(home).import_zip(path).to_dict()
except Exception as exc:
    out["error"] = type(exc).__name__ + ": " + str(exc)
out["wall_s"] = time.perf_counter() - t
out["peak_mb"] = peak_mb()
print(json.dumps(out))
"""


def in_child(mode: str, path: Path, home: Path | None = None) -> dict:
    """Run one decode/import in a fresh interpreter; its result and peak memory above its baseline."""
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(home or "")], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["delta_mb"] = out["peak_mb"] - out["base_mb"]
    return out


def one_line(message: str, name: str) -> None:
    assert "\n" not in message and "Traceback" not in message and "0x" not in message, message
    assert name in message, message


def store_state(home: Path) -> tuple:
    """(integrity_check, clip count, labels) read straight from the SQLite file."""
    con = sqlite3.connect(home / "soundkit.sqlite")
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        n = con.execute("SELECT COUNT(*) FROM clips").fetchone()[0]
        labels = con.execute(
            "SELECT l.name, COUNT(c.id) FROM labels l LEFT JOIN clips c ON c.label_id = l.id GROUP BY l.id ORDER BY l.name"
        ).fetchall()
    finally:
        con.close()
    return integrity, n, labels


@pytest.fixture
def seeded(tmp_path) -> Path:
    """A store holding two labelled clips."""
    home = tmp_path / "home"
    store = Store(home)
    store.add(wav_bytes(tone(300, 0.5, SR), SR), name="a.wav", label="cat")
    store.add(wav_bytes(noise(0.5, SR), SR), name="b.wav", label="dog")
    store.close()
    return home


# -- decoding: one line or bounded memory ------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_hostile_file_loads_in_bounded_memory_or_fails_in_one_line(corpus, name):
    out = in_child("load", corpus[name])
    assert out["delta_mb"] < MEMORY_BOUND_MB, out
    needle = EXPECTED[name]
    if needle is None:
        assert "error" not in out, out
        assert 0.5 < out["seconds"] <= 600
    else:
        assert out["error"].startswith("AudioError: "), out
        assert needle in out["error"], out
        one_line(out["error"], name)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_hostile_file_leaves_the_store_unchanged(corpus, seeded, name):
    before = store_state(seeded)
    out = in_child("add", corpus[name], seeded)
    assert out["delta_mb"] < MEMORY_BOUND_MB, out
    after = store_state(seeded)
    assert after[0] == "ok"
    if EXPECTED[name] is None:  # accepted: one more clip, its bytes bounded by the audio it holds
        assert "error" not in out, out
        assert after[1] == before[1] + 1
        assert out["bytes"] < 1_000_000
    else:
        assert EXPECTED[name] in out["error"] and out["error"].startswith("AudioError"), out
        assert after == before
    leftovers = [p for p in (seeded / "audio").rglob("*") if p.is_file() and p.name.startswith(".tmp-")]
    assert leftovers == []


def test_junk_bytes_fail_fast_without_ffmpeg(corpus):
    # no known container: refused by the sniffer before any decoder or process runs (its cost is
    # measured in bench/hostile.py, not asserted here)
    for name in ("junk.wav", "junk.ogg"):
        with pytest.raises(AudioError, match="not a known audio format"):
            audio.load(corpus[name])


def test_sniff_knows_the_containers():
    assert audio.sniff(wav_bytes(tone(), SR)) == "wav"
    assert audio.sniff(_encoded("FLAC", "PCM_16", tone())) == "flac"
    assert audio.sniff(_encoded("OGG", "VORBIS", tone())) == "ogg"
    assert audio.sniff(b"\x00\x00\x00\x1cftypM4A \x00\x00") == "mp4"
    assert audio.sniff(b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01") == "matroska"
    assert audio.sniff(b"ID3\x04\x00\x00\x00") == "mp3"
    for junk in (b"", b"RIFF\x00\x01\x02garbage", b"hello, I am text", _junk(64, 2)):
        assert audio.sniff(junk) is None


def test_browser_recording_goes_through_ffmpeg_without_a_named_temp_file(tmp_path):
    """A WebM/Opus recording (what browsers record) decodes through ffmpeg from bytes; no temporary
    file is named anywhere (TMPDIR stays empty), even while it runs."""
    import shutil

    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    rec = tmp_path / "rec.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=1.5", "-c:a", "libopus", str(rec)],
                   check=True, timeout=60)  # fmt: skip
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    script = (
        "import sys; from soundkit import audio; data = open(sys.argv[1], 'rb').read()\n"
        "y, sr = audio.load(data, sr=16000, name='rec.webm'); print(len(y) / sr)\n"
    )
    res = subprocess.run([sys.executable, "-c", script, str(rec)], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp)})  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert float(res.stdout) == pytest.approx(1.5, abs=0.05)
    assert list(tmp.iterdir()) == []


def test_sigterm_during_the_ffmpeg_fallback_leaves_no_temp_file(tmp_path):
    import shutil

    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    m4a = tmp_path / "long.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=120", "-c:a", "aac", str(m4a)],
                   check=True, timeout=120)  # fmt: skip
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    script = (
        "import sys; from soundkit import audio; data = open(sys.argv[1], 'rb').read()\n"
        "print('ready', flush=True)\n"
        "while True: audio.load(data, sr=44100, name='long.m4a')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(m4a)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "TMPDIR": str(tmp)})  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # inside a decode: ffprobe or ffmpeg is running on the bytes
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)  # an orphaned ffmpeg ends on its closed pipe
    assert list(tmp.iterdir()) == []


# -- stored bytes are bounded by the audio -----------------------------------------------------------------


def test_trailing_junk_is_not_stored(tmp_path, corpus):
    store = Store(tmp_path / "home")
    raw = corpus["trailing_junk_20mb.wav"].read_bytes()
    rec = store.add(raw, name="junk-tail.wav", label="beep")
    assert rec.ext == ".flac" and rec.bytes == rec.path.stat().st_size
    assert rec.bytes < 22050 * 2 + MAX_OVERHEAD_BYTES  # at most the clip as 16-bit PCM plus headers
    assert rec.seconds == pytest.approx(1.0)
    # the hash is of the stored bytes (its file name and feature-cache key)
    assert content_hash(rec.path.read_bytes()) == rec.hash and rec.path.stem == rec.hash
    y, sr = audio.load(rec.path, sr=None)
    np.testing.assert_allclose(y, tone(660, 1.0, SR), atol=1e-4)
    # uploading the same file again finds the stored clip (it is re-encoded the same way)
    again = store.add(raw, name="again.wav")
    assert again.id == rec.id and store.count() == 1
    # an ordinary file is stored byte for byte
    plain = wav_bytes(tone(880, 1.0, SR), SR)
    assert store.add(plain, name="plain.wav").path.read_bytes() == plain


def test_an_m4a_is_stored_as_flac(tmp_path):
    import shutil

    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    m4a = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=1", "-c:a", "aac", str(m4a)],
                   check=True, timeout=60)  # fmt: skip
    rec = Store(tmp_path / "home").add(m4a.read_bytes(), name="a.m4a")
    assert rec.ext == ".flac" and 0.9 < rec.seconds < 1.2 and sf.info(rec.path).format == "FLAC"


# -- labels: re-uploads keep theirs, zip members only from their own folder ------------------------------------


def test_re_upload_keeps_labels_and_says_which(tmp_path):
    store = Store(tmp_path / "home")
    a, b = wav_bytes(tone(300, 0.5, SR), SR), wav_bytes(tone(900, 0.5, SR), SR)
    store.add(a, name="a.wav", label="cat")
    store.add(b, name="b.wav")  # unlabelled
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("dog/a.wav", a)  # stored as cat: stays cat
        zf.writestr("dog/b.wav", b)  # stored unlabelled: takes dog
        zf.writestr("dog/c.wav", wav_bytes(tone(1500, 0.5, SR), SR))
    res = store.import_zip(buf.getvalue())
    assert (res.added, res.duplicates) == (1, 2)
    assert res.existing == [("a.wav", "cat"), ("b.wav", "dog")]
    assert res.existing_labels() == {"cat": 1, "dog": 1}
    assert "kept as" in res.existing_summary() and "cat 1" in res.existing_summary()
    assert res.to_dict()["existing_labels"] == {"cat": 1, "dog": 1}
    assert store.labels() == {"cat": 1, "dog": 2}
    many = store.add_many([("again.wav", a, "bird")])
    assert many.existing == [("again.wav", "cat")] and store.labels().get("bird", 0) == 0
    assert store.add(a, name="x.wav", label="bird", relabel=True).label == "bird"  # on purpose: relabelled


def test_cli_import_json_says_which_labels_were_kept(tmp_path):
    home = tmp_path / "home"
    Store(home).add(wav_bytes(tone(300, 0.5, SR), SR), name="a.wav", label="cat")
    zpath = tmp_path / "again.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("dog/a.wav", wav_bytes(tone(300, 0.5, SR), SR))
    res = subprocess.run([sys.executable, "-m", "soundkit", "import", str(zpath), "--home", str(home), "--json"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["duplicates"] == 1 and out["existing"] == [{"name": "a.wav", "label": "cat"}]
    assert out["existing_labels"] == {"cat": 1} and out["labels"] == {"cat": 1}


def _tricky_zip(path: Path) -> Path:
    clip = lambda k: wav_bytes(tone(200 + 97 * k, 0.3, SR), SR)  # noqa: E731
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("/abs/evil.wav"), clip(1))
        zf.writestr(zipfile.ZipInfo("../../tmp/x.wav"), clip(2))
        zf.writestr(zipfile.ZipInfo("C:\\x\\y.wav"), clip(3))
        zf.writestr(zipfile.ZipInfo("ok/../../up.wav"), clip(4))
        zf.writestr(zipfile.ZipInfo("dog\\bark.wav"), clip(5))  # backslashes of old Windows tools: fine
        zf.writestr("cat/meow.wav", clip(6))
        zf.writestr("bomb/zeros.wav", b"\x00" * (64 * 2**20))  # deflates about 1000:1
        zf.writestr("junk/noise.wav", _junk(100_000, 7))
    return path


def test_zip_labels_only_from_a_members_own_safe_folder(tmp_path):
    store = Store(tmp_path / "home")
    res = store.import_zip(_tricky_zip(tmp_path / "tricky.zip"))
    assert store.labels() == {"cat": 1, "dog": 1}  # never "abs", "tmp", "C:", "x" or "ok"
    unlabelled = {r.name for r in store.clips(unlabelled=True)}
    assert unlabelled == {"evil.wav", "x.wav", "y.wav", "up.wav"}  # audio kept, untrusted folders dropped
    errors = dict(res.errors)
    assert set(errors) == {"bomb/zeros.wav", "junk/noise.wav"}
    assert "compression ratio" in errors["bomb/zeros.wav"] and "not a known audio format" in errors["junk/noise.wav"]
    assert not (tmp_path / "tmp").exists() and not Path("/abs").exists()
    assert store_state(store.home)[0] == "ok"


def test_cli_import_of_the_hostile_corpus(tmp_path, corpus, seeded):
    """Every hostile file in one zip: the CLI lists each failure on one line, keeps the good ones, and
    stays within the memory bound."""
    zpath = tmp_path / "corpus.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, path in corpus.items():
            zf.write(path, f"hostile/{name}")
    _tricky_zip(tmp_path / "tricky.zip")
    before = store_state(seeded)
    wrapper = (
        "import resource, sys\nimport numpy, soundfile, soxr\nfrom soundkit import cli, store, audio\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nrc = cli.main(sys.argv[1:])\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(f'MEMORY {(peak - base) / 1024:.0f}', file=sys.stderr)\nsys.exit(rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", wrapper, "import", str(zpath), "--home", str(seeded), "--json"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    delta = float(next(line for line in res.stderr.splitlines() if line.startswith("MEMORY")).split()[1])
    assert delta < MEMORY_BOUND_MB
    out = json.loads(res.stdout)
    failed = {e["name"].split("/")[-1]: e["message"] for e in out["errors"]}
    assert set(failed) == {n for n, needle in EXPECTED.items() if needle is not None}
    for name, message in failed.items():
        assert EXPECTED[name] in message
        one_line(message, name)
    assert out["added"] == sum(needle is None for needle in EXPECTED.values())
    after = store_state(seeded)
    assert after[0] == "ok" and after[1] == before[1] + out["added"]
    sizes = [r.bytes for r in Store(seeded).clips(label="hostile")]
    assert max(sizes) < 2 * 2**20  # the 20 MB of trailing junk was not stored
    # a zip of nothing but hostile members: exit 2, exactly one error line
    only_bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(only_bad, "w") as zf:
        zf.write(corpus["junk.wav"], "x/junk.wav")
        zf.write(corpus["bomb_8ch_96k_590s.flac"], "x/bomb.flac")
    res = subprocess.run([sys.executable, "-m", "soundkit", "import", str(only_bad), "--home", str(seeded)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "nothing could be imported" in errors[0] and "Traceback" not in res.stderr
    assert store_state(seeded) == after


# -- temporary files ---------------------------------------------------------------------------------------------


def test_stale_temp_files_are_removed_when_the_store_opens(tmp_path):
    home = tmp_path / "home"
    Store(home)
    stale, fresh = home / "audio" / "ab" / ".tmp-stale-x.wav", home / "audio" / "cd" / ".tmp-fresh-y.wav"
    for p in (stale, fresh):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"partial")
    old = time.time() - 600
    os.utime(stale, (old, old))
    Store(home)
    assert not stale.exists() and fresh.exists()  # a young one may belong to a writer at work


def test_a_killed_import_leaves_no_partial_file(tmp_path):
    """SIGKILL in the middle of an import: no .tmp- file (audio is written as unnamed files linked into
    place), every stored file is complete, and the index is intact."""
    src = tmp_path / "many"
    for k in range(120):
        d = src / ("hi" if k % 2 else "lo")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{k}.wav").write_bytes(wav_bytes(tone(200 + 13 * k, 2.0, SR) + noise(2.0, SR, 0.01, seed=k), SR))
    home = tmp_path / "home"
    Store(home)
    proc = subprocess.Popen([sys.executable, "-m", "soundkit", "import", str(src), "--home", str(home)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)  # fmt: skip
    try:
        deadline = time.time() + 120
        while time.time() < deadline and store_state(home)[1] < 5 and proc.poll() is None:
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    integrity, n, _ = store_state(home)
    assert integrity == "ok" and n >= 1
    files = [p for p in (home / "audio").rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".tmp-")]
    store = Store(home)
    for rec in store.clips():
        assert content_hash(rec.path.read_bytes()) == rec.hash  # no half-written file under a clip's name


# -- broken runs ---------------------------------------------------------------------------------------------------


def _good_run(run_dir: Path, *, created: str) -> Path:
    from soundkit.config import RunConfig
    from soundkit.evaluation import Report

    run_dir.mkdir(parents=True)
    P = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32)
    report = Report.from_probabilities(P, [0, 1, 1], labels=["high", "low"], ids=["1", "2", "3"], paths=["", "", ""])
    (run_dir / "config.json").write_text(RunConfig().to_json())
    (run_dir / "labels.json").write_text('["high", "low"]')
    (run_dir / "report.json").write_text(json.dumps(report.to_dict()))
    (run_dir / "meta.json").write_text(json.dumps({"created": created}))
    (run_dir / "model.keras").write_bytes(b"not loaded by these tests")
    return run_dir


BROKEN = {
    "bad-type": {"config.json": '{"features": {"sr": "x"}}'},
    "bad-labels": {"labels.json": '["high", '},
    "bad-report": {"report.json": "this is not json"},
    "bad-meta": {"meta.json": "[1, 2, 3]"},
}


@pytest.fixture
def runs_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    _good_run(home / "runs" / "good", created="2026-01-01T00:00:00+00:00")
    for k, (name, files) in enumerate(BROKEN.items()):
        d = _good_run(home / "runs" / name, created=f"2027-01-0{k + 1}T00:00:00+00:00")  # newer than the good one
        for fname, text in files.items():
            (d / fname).write_text(text)
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    return home


def test_broken_runs_are_marked_with_one_line(runs_home):
    from soundkit.predict import Predictor
    from soundkit.runs import Run, broken_runs, list_runs

    runs = list_runs(runs_home / "runs", complete_only=True)
    assert {r.name for r in runs} == {"good", *BROKEN}
    broken = broken_runs(runs)
    assert set(broken) == set(BROKEN)
    for name, problem in broken.items():
        assert "\n" not in problem and name in problem, problem
    assert "sr must be int" in broken["bad-type"]
    assert Run(runs_home / "runs" / "good").problem() is None
    with pytest.raises(ModelError, match="sr must be int"):
        Predictor.load(runs_home / "runs" / "bad-type")
    with pytest.raises(ModelError):
        Run(runs_home / "runs" / "bad-type").load_config()


def test_cli_predict_with_a_broken_run_is_one_error_line(runs_home, tmp_path):
    clip = tmp_path / "clip.wav"
    clip.write_bytes(wav_bytes(tone(440, 1.0, SR), SR))
    for name in ("bad-type", "bad-labels"):
        res = subprocess.run([sys.executable, "-m", "soundkit", "predict", str(runs_home / "runs" / name), str(clip)],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
        assert res.returncode == 2, res.stderr
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], res.stderr


def _app(page: str):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "tests" / "app_main.py"), default_timeout=60)
    at.run()
    if page != "classify":
        at.switch_page(str(ROOT / "pages" / f"{page}.py"))
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_results_page_with_broken_runs_shows_the_others(runs_home):
    at = _app("results")
    assert not at.error, [e.value for e in at.error]
    select = at.selectbox(key="results_run")
    assert select.value == str(runs_home / "runs" / "good")  # the readable run first, though older
    assert len(select.options) == 1 + len(BROKEN)
    assert sum("broken" in o for o in select.options) == len(BROKEN)
    assert len(at.warning) == 1 and "broken" in at.warning[0].value and "\n" not in at.warning[0].value
    assert any(m.label == "Accuracy" for m in at.metric)
    select.set_value(str(runs_home / "runs" / "bad-type")).run()  # a broken one: its one line, no traceback
    assert not at.exception
    assert len(at.error) == 1 and "sr must be int" in at.error[0].value


def test_classify_page_with_broken_runs_offers_the_others(runs_home):
    at = _app("classify")
    assert not at.error, [e.value for e in at.error]
    select = at.selectbox(key="classify_model")
    assert select.value == str(runs_home / "runs" / "good")
    assert sum("broken" in str(o) for o in select.options) == len(BROKEN)
    assert len(at.warning) == 1 and "broken" in at.warning[0].value
