"""The Listen page under AppTest (renders, unknown slider, alert rules) and its glue: chunks as the
microphone component sends them fed to the session's Listener, alerts fired on frames; the Classify
page's timeline drawn over the clip with its events."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import numpy as np
import pytest
from synth import tone, wav_bytes

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "tests" / "app_main.py")
SR = 22050


@pytest.fixture(scope="module")
def tiny_template(tmp_path_factory):
    from tiny_run import make_run

    return make_run(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture
def home_with_run(tmp_path, monkeypatch, tiny_template):
    home = tmp_path / "home"
    monkeypatch.setenv("SOUNDKIT_HOME", str(home))
    run = Path(shutil.copytree(tiny_template, home / "runs" / "tiny"))
    return home, run


def open_listen(timeout: float = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.switch_page(str(ROOT / "pages" / "listen.py"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_listen_page_renders_and_adds_an_alert_rule(home_with_run):
    at = open_listen()
    assert at.title[0].value == "Listen"
    assert at.selectbox(key="listen_model").value.endswith("tiny")
    assert any(m.value.startswith("Heard:") for m in at.markdown)
    assert "no open-set calibration" in " ".join(c.value for c in at.caption)
    at.selectbox(key="listen_rule_label").set_value("high")
    at.button(key="listen_rule_add").click().run()
    assert not at.exception
    assert any("Alert when **high**" in m.value for m in at.markdown)
    assert at.text_input(key="listen_webhook") is not None  # local mode offers a webhook


def test_listen_page_with_a_model_that_does_not_load_is_one_error_line(home_with_run, tmp_path, monkeypatch):
    # YAMNet's weights present but not the real file (or, on a machine offline, not downloadable)
    bad = tmp_path / "weights"
    bad.mkdir()
    (bad / "yamnet.tflite").write_bytes(b"\0" * 5000)
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(bad))
    monkeypatch.setenv("SOUNDKIT_WEIGHTS_CACHE", str(tmp_path / "cache"))
    from soundkit_app import classify

    classify._yamnet.clear()  # a YAMNet loaded by an earlier test of this process (the real weights) is cached
    at = open_listen()
    at.selectbox(key="listen_model").set_value(classify.YAMNET_KEY).run()
    classify._yamnet.clear()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and "YAMNet" in at.error[0].value, [e.value for e in at.error]


def test_listen_page_unknown_slider_starts_at_the_calibrated_point(home_with_run, tmp_path):
    from synth import write_wav

    from soundkit.datasets import Clip
    from soundkit.openset import calibrate
    from soundkit.predict import Predictor

    _, run = home_with_run
    clips = []
    for k in range(5):
        for lab, f in (("low", 220 + 20 * k), ("high", 5000 + 300 * k)):
            p = write_wav(tmp_path / f"{lab}{k}.wav", tone(f, 1.0, SR, 0.4), SR)
            clips.append(Clip(path=p, label=lab, fold=None, source=p.stem, id=p.stem))
    os_ = calibrate(Predictor.load(run, open_set="off"), clips, clips, n_background=4)
    os_.save(run)
    at = open_listen()
    slider = at.slider(key="listen_unknown_threshold")
    assert slider.value == pytest.approx(os_.threshold)
    caption = " ".join(c.value for c in at.caption)
    assert "calibration clips" in caption and "accepted as known" in caption
    assert f"{os_.rates()['known_accepted']:.0%}" in caption
    slider.set_value(1.0).run()  # stricter: only clips scoring a full 1.0 stay known
    expected = os_.rates(1.0)["known_accepted"]
    assert expected < os_.rates()["known_accepted"]
    assert f"**{expected:.0%}** of the run's" in " ".join(c.value for c in at.caption)


def _chunk_state(y: np.ndarray, sr: int, *, session: str, first_seq: int = 0, size: float = 0.5) -> dict:
    n = int(size * sr)
    chunks = []
    for i, at in enumerate(range(0, len(y) - n + 1, n)):
        pcm = (np.clip(y[at : at + n], -1, 1) * 32767).astype("<i2").tobytes()
        chunks.append({"seq": first_seq + i, "n": n, "pcm": base64.b64encode(pcm).decode()})
    return {"session": session, "running": True, "sr": sr, "chunks": chunks}


def test_session_feeds_component_chunks_once_and_fires_alerts(home_with_run):
    from soundkit_app import listen as ui

    _, run = home_with_run
    settings = {"hop": 0.5, "smooth": 2, "on": 0.7, "off": 0.55, "min_duration": 0.25}
    sess = ui.Session(str(run), settings, None)
    gap = np.zeros(2 * 16000, np.float32)
    y = np.concatenate([gap, tone(300, 2.0, 16000, 0.5), gap, tone(6000, 1.5, 16000, 0.5), gap, gap])  # 16 kHz from the browser
    state = _chunk_state(y, 16000, session="s1")
    sess.feed(state)
    heard = sess.listener.seconds
    assert heard == pytest.approx(len(state["chunks"]) * 0.5, abs=0.05)
    sess.feed(state)  # the same (unacknowledged) chunks again: fed once only
    assert sess.listener.seconds == heard and sess.ack == state["chunks"][-1]["seq"]
    assert [e.label for e in sess.listener.events] == ["low", "high"]
    fired = ui.check_alerts(sess, [{"label": "low", "p": 0.7, "d": 1.0}], list(sess.listener.frames), webhook=None)
    assert len(fired) == 1 and fired[0].startswith("low above 70%")
    table = ui.events_table(sess.listener.events, sess.started)
    assert list(table["label"]) == ["low", "high"] and set(table.columns) >= {"time", "label", "duration", "confidence"}
    sess.feed(_chunk_state(y[:16000], 16000, session="s2"))  # a new microphone session starts afresh
    assert sess.listener.seconds == pytest.approx(1.0, abs=0.05) and sess.listener.events == []


def test_classify_timeline_covers_the_clip_with_its_events(home_with_run):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    gap = np.zeros(SR, np.float32)
    y = np.concatenate([gap, tone(250, 2.0, SR, 0.5), gap, tone(6000, 2.0, SR, 0.5), gap])
    at.file_uploader(key="classify_upload").upload("scene.wav", wav_bytes(y, SR), "audio/wav")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    caption = " ".join(c.value for c in at.caption)
    assert "2 event(s): low" in caption and ", high" in caption
    import json

    charts = at.get("vega_lite_chart")
    assert charts, "no timeline chart"
    spec = json.loads(charts[-1].proto.spec)
    assert spec["encoding"]["x"]["scale"]["domain"] == [0.0, pytest.approx(len(y) / SR)]  # the clip, not beyond
    assert spec["height"] == {"step": 26}  # a 26-px row per label, never a 15-px strip


# -- the alert webhook (local mode) ---------------------------------------------------------------------

@pytest.fixture
def receiver():
    """A live HTTP server on 127.0.0.1 recording every POST: (url, [(path, headers, json body)])."""
    import http.server
    import json
    import threading

    got: list[tuple[str, dict, dict]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, dict(self.headers), json.loads(body)))
            self.send_response(500 if self.path == "/broken" else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", got
    server.shutdown()
    server.server_close()


def test_alert_webhook_posts_the_event_json_to_a_live_server(home_with_run, receiver):
    import time

    from soundkit_app import listen as ui

    url, got = receiver
    _, run = home_with_run
    sess = ui.Session(str(run), {"hop": 0.5, "smooth": 2, "on": 0.7, "off": 0.55, "min_duration": 0.25}, None)
    gap = np.zeros(2 * 16000, np.float32)
    sess.feed(_chunk_state(np.concatenate([gap, tone(300, 2.0, 16000, 0.5), gap]), 16000, session="s1"))
    fired = ui.check_alerts(sess, [{"label": "low", "p": 0.7, "d": 1.0}], list(sess.listener.frames), webhook=url + "/alert")
    assert len(fired) == 1
    t0 = time.monotonic()
    while not got and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    (path, headers, body), = got
    assert path == "/alert" and headers["Content-Type"] == "application/json"
    assert body["message"] == fired[0] and body["rule"] == {"label": "low", "p": 0.7, "d": 1.0}
    ev = body["event"]
    assert ev["label"] == "low" and ev["duration"] >= 1.0 and ev["confidence"] >= 0.7
    assert 1.0 <= ev["start"] <= 2.75 and ev["end"] == pytest.approx(ev["start"] + ev["duration"], abs=1e-3)
    assert sess.webhook_errors == []
    # a server answering an error status: one line for the page, nothing raised in the session
    ui.post_webhook(url + "/broken", {"x": 1}, on_error=sess.webhook_errors.append).join(10)
    assert sess.webhook_errors == [f"the alert webhook {url}/broken answered HTTP 500 Internal Server Error"]


def test_alert_webhook_bad_urls_are_one_clear_error(home_with_run, receiver, monkeypatch):
    import socket

    from soundkit.errors import ParameterError
    from soundkit_app import listen as ui

    url, got = receiver
    for bad in ("ftp://127.0.0.1/x", "localhost:8080", "http://", "http://127.0.0.1:99999/x", "http://a b/"):
        problem = ui.webhook_error(bad)
        assert problem and "\n" not in problem, bad
        with pytest.raises(ParameterError, match="webhook"):
            ui.post_webhook(bad, {})
    assert ui.webhook_error(url + "/alert") is None
    with socket.socket() as s:  # a port nobody listens on: refused, said once
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/alert"
    errors: list[str] = []
    ui.post_webhook(closed, {"x": 1}, on_error=errors.append).join(10)
    assert len(errors) == 1 and errors[0].startswith(f"the alert webhook {closed} could not be reached"), errors
    # the page shows the problem of a bad URL as one error
    at = open_listen()
    at.text_input(key="listen_webhook").input("ftp://example.org/alert").run()
    assert [e.value for e in at.error] == ["The webhook must be an http:// or https:// URL with a host, e.g. http://localhost:8080/alert."]
    # a hosted workspace cannot use webhooks: not offered, and refused if called anyway
    monkeypatch.setenv("SOUNDKIT_HOSTED", "1")
    assert "hosted workspace" in ui.webhook_error(url + "/alert")
    with pytest.raises(ParameterError, match="hosted workspace"):
        ui.post_webhook(url + "/alert", {"x": 1})
    assert got == []
