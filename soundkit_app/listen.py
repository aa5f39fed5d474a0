"""Listen page helpers: the microphone component, one Listener per browser session, the live
readout (top label, bars, the last minute's timeline), the event log, the "unknown" slider and alert
rules.

Transport: components/mic/mic.js (an ``st.components.v2`` module, plain JavaScript) captures the
microphone with the Web Audio API at the model's rate and sends 16-bit PCM chunks as component state
over Streamlit's own websocket (see docs/ARCHITECTURE.md "Listening" for why not WebRTC). Each chunk
has a sequence number; the page acknowledges what it has fed to the Listener, so an interrupted rerun
loses nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from soundkit_app.classify import YAMNET_KEY, predictor_for

log = logging.getLogger(__name__)

MIC_JS = Path(__file__).resolve().parents[1] / "components" / "mic" / "mic.js"
#: Seconds of audio per chunk the browser sends.
CHUNK_SECONDS = 0.5
#: Seconds shown on the scrolling timeline.
HISTORY_SECONDS = 60.0
SESSION_KEY = "listen_state"


@st.cache_resource(show_spinner=False)
def _mic_component() -> Any:
    return st.components.v2.component("soundkit_mic", js=MIC_JS.read_text(encoding="utf-8"), isolate_styles=False)


def mic(*, key: str, sr: int, ack: int | None, session: str | None, chime: int) -> dict[str, Any] | None:
    """Mount the microphone component; its latest state ({"session", "running", "sr", "chunks"}) or None."""
    result = _mic_component()(
        key=key, data={"id": key, "sr": int(sr), "chunk": CHUNK_SECONDS, "ack": ack, "session": session, "chime": chime},
        on_audio_change=lambda: None, height="content",
    )
    return getattr(result, "audio", None)


def open_set_of(model_key: str) -> Any:
    """The run's calibrated open-set check, or None (YAMNet zero-shot, runs without calibration)."""
    if model_key == YAMNET_KEY:
        return None
    from soundkit.openset import OpenSet

    return OpenSet.load(model_key)


class Session:
    """What one browser session listens with: the Listener, acknowledged chunks, alert state."""

    def __init__(self, model_key: str, settings: dict[str, Any], open_set: Any) -> None:
        from soundkit.listen import Listener

        self.model_key, self.settings = model_key, dict(settings)
        self.listener = Listener(predictor_for(model_key), hop=settings["hop"], smooth=settings["smooth"],
                                 on=settings["on"], off=settings["off"], min_duration=settings["min_duration"],
                                 open_set=open_set, history=HISTORY_SECONDS)
        self.mic_session: str | None = None
        self.ack: int = -1
        self.started = time.time()
        self.alert_runs: dict[int, float | None] = {}
        self.alerts: list[dict[str, Any]] = []
        self.chimes = 0
        self.received = 0
        self.webhook_errors: list[str] = []  # delivery failures, one line each, shown once by the page

    def feed(self, state: dict[str, Any] | None) -> list[Any]:
        """Feed the chunks not fed yet; returns the events that ended."""
        if not state or not state.get("chunks") and state.get("session") == self.mic_session:
            return []
        session = state.get("session")
        if session and session != self.mic_session:  # the microphone was (re)started: a fresh stream
            self.mic_session, self.ack = session, -1
            self.listener = type(self.listener)(self.listener.scorer, hop=self.listener.hop, smooth=self.listener.smooth,
                                                on=self.settings["on"], off=self.settings["off"],
                                                min_duration=self.settings["min_duration"],
                                                open_set=self.listener.open_set, history=HISTORY_SECONDS)
            self.started = time.time()
        sr = int(state.get("sr") or self.listener.sample_rate)
        events = []
        for chunk in sorted(state.get("chunks") or [], key=lambda c: c["seq"]):
            if chunk["seq"] <= self.ack:
                continue
            pcm = np.frombuffer(base64.b64decode(chunk["pcm"]), dtype="<i2").astype(np.float32) / 32768.0
            events += self.listener.feed(pcm, sr)
            self.ack = int(chunk["seq"])
            self.received += len(pcm)
        return events


def session(model_key: str, settings: dict[str, Any], open_set: Any) -> Session:
    """This browser session's listening state (a new one when the model or the settings change)."""
    s = st.session_state.get(SESSION_KEY)
    if s is None or s.model_key != model_key or s.settings != settings:
        s = Session(model_key, settings, open_set)
        st.session_state[SESSION_KEY] = s
    s.listener.open_set = open_set
    return s


