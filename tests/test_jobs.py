"""Background jobs: a real training child process, its status file, the lock, cancellation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synth import noise, tone, write_wav

from soundkit import jobs
from soundkit.errors import JobError, ParameterError

ROOT = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def dataset(tmp_path) -> Path:
    root = tmp_path / "clips"
    for k in range(4):
        write_wav(root / "tone" / f"t{k}.wav", tone(500 + 150 * k, 0.6, 22050))
        write_wav(root / "hiss" / f"h{k}.wav", noise(0.6, 22050, seed=k))
    return root


def _wait(job: jobs.Job, *, timeout: float) -> dict:
    t0 = time.monotonic()
    seen = []
    while time.monotonic() - t0 < timeout:
        st = jobs.read_status(job.run_dir)
        if st:
            seen.append((st.get("stage"), st.get("progress")))
            if st["state"] != "running":
                return st | {"_seen": seen}
        time.sleep(0.3)
    raise AssertionError(f"job still running after {timeout} s; log:\n{job.log_path.read_text(errors='replace')[-3000:]}")


# -- status writer and status reading (fast) -------------------------------------------------------

def test_status_writer_progress_history_eta(tmp_path):
    path = tmp_path / "status.json"
    w = jobs.StatusWriter(path, min_interval=60.0, home=tmp_path)
    st = json.loads(path.read_text())
    assert st["state"] == "running" and st["pid"] == os.getpid() and st["progress"] == 0.0
    w({"stage": "features", "done": 0, "total": 10})  # stage change: written at once
    assert json.loads(path.read_text())["stage"] == "features"
    w({"stage": "features", "done": 5, "total": 10})  # throttled: not written yet
    assert json.loads(path.read_text())["progress"] == pytest.approx(0.1)
    assert w.status["progress"] == pytest.approx(0.15)
    time.sleep(1.0)  # epoch 1 runs from the last features event to its own end
    w({"stage": "train", "epoch": 1, "epochs": 4, "done": 1, "total": 4, "loss": 1.0, "accuracy": 0.5,
       "val_loss": 0.9, "val_accuracy": 0.5})
    assert w.status["eta_seconds"] is None  # epoch 1 also built the graph: no ETA from it alone
    time.sleep(0.1)
    w({"stage": "train", "epoch": 2, "epochs": 4, "done": 2, "total": 4, "loss": 0.5, "accuracy": 0.5,
       "val_loss": 0.9, "val_accuracy": 0.5})
    st = json.loads(path.read_text())  # every epoch is written
    assert st["epoch"] == 2 and st["epochs"] == 4
    assert [r["epoch"] for r in st["history"]] == [1, 2] and st["history"][1]["loss"] == 0.5
    assert st["progress"] == pytest.approx(0.2 + 0.7 * 0.5)
    assert 0.25 <= st["eta_seconds"] < 1.0 * 3 * 0.8  # from epoch 2's time, not epoch 1's


def test_status_writer_eta_leaves_out_the_first_epoch(tmp_path):
    """The issue's case: a slow first epoch (graph build) must not inflate the ETA: training's own
    clock says epoch 1 ended at 20 s, then one epoch per second; 10 epochs in all."""
    path = tmp_path / "status.json"
    w = jobs.StatusWriter(path, min_interval=60.0)
    w({"stage": "train", "epoch": 1, "epochs": 10, "seconds": 20.0})
    assert w.status["eta_seconds"] is None
    w({"stage": "train", "epoch": 2, "epochs": 10, "seconds": 21.0})
    assert w.status["eta_seconds"] == pytest.approx(1.0 * 9)  # 8 epochs + evaluation/export, not 9 x 10.5 s
    w({"stage": "train", "epoch": 5, "epochs": 10, "seconds": 24.0})
    assert w.status["eta_seconds"] == pytest.approx(1.0 * 6)
    w.finish("done", "accuracy 1.000")
    st = json.loads(path.read_text())
    assert st["state"] == "done" and st["progress"] == 1.0 and st["eta_seconds"] is None
    with pytest.raises(ParameterError):
        w.finish("exploded")


def test_read_status_reports_a_dead_running_job_as_failed(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert jobs.read_status(run) is None
    (run / "train.log").write_text("loading\nerror: /data/x.wav: cannot be decoded as audio\n")
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": _dead_pid(), "stage": "features"}))
    st = jobs.read_status(run)
    assert st["state"] == "failed"
    assert "cannot be decoded" in st["message"]
    assert jobs.cancel(run) is False  # nothing to cancel


def test_start_training_rejects_its_own_flags(tmp_path):
    with pytest.raises(ParameterError, match="--out"):
        jobs.start_training(tmp_path, ["data", "--out", "x"], tmp_path / "runs" / "a")


def test_live_lock_refuses_and_stale_lock_is_taken_over(tmp_path, dataset):
    home = tmp_path / "home"
    home.mkdir()
    # a live process that is not ours holds the lock
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (home / jobs.LOCK_NAME).write_text(json.dumps({"pid": sleeper.pid, "proc_start": jobs._proc_start(sleeper.pid),
                                                       "run_dir": str(home / "runs" / "busy")}))
        with pytest.raises(JobError, match=r"already running \(run busy\)") as refused:
            jobs.start_training(home, [str(dataset), "--epochs", "1"], home / "runs" / "b")
        assert str(sleeper.pid) not in str(refused.value) and "pid" not in str(refused.value)  # no process id
        assert jobs.running_job(home)["pid"] == sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()
    assert jobs.running_job(home) is None  # dead now: the lock is stale


def test_job_with_bad_input_ends_failed_with_the_error(tmp_path):
    home = tmp_path / "home"
    job = jobs.start_training(home, [str(tmp_path / "no-such-data"), "--epochs", "1"], home / "runs" / "bad")
    st = _wait(job, timeout=120)
    assert st["state"] == "failed"
    assert "no-such-data" in st["message"] and "no such directory" in st["message"]
    job.wait(timeout=30)
    assert not (home / jobs.LOCK_NAME).exists() and jobs.running_job(home) is None
    assert "error: " in job.log_path.read_text()


# -- real child processes (slow) -------------------------------------------------------------------

@pytest.mark.slow
def test_job_trains_to_done_then_refuses_second_and_cancels(tmp_path, dataset):
    home = tmp_path / "home"
    home.mkdir()
    (home / jobs.LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "run_dir": "/gone"}))  # stale

    job = jobs.start_training(home, [str(dataset), "--epochs", "2", "--batch-size", "4"], home / "runs" / "first")
    assert job.pid > 0 and job.run_dir == (home / "runs" / "first").resolve()
    assert json.loads((home / jobs.LOCK_NAME).read_text())["pid"] == job.pid

    # a second launch while the first runs is refused, naming the run (never its process id)
    with pytest.raises(JobError, match=r"a training job is already running \(run first\)"):
        jobs.start_training(home, [str(dataset), "--epochs", "1"], home / "runs" / "second")
    assert not (home / "runs" / "second").exists()

    st = _wait(job, timeout=420)
    assert st["state"] == "done", (st, job.log_path.read_text(errors="replace")[-2000:])
    assert st["progress"] == 1.0 and st["pid"] == job.pid
    assert [r["epoch"] for r in st["history"]] == list(range(1, len(st["history"]) + 1)) and st["history"]
    assert {"loss", "val_loss"} <= set(st["history"][0])
    stages = [s for s, _ in st["_seen"]]
    progress = [p for _, p in st["_seen"]]
    assert progress == sorted(progress), "progress never goes back"
    assert "starting" in stages or "features" in stages or "train" in stages
    for name in ("model.keras", "model.tflite", "report.json", "labels.json", "config.json", "train.log"):
        assert (job.run_dir / name).is_file(), name
    assert not (home / jobs.LOCK_NAME).exists(), "the child releases the lock when it ends"
    assert job.wait(timeout=60)["state"] == "done"
    assert not job.alive()
    listed = jobs.list_jobs(home)
    assert [Path(j["run_dir"]).name for j in listed] == ["first"] and listed[0]["state"] == "done"

    # cancel: a long job, terminated while it prepares or trains
    long = jobs.start_training(home, [str(dataset), "--epochs", "500"], home / "runs" / "long")
    t0 = time.monotonic()
    while (jobs.read_status(long.run_dir) or {}).get("pid") is None and time.monotonic() - t0 < 60:
        time.sleep(0.1)
    assert jobs.cancel(long.run_dir) is True
    st = jobs.read_status(long.run_dir)
    assert st["state"] == "cancelled"
    assert not long.alive()
    assert not (long.run_dir / "model.keras").exists()
    assert jobs.running_job(home) is None and not (home / jobs.LOCK_NAME).exists()
    assert jobs.cancel(long.run_dir) is False


def test_starting_a_job_removes_what_killed_jobs_left(tmp_path):
    """Stale `.tmp-*` files of killed writers in runs/ and cache/ go when a job starts; young ones stay."""
    home = tmp_path / "home"
    old = [home / "runs" / "killed" / ".tmp-model-x.keras", home / "cache" / "features" / "ab" / ".tmp-abc-y.npy"]
    young = home / "cache" / "augment" / ".tmp-now-z.wav"
    keep = home / "runs" / "killed" / "history.csv"
    for p in (*old, young, keep):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    for p in (*old, keep):
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    job = jobs.start_training(home, [str(tmp_path / "no-such-data"), "--epochs", "1"], home / "runs" / "bad")
    try:
        assert not any(p.exists() for p in old)
        assert young.exists() and keep.exists()
    finally:
        _wait(job, timeout=120)  # it fails on its missing dataset; let it end before tmp_path goes
        job.wait(timeout=30)
