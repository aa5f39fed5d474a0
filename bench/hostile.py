"""What each kind of hostile file costs, before and after bounded decoding (issue 13, item 4).

    python bench/hostile.py [--before DIR] [--repeats N]   # writes bench/results/hostile.json, renders BENCHMARKS.md
    python bench/run.py hostile                            # the same, as a section of bench/run.py

Every measurement runs in a fresh child interpreter (``python -c``) whose ``PYTHONPATH`` points at one
code tree: "before" is the branch point with main (``git archive`` of ``git merge-base HEAD main`` into
a temporary folder, unless ``--before`` names a checkout) and "after" is this working tree. The child
reports its wall time and its peak RSS (``ru_maxrss``) together with its baseline after importing
numpy, soundfile, soxr and soundkit, so the figures are what the one file cost. The corpus is built
here: the issue's 468 KB FLAC (590 s, 8 channels, 96 kHz of silence), 700 s of 8 kHz silence,
16 channels, junk bytes named .wav, a 10 ms clip, a 1 s clip followed by 190 MB of junk, a zip of
200 junk entries named .wav and a zip whose member paths are absolute or climb with "..".
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from synth import silence_flac, tone, wav_bytes  # noqa: E402  (the test corpus's generators)

CHILD = r"""
import json, resource, sys, time
import numpy, soundfile, soxr
from soundkit import audio, store

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

mode, path, home = sys.argv[1:4]
out = {"base_mb": peak_mb()}
t = time.perf_counter()
try:
    if mode == "load":  # what predict and the Classify page do with an upload
        y, sr = audio.load(path, sr=44100)
        out["outcome"] = f"decoded {len(y) / sr:.1f} s"
    elif mode == "import":  # the Label page / CLI import of one file
        s = store.Store(home)
        rec = s.add(path, name=path.rsplit("/", 1)[-1], label="x")
        out["outcome"] = f"stored {rec.seconds:.1f} s in {rec.bytes / 2**20:.2f} MB"
    elif mode == "zip":
        s = store.Store(home)
        res = s.import_zip(path)
        out["outcome"] = f"{res.added} added, {len(res.errors)} errors, labels {sorted(s.labels())}"
except Exception as exc:
    out["outcome"] = "refused: " + str(exc).replace(path, "FILE")[:110]