def frames_table(listener: Any, *, top: int = 4) -> Any:
    """DataFrame of the last minute's frames (start, end, label, probability) for the timeline:
    each frame's top labels, so a chart row per label."""
    import pandas as pd

    rows = []
    labels = listener.labels
    for f in listener.frames:
        if not f.sounding:
            continue
        if f.unknown:
            rows.append({"start": f.start, "end": f.end, "label": "unknown", "probability": f.confidence})
            continue
        for k in np.argsort(-f.probabilities)[:top]:
            p = float(f.probabilities[k])
            if p >= 0.1:
                rows.append({"start": f.start, "end": f.end, "label": labels[k], "probability": p})
    return pd.DataFrame(rows, columns=["start", "end", "label", "probability"])


def events_table(events: list[Any], started: float) -> Any:
    """DataFrame of the event log: time (clock), start (s), label, duration (s), confidence."""
    import pandas as pd

    return pd.DataFrame(
        [{"time": time.strftime("%H:%M:%S", time.localtime(started + e.start)), "start": round(e.start, 2),
          "label": e.label, "duration": round(e.duration, 2), "confidence": round(e.mean, 3), "peak": round(e.peak, 3)}
         for e in events],
        columns=["time", "start", "label", "duration", "confidence", "peak"],
    )


def check_alerts(sess: Session, rules: list[dict[str, Any]], frames: list[Any], *, webhook: str | None) -> list[str]:
    """Apply alert rules (label above p for at least d seconds) to new frames; returns messages fired."""
    fired = []
    labels = sess.listener.labels
    for i, rule in enumerate(rules):
        if rule["label"] not in labels:
            continue
        k = labels.index(rule["label"])
        for f in frames:
            on = f.sounding and not f.unknown and float(f.probabilities[k]) >= rule["p"]
            since = sess.alert_runs.get(i)
            if not on:
                sess.alert_runs[i] = None
                continue
            if since is None:
                sess.alert_runs[i] = since = f.start
            if since != -1 and f.end - since >= rule["d"]:
                msg = f"{rule['label']} above {rule['p']:.0%} for {f.end - since:.1f} s (at {since:.1f} s)"
                sess.alert_runs[i] = -1  # fired for this stretch; re-armed when it drops
                sess.alerts.append({"time": time.strftime("%H:%M:%S"), "message": msg})
                fired.append(msg)
                if webhook:
                    event = {"label": rule["label"], "start": round(float(since), 3), "end": round(float(f.end), 3),
                             "duration": round(float(f.end - since), 3), "confidence": round(float(f.probabilities[k]), 4)}
                    post_webhook(webhook, {"event": event, "rule": dict(rule), "message": msg, "time": time.time(),
                                           "model": sess.model_key}, on_error=sess.webhook_errors.append)
    return fired


def webhook_error(url: str) -> str | None:
    """Why ``url`` cannot take alerts (one line), or None when it can: an http(s) URL with a host,
    a valid port, no spaces, under 2000 characters; never in a hosted workspace (the server would
    post wherever a visitor asks)."""
    from urllib.parse import urlsplit

    from soundkit_app import workspace

    if workspace.hosted():
        return "webhooks are not available in a hosted workspace (run soundkit on your own machine to use them)"
    if len(url) >= 2000 or any(c.isspace() for c in url):
        return "the webhook URL must be one http:// or https:// URL without spaces (under 2000 characters)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"the webhook URL is not valid: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the webhook must be an http:// or https:// URL with a host, e.g. http://localhost:8080/alert"
    if port == 0:
        return "the webhook URL's port must be within 1..65535"
    return None


def valid_webhook(url: str) -> bool:
    return webhook_error(url) is None


def post_webhook(url: str, payload: dict[str, Any], *, on_error: Any = None, timeout: float = 3.0) -> threading.Thread:
    """POST ``payload`` as JSON to ``url`` in a background thread (so the page never waits on it).

    A URL :func:`webhook_error` refuses raises ParameterError at once; a failed delivery (refused,
    timed out, an HTTP error status) is logged and passed to ``on_error`` as one line. Returns the
    thread (started).
    """
    import urllib.error
    import urllib.request

    from soundkit.errors import ParameterError

    problem = webhook_error(url)
    if problem:
        raise ParameterError(problem)

    def post() -> None:
        try:
            req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "soundkit"})
            urllib.request.urlopen(req, timeout=timeout).close()  # noqa: S310 - a URL the local user typed
        except urllib.error.HTTPError as exc:
            _failed(f"the alert webhook {url} answered HTTP {exc.code} {exc.reason}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            _failed(f"the alert webhook {url} could not be reached: {reason}")

    def _failed(message: str) -> None:
        log.warning("%s", message)
        if on_error is not None:
            on_error(message)

    thread = threading.Thread(target=post, daemon=True, name="soundkit-webhook")
    thread.start()
    return thread
