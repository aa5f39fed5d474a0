"""AppTest of the app in hosted mode (SOUNDKIT_HOSTED=1): private workspaces per session, the token in
the address, no server path anywhere, quotas as one-line messages, the demo dataset, the Train page's
queue. The browser version of the privacy checks is tests/e2e/test_hosted.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from synth import tone, wav_bytes
from test_app import ok

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from soundkit.store import Store  # noqa: E402
from soundkit_app import workspace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "tests" / "app_main.py")
PAGES = ["classify", "label", "spectrogram", "augment", "train", "results"]
SR = 22050


@pytest.fixture
def root(tmp_path, monkeypatch):
    """SOUNDKIT_HOME of a hosted server (its workspaces live under root/workspaces)."""
    home = tmp_path / "server"
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    monkeypatch.setenv("SOUNDKIT_HOSTED", "1")
    workspace.forget_usage()
    return home


def open_page(page: str, *, token: str | None = None, timeout: float = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    if token is not None:
        at.query_params[workspace.QUERY_KEY] = token
    at.run()
    if page != "classify":
        at.switch_page(str(ROOT / "pages" / f"{page}.py"))
        at.run()
    return at




def token_of(at: AppTest) -> str:
    return at.query_params[workspace.QUERY_KEY][0] if isinstance(at.query_params[workspace.QUERY_KEY], list) \
        else at.query_params[workspace.QUERY_KEY]


def home_of(root: Path, token: str) -> Path:
    return workspace.workspace_dir(root, workspace.link_id(token))


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def everything(at: AppTest) -> str:
    """Every text the page shows (markdown, captions, messages, labels, metrics, options)."""
    parts = [texts(getattr(at, kind)) for kind in ("markdown", "caption", "info", "warning", "error", "success",
                                                    "title", "code", "subheader")]
    parts += [w.label for w in [*at.text_input, *at.selectbox, *at.radio, *at.button, *at.checkbox, *at.toggle]]
    parts += [str(o) for w in [*at.selectbox, *at.radio] for o in getattr(w, "options", [])]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


def upload_clips(at: AppTest, freqs: list[float], label: str) -> None:
    """Upload tones on the Label page with ``label`` (created first, as the Classes tab would)."""
    Store(home_of(Path(workspace.settings().root), token_of(at))).create_label(label, exist_ok=True)
    at.run()
    gen = at.session_state["label_upload_gen"] if "label_upload_gen" in at.session_state else 0
    up = at.file_uploader(key=f"label_upload_{gen}")
    for f in freqs:
        up.upload(f"t{int(f)}.wav", wav_bytes(tone(f, 1.0, SR), SR), "audio/wav")
    at.run()
    at.selectbox(key="label_upload_label").set_value(label).run()
    at.button(key="label_upload_add").click().run()


def test_each_session_gets_a_private_workspace_and_its_link_brings_it_back(root):
    a = ok(open_page("label"))
    token_a = token_of(a)
    assert workspace.valid_token(token_a)
    upload_clips(a, [300, 350], "hum")
    ok(a)
    assert Store(home_of(root, token_a)).labels() == {"hum": 2}

    b = ok(open_page("label"))  # another visitor: another workspace, nothing of A's
    token_b = token_of(b)
    assert token_b != token_a
    assert {m.label: m.value for m in b.metric}["Clips"] == "0"
    assert "hum" not in everything(b)
    assert Store(home_of(root, token_b)).stats()["clips"] == 0

    again = ok(open_page("label", token=token_a))  # A's link, in a new session
    assert token_of(again) == token_a
    assert {m.label: m.value for m in again.metric}["Clips"] == "2"
    assert sorted(p.name for p in (root / "workspaces").iterdir() if workspace.ID_RE.fullmatch(p.name)) == sorted(
        [workspace.link_id(token_a), workspace.link_id(token_b)]
    )


@pytest.mark.parametrize("given", ["../../../../etc", "x" * 32, "A" * 31 + "/", "not a token"])
def test_an_unknown_or_malformed_token_is_never_trusted(root, given):
    at = ok(open_page("label", token=given))
    token = token_of(at)
    assert token != given and workspace.valid_token(token)
    assert "new, empty workspace" in texts(at.warning)
    made = [p.name for p in (root / "workspaces").iterdir() if not p.name.startswith(".")]
    assert made == [workspace.link_id(token)]  # the given value named no folder
    assert not (root / "etc").exists() and not any("x" * 8 in p.name for p in root.rglob("*"))


@pytest.mark.parametrize("page", PAGES)
def test_no_page_shows_or_takes_a_server_path(root, page, tmp_path):
    at = ok(open_page(page))
    shown = everything(at)
    assert str(root) not in shown and str(tmp_path) not in shown
    labels = [w.label.lower() for w in at.text_input]
    assert not any("folder" in lab or "server" in lab or "path" in lab for lab in labels), labels
    assert "on this server" not in shown
    if page == "train":
        assert not at.radio  # the label store only
    if page == "label":
        assert not [b for b in at.button if b.key in ("label_import", "label_download")]


def test_clip_quota_is_a_clear_message_for_uploads_and_recordings(root, monkeypatch):
    monkeypatch.setenv("SOUNDKIT_MAX_CLIPS", "2")
    at = ok(open_page("label"))
    upload_clips(at, [300, 400, 500], "hum")
    assert not at.exception
    assert "its limit" in texts(at.error), texts(at.error)
    home = home_of(root, token_of(at))
    assert Store(home).stats()["clips"] == 2
    # recording is refused the same way
    at.switch_page(str(ROOT / "pages" / "label.py")).run()
    at.audio_input(key=f"label_record_{at.session_state['label_record_gen']}").set_value(
        ("rec.wav", wav_bytes(tone(700, 1.0, SR), SR), "audio/wav")
    ).run()
    at.button(key="label_record_add").click().run()
    assert not at.exception and "its limit" in texts(at.error)
    assert Store(home).stats()["clips"] == 2


def test_demo_dataset_is_copied_in_one_click(root, class_folders, monkeypatch):
    monkeypatch.setenv("SOUNDKIT_DEMO_DATASET", str(class_folders))
    monkeypatch.setenv("SOUNDKIT_DEMO_PER_CLASS", "2")
    at = ok(open_page("label"))
    assert str(class_folders) not in everything(at)  # the demo is named, its server path is not
    at.button(key="label_demo").click().run()
    ok(at)
    store = Store(home_of(root, token_of(at)))
    assert store.labels() == {"high": 2, "low": 2, "noise": 2}
    # with a quota smaller than the demo, the copy stops at the limit with a message
    monkeypatch.setenv("SOUNDKIT_MAX_CLIPS", "3")
    other = ok(open_page("label"))
    other.button(key="label_demo").click().run()
    assert not other.exception and "its limit" in texts(other.error)
    assert Store(home_of(root, token_of(other))).stats()["clips"] == 3


def test_export_replaces_only_this_sessions_zip(root):
    at = ok(open_page("label"))
    upload_clips(at, [300], "hum")
    home = home_of(root, token_of(at))
    export_dir = home / "cache" / "export"
    export_dir.mkdir(parents=True, exist_ok=True)
    theirs = export_dir / "soundkit-dataset-other123-20260101-000000.zip"
    theirs.write_bytes(b"another tab's export")
    at.button(key="label_export_build").click().run()
    at.button(key="label_export_build").click().run()
    ok(at)
    mine = [p for p in export_dir.glob("*.zip") if p != theirs]
    assert len(mine) == 1 and theirs.is_file()


def _populate(home: Path) -> None:
    store = Store(home)
    for k in range(4):
        store.add(wav_bytes(tone(200 + 30 * k, 1.0, SR), SR), name=f"low{k}.wav", label="low")
        store.add(wav_bytes(tone(5000 + 300 * k, 1.0, SR), SR), name=f"high{k}.wav", label="high")


def _wait_state(path: Path, states: tuple[str, ...], timeout: float = 240) -> dict:
    from soundkit import jobs

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = jobs.read_status(path) or {}
        if st.get("state") in states and st.get("stage") not in (None, "starting"):
            return st
        time.sleep(0.5)
    raise AssertionError(f"{path}: not in {states} after {timeout} s: {jobs.read_status(path)}")


@pytest.mark.slow
def test_train_page_queues_jobs_first_come_and_only_the_owner_sees_them(root, monkeypatch):
    monkeypatch.setenv("SOUNDKIT_MAX_JOBS", "1")
    sessions = []
    for _ in range(3):
        at = ok(open_page("label"))
        _populate(home_of(root, token_of(at)))
        at.switch_page(str(ROOT / "pages" / "train.py")).run()
        ok(at)
        assert at.number_input(key="train_epochs").max == workspace.Settings().max_epochs
        sessions.append(at)
    a, b, c = sessions
    for at, name in zip(sessions, ("run-a", "run-b", "run-c"), strict=True):
        at.number_input(key="train_epochs").set_value(50)
        cv = next(t for t in at.toggle if t.key and t.key.startswith("train_cv_first"))
        cv.set_value(False).run()  # one model per job (small data would cross-validate first)
        at.selectbox(key="train_test_fold").set_value("0")
        at.text_input(key="train_run_name").input(name).run()
        at.button(key="train_start").click().run()
        ok(at)
    run_a = home_of(root, token_of(a)) / "runs" / "run-a"
    try:
        _wait_state(run_a, ("running",))
        a.run()
        assert "Training run-a" in texts(a.markdown) and a.button(key="train_cancel")
        b.run()
        c.run()
        assert "waiting: yours is next" in texts(b.markdown)
        assert "waiting: 1 job ahead of yours" in texts(c.markdown)
        for other in (b, c):  # neither sees A's job nor has a button that stops it
            assert "run-a" not in everything(other)
            assert not [x for x in other.button if x.key == "train_cancel"]
        assert not (home_of(root, token_of(b)) / "runs" / "run-b" / "status.json").exists()
        c.button(key="train_leave_queue").click().run()  # C leaves; A still runs, B still next
        assert "waiting" not in texts(c.markdown)
        assert workspace.job_queue(workspace.settings()).active(home_of(root, token_of(a))).state == "running"
        a.button(key="train_cancel").click().run()  # the owner cancels: B's job starts
        assert "cancelled" in texts(a.warning)
        run_b = home_of(root, token_of(b)) / "runs" / "run-b"
        _wait_state(run_b, ("running", "done"))
        b.run()
        assert "Training run-b" in texts(b.markdown) or "run-b" in texts(b.success)
        status = json.loads((run_a / "status.json").read_text())
        assert status["state"] == "cancelled"
    finally:
        q = workspace.job_queue(workspace.settings())
        for entry in q.entries("queued", "running"):
            q.cancel(entry.id)


def test_secrets_switch_hosted_mode_on_and_set_limits(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDKIT_HOME", str(tmp_path / "server"))
    monkeypatch.delenv("SOUNDKIT_HOSTED", raising=False)
    local = AppTest.from_file(APP, default_timeout=60)
    local.run()
    assert workspace.QUERY_KEY not in local.query_params  # no secrets, not on Community Cloud: local mode
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["soundkit"] = {"hosted": True, "max_clips": 7}
    at.run()
    ok(at)
    assert workspace.valid_token(token_of(at))
    assert "0 / 7 clips" in texts(at.caption)


def test_clip_quota_holds_for_classify_and_augmented_copies(root, yamnet_path, monkeypatch):
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(yamnet_path.parent))
    monkeypatch.setenv("SOUNDKIT_MAX_CLIPS", "1")
    at = ok(open_page("label"))
    home = home_of(root, token_of(at))
    Store(home).add(wav_bytes(tone(300, 1.0, SR), SR), name="only.wav", label="hum")  # the workspace is full
    at.switch_page(str(ROOT / "pages" / "classify.py")).run()
    assert at.selectbox(key="classify_model").value == "pretrained:yamnet"  # shared, read-only
    at.file_uploader(key="classify_upload").upload("new.wav", wav_bytes(tone(900, 1.0, SR), SR), "audio/wav")
    at.run()
    assert "Heard:" in texts(at.markdown)
    at.button(key="classify_add_0_button").click().run()
    assert not at.exception and "its limit" in texts(at.error)
    at.switch_page(str(ROOT / "pages" / "augment.py")).run()
    at.slider(key="aug_ratio").set_value(1.25).run()
    at.button(key="aug_add").click().run()
    assert not at.exception and "its limit" in texts(at.error)
    assert Store(home).stats()["clips"] == 1


def test_a_session_whose_workspace_expired_gets_a_new_one(root):
    at = ok(open_page("label"))
    old = token_of(at)
    s = workspace.settings()
    home = home_of(root, old)
    t = time.time() - 2 * s.expire_seconds
    import os

    os.utime(home / workspace.META, (t, t))
    assert workspace.sweep(s) == [workspace.link_id(old)]  # another visitor's session swept it
    at.run()
    ok(at)
    assert token_of(at) != old and workspace.valid_token(token_of(at))
    assert "expired" in texts(at.warning)
    assert not home.exists()
