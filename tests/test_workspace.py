"""Hosted mode without a browser: settings and mode, workspace ids, store quotas, the disk cap,
expiry, the run quota and the training queue (soundkit_app/workspace/, soundkit/jobqueue.py).

Real SQLite stores and queues in tmp; the queue tests that start jobs run real
``python -m soundkit train`` children (marked slow)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from synth import tone, wav_bytes

from soundkit.errors import JobError, ParameterError, QuotaError
from soundkit.jobqueue import JobQueue
from soundkit.store import Store
from soundkit_app import workspace as ws

SR = 22050


def clip(freq: float, seconds: float = 0.5) -> bytes:
    return wav_bytes(tone(freq, seconds, SR), SR)


def hosted_settings(root: Path, **changes) -> ws.Settings:
    env = {"SOUNDKIT_HOME": str(root), "SOUNDKIT_HOSTED": "1"}
    env.update({f"SOUNDKIT_{k.upper()}": str(v) for k, v in changes.items()})
    return ws.settings(environ=env, secrets_={}, path="/somewhere/soundkit_app/workspace.py")


# -- settings and mode --------------------------------------------------------------------------------


def test_mode_env_then_secrets_then_community_cloud_then_local(tmp_path):
    local_path = "/home/me/soundkit/soundkit_app/workspace.py"
    assert not ws.settings(environ={}, secrets_={}, path=local_path).hosted
    s = ws.settings(environ={"SOUNDKIT_HOSTED": "1"}, secrets_={}, path=local_path)
    assert s.hosted and s.reason == "SOUNDKIT_HOSTED=1"
    s = ws.settings(environ={}, secrets_={"hosted": True}, path=local_path)
    assert s.hosted and s.reason == "secrets"
    cloud = "/mount/src/soundkit/soundkit_app/workspace.py"
    s = ws.settings(environ={}, secrets_={}, path=cloud)
    assert s.hosted and s.reason == "Community Cloud"
    cloud_env = {"HOSTNAME": "streamlit", "HOME": "/home/appuser"}
    assert ws.settings(environ=cloud_env, secrets_={}, path=local_path).hosted
    assert not ws.settings(environ={"HOSTNAME": "streamlit"}, secrets_={}, path=local_path).hosted
    # an explicit SOUNDKIT_HOSTED=0 wins over secrets and detection
    assert not ws.settings(environ={"SOUNDKIT_HOSTED": "0"}, secrets_={"hosted": True}, path=cloud).hosted


def test_limits_from_env_and_secrets_with_defaults_for_bad_values():
    s = ws.settings(
        environ={"SOUNDKIT_MAX_CLIPS": "7", "SOUNDKIT_MAX_JOBS": "0", "SOUNDKIT_FAMILIES": "cnn"},
        secrets_={"max_clips": 99, "max_mb": 12.5, "expire_hours": "bad", "require_login": "yes"},
        path="/x/y.py",
    )
    defaults = ws.Settings()
    assert s.max_clips == 7  # env before secrets
    assert s.max_mb == 12.5 and s.max_bytes == 12_500_000  # from secrets
    assert s.max_jobs == defaults.max_jobs  # 0 concurrent jobs is not a valid value
    assert s.expire_hours == defaults.expire_hours  # unparsable: the default
    assert s.families == ("cnn",) and s.require_login is True


def test_settings_without_a_secrets_file_do_not_fail(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    monkeypatch.delenv("SOUNDKIT_HOSTED", raising=False)
    s = ws.settings()
    assert isinstance(s.hosted, bool) and s.max_clips == ws.Settings().max_clips


# -- ids and folders ------------------------------------------------------------------------------------


def test_tokens_ids_and_folders_are_strict(tmp_path):
    token = ws.new_token()
    assert ws.valid_token(token) and len(token) == 32
    wid = ws.link_id(token)
    assert len(wid) == 32 and set(wid) <= set("0123456789abcdef") and token not in wid
    assert ws.link_id(token) == wid  # the same link, the same workspace
    for bad in ["", "../../etc/passwd" + "x" * 16, token[:-1], token + "A", "a" * 31 + "/", "a" * 31 + ".", None, 42]:
        assert not ws.valid_token(bad), bad
        with pytest.raises(ParameterError):
            ws.link_id(bad)
    for bad in ["../" + "0" * 29, "0" * 31, "0" * 31 + "G", "/tmp", wid.upper()]:
        with pytest.raises(ParameterError):
            ws.workspace_dir(tmp_path, bad)
    assert ws.workspace_dir(tmp_path, wid) == tmp_path / "workspaces" / wid
    a, b = ws.user_id("alice@example.org", "k1"), ws.user_id("bob@example.org", "k1")
    assert a != b and ws.user_id("alice@example.org", "k2") != a and ws.user_id("alice@example.org", "k1") == a


def test_server_secret_is_made_once_and_private(tmp_path):
    s = hosted_settings(tmp_path)
    first = ws.server_secret(s)
    assert len(first) == 64 and ws.server_secret(s) == first
    assert oct((tmp_path / ws.SECRET_NAME).stat().st_mode & 0o777) == "0o600"
    assert ws.server_secret(hosted_settings(tmp_path, workspace_secret="configured")) == "configured"


def test_public_messages_hide_server_paths(tmp_path):
    s = hosted_settings(tmp_path)
    msg = f"{tmp_path}/workspaces/abc/soundkit.sqlite: the store is busy; see /etc/x/y.conf and 12 / 500 clips"
    out = ws.public_message(msg, s=s)
    assert str(tmp_path) not in out and "/etc" not in out and "/workspaces/" not in out
    assert out.startswith("soundkit.sqlite: the store is busy") and "y.conf" in out and "12 / 500 clips" in out
    local = ws.settings(environ={"SOUNDKIT_HOME": str(tmp_path)}, secrets_={}, path="/x/y.py")
    assert ws.public_message(msg, s=local) == msg


# -- quotas -----------------------------------------------------------------------------------------------


def test_store_clip_quota_refuses_and_stores_nothing(tmp_path):
    store = Store(tmp_path / "a", max_clips=2)
    store.add(clip(300), name="a.wav", label="low")
    store.add(clip(400), name="b.wav", label="low")
    store.add(clip(300), name="a-again.wav")  # the same bytes: not a new clip, no quota
    files_before = sorted(p.name for p in (tmp_path / "a" / "audio").rglob("*") if p.is_file())
    with pytest.raises(QuotaError, match="holds 2 clips, its limit"):
        store.add(clip(500), name="c.wav", label="low")
    assert store.stats()["clips"] == 2
    assert sorted(p.name for p in (tmp_path / "a" / "audio").rglob("*") if p.is_file()) == files_before
    # an import stops at the limit with the same message
    with pytest.raises(QuotaError):
        store.add_many([("d.wav", clip(600)), ("e.wav", clip(700))])
    # deleting makes room
    store.delete([store.clips()[0].id])
    store.add(clip(800), name="f.wav")
    assert store.stats()["clips"] == 2
    # the same store without a quota takes all of them
    free = Store(tmp_path / "b")
    for f in (300, 400, 500, 600):
        free.add(clip(f), name=f"{f}.wav")
    assert free.stats()["clips"] == 4


def test_store_byte_quota_counts_stored_audio(tmp_path):
    one = len(clip(300, 1.0))
    store = Store(tmp_path / "a", max_bytes=int(2.5 * one))
    store.add(clip(300, 1.0), name="a.wav")
    store.add(clip(400, 1.0), name="b.wav")
    with pytest.raises(QuotaError, match="MB limit"):
        store.add(clip(500, 1.0), name="c.wav")
    assert store.stats()["clips"] == 2
    store.add(clip(500, 0.2), name="short.wav")  # a small one still fits
    assert store.stats()["clips"] == 3


def test_workspace_store_refuses_past_the_servers_disk_cap(tmp_path):
    s = hosted_settings(tmp_path, disk_cap_mb=0.05)  # 50 kB for all workspaces
    ws.forget_usage()
    home = ws.create(tmp_path, ws.link_id(ws.new_token()), kind="link")
    store = ws.open_store(home, s)
    assert isinstance(store, ws.WorkspaceStore) and store.max_clips == s.max_clips
    store.add(clip(300, 1.0), name="a.wav")  # 44 kB: under the cap when it is checked
    ws.forget_usage()
    with pytest.raises(QuotaError, match="storage for workspaces is full"):
        store.add(clip(400, 1.0), name="b.wav")
    with pytest.raises(QuotaError):
        store.import_zip(b"not even a zip")  # refused before the zip is read
    assert store.stats()["clips"] == 1
    # local mode: a plain store, no cap
    assert type(ws.open_store(tmp_path / "local", ws.settings(environ={}, secrets_={}, path="/x.py"))) is Store


def test_run_quota_prunes_failed_runs_first(tmp_path):
    s = hosted_settings(tmp_path, max_runs=2)
    home = ws.create(tmp_path, ws.link_id(ws.new_token()), kind="link")
    for name in ("r1", "r2"):
        (home / "runs" / name).mkdir(parents=True)
        (home / "runs" / name / "labels.json").write_text("[]")
    with pytest.raises(QuotaError, match="holds 2 runs, its limit"):
        ws.check_runs(home, s)
    ws.delete_run(home, home / "runs" / "r1")
    (home / "runs" / "broken").mkdir()
    (home / "runs" / "broken" / "status.json").write_text(json.dumps({"state": "failed"}))
    ws.check_runs(home, s)  # the failed run is pruned: room for one
    assert [p.name for p in ws.run_dirs(home)] == ["r2"]
    with pytest.raises(ParameterError):
        ws.delete_run(home, tmp_path)  # not a run of this workspace


# -- expiry -----------------------------------------------------------------------------------------------


def _aged(root: Path, hours: float) -> tuple[str, Path]:
    wid = ws.link_id(ws.new_token())
    home = ws.create(root, wid, kind="link")
    Store(home).add(clip(300), name="a.wav")
    t = time.time() - hours * 3600
    os.utime(home / ws.META, (t, t))
    return wid, home


def test_expiry_sweep_removes_idle_workspaces_only(tmp_path):
    s = hosted_settings(tmp_path, expire_hours=24)
    old, old_home = _aged(tmp_path, 30)
    fresh, fresh_home = _aged(tmp_path, 2)
    mine, mine_home = _aged(tmp_path, 48)  # the current session's: never removed
    busy, busy_home = _aged(tmp_path, 48)
    ws.job_queue(s).submit(busy_home, busy_home / "runs" / "r", ["x"])  # a queued job keeps it
    removed = ws.sweep(s, keep={mine})
    assert removed == [old]
    assert not old_home.exists() and fresh_home.is_dir() and mine_home.is_dir() and busy_home.is_dir()
    assert Store(fresh_home).stats()["clips"] == 1
    assert not list((tmp_path / "workspaces").glob(".trash-*"))
    # a shorter expiry setting removes the 2-hour-old one too
    assert ws.sweep(hosted_settings(tmp_path, expire_hours=1), keep={mine}) == [fresh]


def test_touch_keeps_a_workspace_alive(tmp_path):
    s = hosted_settings(tmp_path, expire_hours=24)
    wid, home = _aged(tmp_path, 30)
    ws.touch(home)
    assert ws.sweep(s) == [] and home.is_dir()


# -- the queue (no processes) -------------------------------------------------------------------------------


def test_queue_is_first_come_one_entry_per_workspace(tmp_path):
    q = JobQueue(tmp_path / "queue.sqlite", max_running=1, max_queued=3)
    homes = [tmp_path / f"w{k}" for k in range(4)]
    entries = [q.submit(h, h / "runs" / f"run{k}", ["DATA"]) for k, h in enumerate(homes[:3])]
    assert [q.ahead(e.id) for e in entries] == [0, 1, 2]
    with pytest.raises(JobError, match="of this workspace is waiting already") as refused:
        q.submit(homes[0], homes[0] / "runs" / "again", ["DATA"])
    assert "pid" not in str(refused.value) and str(tmp_path) not in str(refused.value)
    with pytest.raises(QuotaError, match="3 training jobs are waiting"):
        q.submit(homes[3], homes[3] / "runs" / "late", ["DATA"])
    # the queue lives on disk: another process (another JobQueue object) sees the same order
    other = JobQueue(tmp_path / "queue.sqlite", max_running=1)
    assert other.active(homes[2]).id == entries[2].id and other.ahead(entries[2].id) == 2
    assert q.cancel(entries[0].id) and not q.cancel(entries[0].id)
    assert [q.ahead(e.id) for e in entries[1:]] == [0, 1]
    assert q.active(homes[0]) is None and q.latest(homes[0]).state == "cancelled"
    assert q.homes_active() == {homes[1].resolve(), homes[2].resolve()}


def test_queue_entry_that_cannot_start_fails_with_a_message(tmp_path):
    q = JobQueue(tmp_path / "queue.sqlite", max_running=1)
    home = tmp_path / "w"
    (home / "runs" / "done").mkdir(parents=True)
    e = q.submit(home, home / "runs" / "taken", ["DATA", "--out", "x"])  # start_training refuses --out
    q.pump()
    got = q.get(e.id)
    assert got.state == "failed" and "--out" in got.message


# -- the queue with real training children (slow) -------------------------------------------------------------


@pytest.mark.slow
def test_queue_runs_one_job_at_a_time_in_order(tmp_path, class_folders):
    from soundkit import jobs

    q = JobQueue(tmp_path / "queue.sqlite", max_running=1)
    args = [str(class_folders), "--epochs", "300", "--batch-size", "4", "--test-fold", "0"]
    homes = [tmp_path / n for n in ("a", "b", "c")]
    ea, eb, ec = (q.submit(h, h / "runs" / "r", args) for h in homes)
    try:
        assert [e.id for e in q.pump()] == [ea.id]  # one slot: only the first starts
        assert q.pump() == []
        assert q.get(ea.id).state == "running" and jobs.running_job(homes[0]) is not None
        assert (q.get(eb.id).state, q.ahead(eb.id)) == ("queued", 0)
        assert (q.get(ec.id).state, q.ahead(ec.id)) == ("queued", 1)
        assert not (homes[1] / "runs" / "r").exists()  # nothing of b's has started
        assert q.cancel(ea.id)  # the owner stops the running job: the next one starts
        started = q.pump()
        assert [e.id for e in started] == [eb.id] and q.ahead(ec.id) == 0
        assert jobs.read_status(homes[0] / "runs" / "r")["state"] == "cancelled"
        assert jobs.running_job(homes[1]) is not None and jobs.running_job(homes[2]) is None
    finally:
        for e in (ea, eb, ec):
            q.cancel(e.id)


@pytest.mark.slow
def test_queue_stops_a_job_past_its_time_limit(tmp_path, class_folders):
    from soundkit import jobs

    q = JobQueue(tmp_path / "queue.sqlite", max_running=1, max_seconds=3)
    home = tmp_path / "a"
    e = q.submit(home, home / "runs" / "r", [str(class_folders), "--epochs", "300", "--test-fold", "0"])
    try:
        q.pump()
        time.sleep(4)
        q.pump()
        got = q.get(e.id)
        assert got.state == "failed" and "the server's limit" in got.message
        assert jobs.running_job(home) is None
        assert "the server's limit" in jobs.read_status(home / "runs" / "r")["message"]
    finally:
        q.cancel(e.id)


# -- the package -----------------------------------------------------------------------------------


def test_package_names_are_the_one_object_of_the_module_that_defines_them():
    """soundkit_app.workspace re-exports each name from the one module defining it (no copies of a
    cache or a lock), and a module never hides a function of the same name (``ws.settings`` is the
    function: the settings module is ``server_settings``)."""
    import ast
    import importlib

    folder = Path(ws.__file__).parent
    owners: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            names = [node.name] if hasattr(node, "name") else [t.id for t in targets if isinstance(t, ast.Name)]
            for name in names:
                owners.setdefault(name, []).append(path.stem)
    assert len(ws.__all__) > 40 and set(ws.__all__) <= set(owners), set(ws.__all__) - set(owners)
    for name in ws.__all__:
        (owner,) = owners[name]  # defined exactly once
        module = importlib.import_module(f"soundkit_app.workspace.{owner}")
        assert getattr(ws, name) is getattr(module, name), name
    assert {p.stem for p in folder.glob("*.py")}.isdisjoint(ws.__all__)
    # the disk usage cache is one dict, cleared through the package as through its module
    disk = importlib.import_module("soundkit_app.workspace.disk")
    disk._USAGE["probe"] = (0.0, 1)
    ws.forget_usage()
    assert disk._USAGE == {}