out["seconds"] = time.perf_counter() - t
out["peak_mb"] = peak_mb()
print(json.dumps(out))
"""


def build_corpus(d: Path) -> list[tuple[str, str, Path]]:
    """[(kind, mode, path)] of the files measured."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    bomb = silence_flac(d / "bomb.flac", seconds=590, channels=8, sr=96000)
    stereo = silence_flac(d / "stereo96k.flac", seconds=590, channels=2, sr=96000)
    fake_m4a = d / "fake.m4a"
    fake_m4a.write_bytes(b"\x00\x00\x00\x1cftypM4A " + rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    truncated = d / "truncated.flac"
    full = io.BytesIO()
    sf.write(full, (0.5 * np.sin(np.arange(44100 * 5) / 10)).astype(np.float32), 44100, format="FLAC")
    truncated.write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    long = silence_flac(d / "long.flac", seconds=700, channels=1, sr=8000)
    channels16 = d / "channels16.wav"
    sf.write(channels16, np.zeros((22050, 16), np.float32), 22050, subtype="PCM_16")
    junk = d / "junk.wav"
    junk.write_bytes(rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    if junk.read_bytes()[0] == 0xFF:  # keep the junk free of an accidental MPEG frame sync
        junk.write_bytes(b"\x00" + junk.read_bytes()[1:])
    tiny = d / "tiny.wav"
    tiny.write_bytes(wav_bytes(tone(440, 0.01)))
    tail = d / "tail.wav"
    with open(tail, "wb") as fh:
        fh.write(wav_bytes(tone(440, 1.0)))
        for _ in range(19):
            fh.write(os.urandom(10 * 2**20))
    junk_zip = d / "junk200.zip"
    with zipfile.ZipFile(junk_zip, "w") as zf:
        for k in range(200):
            zf.writestr(f"junk/{k}.wav", rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    slip_zip = d / "paths.zip"
    with zipfile.ZipFile(slip_zip, "w") as zf:
        for k, name in enumerate(["/abs/evil.wav", "../../tmp/x.wav", "C:\\x\\y.wav", "dog/ok.wav"]):
            zf.writestr(zipfile.ZipInfo(name), wav_bytes(tone(300 + 100 * k, 0.3)))
    return [
        ("header bomb: FLAC 468 KB, 590 s x 8 ch x 96 kHz silence", "load", bomb),
        ("header bomb: FLAC 468 KB, 590 s x 8 ch x 96 kHz silence", "import", bomb),
        ("within the limits: FLAC 213 KB, 590 s x 2 ch x 96 kHz silence", "load", stereo),
        ("700 s of 8 kHz silence (over the 600 s limit)", "load", long),
        ("fake M4A: an ftyp header + 300 KB of junk", "load", fake_m4a),
        ("FLAC cut in half (5 s tone)", "load", truncated),
        ("16 channels, 1 s", "load", channels16),
        ("16 channels, 1 s", "import", channels16),
        ("junk bytes named .wav (300 KB)", "load", junk),
        ("10 ms clip", "import", tiny),
        ("1 s clip + 190 MB of trailing junk", "import", tail),
        ("zip of 200 junk entries named .wav", "zip", junk_zip),
        ("zip member paths /abs, ../../tmp, C:\\, dog/", "zip", slip_zip),
    ]


def measure_one(tree: Path, mode: str, path: Path, work: Path) -> dict:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    env = {**os.environ, "PYTHONPATH": str(tree), "TMPDIR": str(work)}
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(home)], capture_output=True, text=True,
                         env=env, cwd=work, timeout=900)  # fmt: skip
    if res.returncode != 0:
        return {"outcome": f"crashed (exit {res.returncode}): {res.stderr.strip().splitlines()[-1][:100] if res.stderr.strip() else ''}",
                "seconds": None, "peak_mb": None, "base_mb": None}  # fmt: skip
    out = json.loads(res.stdout.strip().splitlines()[-1])
    stored = sum(p.stat().st_size for p in (home / "audio").rglob("*") if p.is_file()) if (home / "audio").is_dir() else 0
    out["stored_mb"] = stored / 2**20
    leftovers = [p.name for p in work.iterdir() if p.name.startswith("soundkit-")]
    out["tmp_leftovers"] = len(leftovers)
    return out


def _median(runs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def measure(before: Path | None = None, repeats: int = 3) -> dict:
    """The hostile section's results (a dict for bench/results/hostile.json)."""
    work = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    made_before = before is None
    if before is None:
        base = subprocess.run(["git", "merge-base", "HEAD", "main"], capture_output=True, text=True, cwd=ROOT,
                              check=True).stdout.strip()  # fmt: skip
        before = work / "before"
        before.mkdir()
        archive = subprocess.run(["git", "archive", base, "soundkit"], capture_output=True, cwd=ROOT, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        before_rev = base[:7]
    else:
        before_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    cwd=before).stdout.strip() or str(before)  # fmt: skip
    after_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    corpus_dir = work / "corpus"
    corpus_dir.mkdir()
    cases = build_corpus(corpus_dir)
    rows = []
    for kind, mode, path in cases:
        row: dict = {"kind": kind, "mode": mode, "file_mb": path.stat().st_size / 2**20}
        for side, tree in (("before", before), ("after", ROOT)):
            scratch = Path(tempfile.mkdtemp(prefix=f"{side}-", dir=work))
            runs = [measure_one(tree, mode, path, scratch)]
            while len(runs) < repeats and (runs[0]["seconds"] or 0) < 10:  # a slow case once is enough
                runs.append(measure_one(tree, mode, path, scratch))
            row[side] = {
                "outcome": runs[0]["outcome"], "seconds": _median(runs, "seconds"), "peak_mb": _median(runs, "peak_mb"),
                "base_mb": _median(runs, "base_mb"), "stored_mb": runs[0].get("stored_mb", 0.0),
                "tmp_leftovers": max(r.get("tmp_leftovers", 0) for r in runs), "runs": len(runs),
            }  # fmt: skip
            print(f"{side:6s} {mode:6s} {kind[:50]:50s} {row[side]['seconds'] or 0:7.2f} s "
                  f"{row[side]['peak_mb'] or 0:7.0f} MB  {row[side]['outcome'][:60]}", file=sys.stderr, flush=True)
        rows.append(row)
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return {"before_rev": before_rev, "after_rev": after_rev, "before_tree": "git archive of the merge base"
            if made_before else str(before), "repeats": repeats, "rows": rows}  # fmt: skip


def render(r: dict) -> list[str]:
    """The BENCHMARKS.md section "Hostile input"."""

    def fig(side: dict) -> str:
        if side.get("seconds") is None:
            return "n/a"
        return f"{side['seconds']:.2f} s, {side['peak_mb']:.0f} MB"

    lines = ["## Hostile input", "",
             f"Each file measured in a fresh child interpreter: before = `{r['before_rev']}` (the branch point, "
             f"main's code), after = `{r['after_rev']}`; wall seconds (median of {r['repeats']} runs, one run where a "
             "run takes over 10 s) and peak RSS of the child (its baseline with numpy, soundfile, "
             "soxr and soundkit imported is about "
             f"{statistics.median(x['after']['base_mb'] for x in r['rows'] if x['after'].get('base_mb')):.0f} MB). "
             "`load` is what predict and the Classify page do with an upload (mono, 44.1 kHz); `import` is one "
             "file into the store; `zip` a zip import.", "",
             "| file | op | before | before: outcome | after | after: outcome |", "|---|---|---|---|---|---|"]  # fmt: skip
    for row in r["rows"]:
        b, a = row["before"], row["after"]
        out_b = b["outcome"] + (f" ({b['stored_mb']:.1f} MB on disk)" if b.get("stored_mb") else "")
        out_a = a["outcome"] + (f" ({a['stored_mb']:.2f} MB on disk)" if a.get("stored_mb") else "")
        lines.append(f"| {row['kind']} | {row['mode']} | {fig(b)} | {out_b.replace('|', '/')} | {fig(a)} | "
                     f"{out_a.replace('|', '/')} |")
    lines += ["", "Before, a file libsndfile refused went to librosa/audioread (ffmpeg): a fresh process first pays for "
              "importing librosa (most of the 'before' seconds of the junk, fake M4A and truncated FLAC rows); the zip "
              "row shows the warm cost per entry. The machine was shared with other jobs while this ran, so the "
              "seconds are noisy; the peak MB are not.", "",
              "After: the header is checked before decoding (duration, at most 8 channels, rate, at most 134 million "
              "samples), decoding runs in 64 k-frame blocks mixed down and resampled one by one (memory ~ the output), "
              "bytes without a known audio container never reach ffmpeg, clips under 0.1 s are refused, a file "
              "larger than its audio is stored re-encoded as FLAC, and zip members with absolute/`..`/drive paths "
              "are added unlabelled.", ""]  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, default=None, help="a checkout of the code before (default: git archive of the merge base with main)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench import run as bench_run

    t = time.perf_counter()
    data = measure(args.before, args.repeats)
    data["section_seconds"] = time.perf_counter() - t
    data["machine"] = bench_run.machine()
    bench_run.RESULTS.mkdir(parents=True, exist_ok=True)
    (bench_run.RESULTS / "hostile.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (ROOT / "BENCHMARKS.md").write_text(bench_run.render())
    print(f"wrote {bench_run.RESULTS / 'hostile.json'} and BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
