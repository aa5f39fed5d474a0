"""soundkit.scale for real: shards and manifest, resuming, training from shards, and a real Ray
cluster on loopback (a head and a worker node, 1 CPU each) for featurize, cv fan-out and a node
killed in the middle of a featurize."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from synth import noise, tone, write_wav

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, home: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": str(ROOT), "SOUNDKIT_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    e.pop("SOUNDKIT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "soundkit", *map(str, args)], capture_output=True, text=True,
                          env=e, cwd=ROOT, timeout=timeout)


def popen_cli(*args, home: Path) -> subprocess.Popen:
    e = {**os.environ, "PYTHONPATH": str(ROOT), "SOUNDKIT_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "soundkit", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e, cwd=ROOT)


def make_dataset(root: Path, *, per_label: int, seconds: float, folds: int = 2) -> Path:
    """Two labels (a low and a high tone in noise), ESC-style names giving ``folds`` official folds."""
    for li, (label, f0) in enumerate((("low", 300.0), ("high", 2500.0))):
        for i in range(per_label):
            y = tone(f0 * (1 + 0.03 * i), seconds, 22050, 0.4) + noise(seconds, 22050, 0.05, seed=100 * li + i)
            write_wav(root / label / f"{i % folds + 1}-{100 * li + i}-A.wav", y, 22050)
    return root


def shard_hashes(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((d / "shards").glob("shard-*.parquet"))}


def clip_probabilities(saved: Path) -> dict[tuple[int, str], dict[str, float]]:
    """``cv --save`` output: (fold, clip id) -> {label: probability} of every tested clip."""
    return {(c["fold"], c["id"]): c["probabilities"] for c in json.loads(saved.read_text())["clips"]}


def manifest(d: Path) -> list[dict]:
    from soundkit.scale import read_manifest

    return read_manifest(d)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scale")


@pytest.fixture(scope="module")
def home(work) -> Path:
    return work / "home"


@pytest.fixture(scope="module")
def small(work) -> Path:
    return make_dataset(work / "small", per_label=6, seconds=1.0)


@pytest.fixture(scope="module")
def local_dir(small, work, home) -> Path:
    """``small`` featurized by the local engine (2 processes), 3 shards of 4 clips."""
    out = work / "local"
    res = run_cli("featurize", small, "--out", out, "--workers", "2", "--shard-size", "4", "--json", home=home)
    assert res.returncode == 0, res.stderr
    return out


# -- shards, manifest, resume (no Ray) ----------------------------------------------------------------

def test_featurize_writes_shards_and_a_complete_manifest(local_dir, small, work, home):
    from soundkit import datasets
    from soundkit.audio import load
    from soundkit.config import FeatureConfig
    from soundkit.features import clip_log_mel, file_hash
    from soundkit.scale import Featurized

    rows = manifest(local_dir)
    ds = datasets.load(small)
    assert sorted(r["id"] for r in rows) == sorted(c.id for c in ds.clips)
    assert {r["shard"] for r in rows} == {0, 1, 2}
    assert all(r["node"].startswith("local:") for r in rows)
    fz = Featurized.open(local_dir)
    assert fz.features == FeatureConfig() and fz.folds == [1, 2]
    first = rows[0]
    assert first["hash"] == file_hash(first["path"])
    got = dict(fz.iter_clips({first["id"]}))[first["id"]]
    np.testing.assert_allclose(got, clip_log_mel(load(first["path"], sr=44100)[0], FeatureConfig()), rtol=1e-5, atol=1e-4)
    # the same input through this process alone gives the same bytes, shard for shard
    serial = work / "serial"
    res = run_cli("featurize", small, "--out", serial, "--workers", "0", "--shard-size", "4", "--json", home=home)
    assert res.returncode == 0, res.stderr
    assert shard_hashes(serial) == shard_hashes(local_dir) and len(shard_hashes(serial)) == 3
    # another configuration into the same directory is refused
    res = run_cli("featurize", small, "--out", serial, "--shard-size", "5", home=home)
    assert res.returncode == 2 and "another dataset or configuration" in res.stderr


def test_featurize_resumes_only_missing_shards_after_a_kill(work, home, local_dir):
    data = make_dataset(work / "resume-data", per_label=10, seconds=3.0)
    out = work / "resume"
    proc = popen_cli("featurize", data, "--out", out, "--workers", "0", "--shard-size", "1", home=home)
    t0 = time.monotonic()
    while len(list((out / "shards").glob("shard-*.parquet"))) < 3 and time.monotonic() - t0 < 300:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = len(list((out / "shards").glob("shard-*.parquet")))
    assert 3 <= before < 20 and not (out / "manifest.parquet").exists()
    res = run_cli("featurize", data, "--out", out, "--workers", "0", "--shard-size", "1", "--json", home=home)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["shards_done_before"] == before and summary["shards_written"] == 20 - before
    assert not list((out / "shards").glob(".tmp-*"))
    ref = work / "resume-ref"
    assert run_cli("featurize", data, "--out", ref, "--workers", "0", "--shard-size", "1", home=home).returncode == 0
    assert shard_hashes(out) == shard_hashes(ref)
    rows = manifest(out)
    assert len(rows) == 20 and len({r["id"] for r in rows}) == 20


def test_featurize_leaves_out_undecodable_clips_and_says_so(work, home):
    data = make_dataset(work / "bad-data", per_label=3, seconds=1.0)
    (data / "low" / "1-999-A.wav").write_bytes(b"RIFF not really a wave file")
    res = run_cli("featurize", data, "--out", work / "bad", "--workers", "0", "--json", home=home)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["clips"] == 6 and [f[0] for f in summary["failed"]] == ["low/1-999-A.wav"]
    assert all(not r["id"].endswith("1-999-A.wav") for r in manifest(work / "bad"))
    res = run_cli("featurize", work / "nowhere", "--out", work / "bad2", home=home)
    assert res.returncode == 2 and res.stderr.startswith("error:")


@pytest.mark.data
def test_featurize_yamnet_rows_are_training_inputs_and_deterministic(yamnet_path, small, work, home, monkeypatch):
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(yamnet_path.parent))
    env = {"SOUNDKIT_WEIGHTS_DIR": str(yamnet_path.parent), "SOUNDKIT_WEIGHTS_CACHE": str(work / "wcache")}
    outs = []
    for name, workers in (("y-serial", "0"), ("y-local", "2")):
        out = work / name
        res = run_cli("featurize", small, "--out", out, "--features", "yamnet", "--workers", workers, "--shard-size", "6",
                      "--json", home=home, env=env)
        assert res.returncode == 0, res.stderr
        outs.append(out)
    assert shard_hashes(outs[0]) == shard_hashes(outs[1]) and len(shard_hashes(outs[0])) == 2
    from soundkit.models import yamnet
    from soundkit.scale import Featurized

    fz = Featurized.open(outs[1])
    assert fz.kind == "yamnet" and fz.features is None
    row = fz.manifest[3]
    got = dict(fz.iter_clips({row["id"]}))[row["id"]]
    want = yamnet.training_inputs([row["path"]])[0]
    assert got.shape == want.shape and got.shape[1] == 1024
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # the YAMNet head trains from these shards (frames streamed) and the run serves predictions
    run = work / "runs" / "yamnet-streamed"
    res = run_cli("train", outs[1], "--model", "yamnet", "--out", run, "--epochs", "3", "--test-fold", "2", "--json",
                  home=home, env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["n_test"] == 6
    from soundkit.predict import Predictor

    assert Predictor.load(run).predict_file(row["path"]).label in ("low", "high")


@pytest.mark.slow
def test_train_and_cv_stream_from_a_featurized_directory(local_dir, work, home, small):
    out = work / "runs" / "streamed"
    res = run_cli("train", local_dir, "--out", out, "--epochs", "2", "--filters", "4,8", "--test-fold", "2", "--json", home=home)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["n_test"] == 6 and summary["test_fold"] == 2
    meta = json.loads((out / "meta.json").read_text())
    assert meta["streamed_from"] == str(local_dir) and meta["epochs_run"] == 2
    from soundkit.predict import Predictor

    pred = Predictor.load(out).predict_file(sorted((small / "high").glob("*.wav"))[0])
    assert pred.label in ("low", "high") and abs(sum(pred.probabilities) - 1) < 1e-4
    res = run_cli("cv", local_dir, "--epochs", "1", "--filters", "4,8", "--json", home=home)
    assert res.returncode == 0, res.stderr
    assert set(json.loads(res.stdout)["fold_accuracy"]) == {"1", "2"}
    res = run_cli("train", local_dir, "--model", "yamnet", "--out", work / "runs" / "wrong", home=home)
    assert res.returncode == 2 and "logmel features" in res.stderr


# -- a real Ray cluster on loopback ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-scale.txt)")
    from soundkit.scale.cluster import LocalCluster

    root = Path(tempfile.mkdtemp(prefix="skr", dir="/tmp"))  # short: Ray's socket paths are length-limited
    c = LocalCluster(root, nodes=2, num_cpus=1)
    try:
        c.start(timeout=240)
        yield c
    finally:
        pids = [pid for k in range(len(c.procs)) for pid in c.node_pids(k)]
        c.stop()
        import psutil

        assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        import shutil

        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_ray_featurize_runs_on_both_nodes_and_equals_the_local_engine(cluster, small, local_dir, work, home):
    out = work / "ray"
    res = run_cli("featurize", small, "--out", out, "--engine", "ray", "--address", cluster.address,
                  "--shard-size", "4", "--json", home=home)
    assert res.returncode == 0, res.stderr
    nodes = {r["node"] for r in manifest(out)}
    assert nodes == {cluster.node_id(0), cluster.node_id(1)}
    assert shard_hashes(out) == shard_hashes(local_dir)
    strip = ("node",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in manifest(out)] == \
        [{k: v for k, v in r.items() if k not in strip} for r in manifest(local_dir)]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["audio", "featurized"])
def test_ray_cv_folds_equal_the_serial_run(cluster, work, home, local_dir, source):
    """Each fold a Ray task (in a child process): the audio path and the streaming path alike."""
    data = make_dataset(work / "cv-data", per_label=4, seconds=1.0) if source == "audio" else local_dir
    args = ("cv", data, "--epochs", "2", "--filters", "4,8", "--json")
    serial = run_cli(*args, "--save", work / f"cv-{source}-serial.json", home=home)
    assert serial.returncode == 0, serial.stderr
    fanned = run_cli(*args, "--engine", "ray", "--address", cluster.address, "--save", work / f"cv-{source}-ray.json",
                     home=home)
    assert fanned.returncode == 0, fanned.stderr
    s, r = json.loads(serial.stdout), json.loads(fanned.stdout)
    assert set(s["fold_accuracy"]) == {"1", "2"}
    assert r["fold_accuracy"] == s["fold_accuracy"] and r["mean_accuracy"] == s["mean_accuracy"]
    assert set(r["nodes"]) == {cluster.node_id(0), cluster.node_id(1)}
    # the saved predictions: every clip of every fold, every label's probability, equal to a tight tolerance
    ps, pr = (clip_probabilities(work / f"cv-{source}-{e}.json") for e in ("serial", "ray"))
    assert len(ps) == (8 if source == "audio" else 12) and set(pr) == set(ps)
    for key, want in ps.items():
        assert pr[key] == pytest.approx(want, abs=1e-5), key


@pytest.mark.slow
def test_ray_augment_study_with_its_class_conditional_policy_equals_the_serial_run(cluster, work, home):
    """The sets' folds, then the class-conditional policy's folds (each trained with the per-class
    choice made on the other fold), every one a Ray task: the same study as the serial run."""
    data = make_dataset(work / "study-data", per_label=4, seconds=1.0)
    # gain first: a tie goes to it, so the class-conditional models train on augmented copies too
    args = ("augment-study", data, "--sets", "gain,none", "--copies", "1", "--epochs", "1", "--json")
    serial = run_cli(*args, "--out", work / "study-serial", home=home)
    assert serial.returncode == 0, serial.stderr
    fanned = run_cli(*args, "--out", work / "study-ray", "--engine", "ray", "--address", cluster.address, home=home)
    assert fanned.returncode == 0, fanned.stderr
    s, r = json.loads(serial.stdout), json.loads(fanned.stdout)
    keys = ("fold_accuracy", "per_class_accuracy", "fold_per_class_accuracy", "mean_accuracy")
    for name in ("none", "gain"):
        assert set(s["sets"][name]["fold_accuracy"]) == {"1", "2"}
        for key in keys:
            assert r["sets"][name][key] == s["sets"][name][key]
    sc, rc = s["class_conditional"], r["class_conditional"]
    assert set(sc["choices"]) == {"1", "2"} and set(sc["fold_accuracy"]) == {"1", "2"}
    assert all(set(c) == {"low", "high"} and set(c.values()) <= {"none", "gain"} for c in sc["choices"].values())
    assert rc["choices"] == sc["choices"] and rc["policy"] == sc["policy"]
    for key in keys:
        assert rc[key] == sc[key]
    # clip for clip: every label's probability of every tested clip, each set and the class-conditional policy
    for want, got in [(s["sets"][n], r["sets"][n]) for n in ("none", "gain")] + [(sc, rc)]:
        assert len(want["clips"]) == 8 and [(c["fold"], c["id"]) for c in got["clips"]] == \
            [(c["fold"], c["id"]) for c in want["clips"]]
        for a, b in zip(want["clips"], got["clips"], strict=True):
            assert b["probabilities"] == pytest.approx(a["probabilities"], abs=1e-5), a["id"]
    assert r["policy"] == s["policy"] and r["table"] == s["table"]
    saved = json.loads((work / "study-ray" / "study.json").read_text())
    assert saved["class_conditional"]["choices"] == sc["choices"]


def _running_task(cluster, k: int, name: str) -> bool:
    """Whether a process of node ``k`` is executing a Ray task ``name`` (Ray titles it ``ray::name``)."""
    import psutil

    for pid in cluster.node_pids(k):
        try:
            if " ".join(psutil.Process(pid).cmdline()).startswith(f"ray::{name}"):
                return True
        except psutil.NoSuchProcess:
            pass
    return False


@pytest.mark.slow
def test_ray_featurize_survives_a_worker_node_killed_midway(cluster, work, home):
    """Last in this module: the cluster is left with its head alone."""
    data = make_dataset(work / "fault-data", per_label=64, seconds=10.0)
    out = work / "fault"
    proc = popen_cli("featurize", data, "--out", out, "--engine", "ray", "--address", cluster.address,
                     "--shard-size", "4", "--json", home=home)
    t0, running = time.monotonic(), False
    while time.monotonic() - t0 < 300 and proc.poll() is None and not running:
        running = _running_task(cluster, 1, "featurize_shard")
        time.sleep(0.02)
    written = len(list((out / "shards").glob("shard-*.parquet")))
    cluster.kill_node(1)  # as a machine that dies: SIGKILL to its raylet, its workers and agents
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert running and written < 32, f"the worker node must die while running a shard, mid-job ({written} of 32 written)"
    rows = manifest(out)
    assert len(rows) == 128 and len({r["id"] for r in rows}) == 128
    assert sorted(r["shard"] for r in rows) == sorted(list(range(32)) * 4)
    assert json.loads(stdout)["shards_written"] == 32
    again = run_cli("featurize", data, "--out", out, "--workers", "0", "--shard-size", "4", "--json", home=home)
    assert again.returncode == 0 and json.loads(again.stdout)["shards_written"] == 0
