"""Listen: classify the microphone live, see events as they happen, act on them."""

import numpy as np
import streamlit as st

import soundkit_app as app
from soundkit_app import classify as models_ui
from soundkit_app import listen as ui
from soundkit_app import timeline

app.header("Listen", "Classify the microphone live: the top label every half second, events, alerts.")

models = models_ui.model_choices()
if not models:
    st.info("No model yet. Train one on the **Train** page.", icon=":material/info:")
    st.stop()
model_key = st.selectbox("Model", list(models), format_func=models.get, key="listen_model")
with app.show_errors():  # a run that does not load, or YAMNet's weights unavailable: one line, not a traceback
    model = models_ui.predictor_for(model_key)

with st.expander("Detection settings"):
    c1, c2, c3, c4 = st.columns(4)
    on = c1.slider("Event starts at", 0.05, 1.0, 0.5, 0.05, key="listen_on")
    off = c2.slider("Event ends below", 0.0, 1.0, min(0.3, on), 0.05, key="listen_off")
    min_duration = c3.number_input("Shortest event (s)", 0.0, 10.0, 0.25, 0.05, key="listen_min_duration")
    smooth = c4.number_input("Smooth over windows", 1, 10, 3, 1, key="listen_smooth")
if off > on:
    st.warning("The end threshold is above the start threshold; using the start threshold for both.")
    off = on
settings = {"hop": 0.5, "smooth": int(smooth), "on": float(on), "off": float(off), "min_duration": float(min_duration)}

# -- "none of these" -----------------------------------------------------------------------------
with app.show_errors():
    calibrated = ui.open_set_of(model_key)
open_set = None
with st.expander("Unknown sounds", expanded=calibrated is not None):
    if calibrated is None:
        st.caption("This model has no open-set calibration (YAMNet zero-shot, or a run trained before it existed): "
                   "every sound gets one of its labels.")
    else:
        scores = np.asarray(calibrated.known_scores + calibrated.background_scores, dtype=float)
        lo, hi = (0.0, 1.0) if calibrated.method == "msp" else (float(scores.min()), float(scores.max()))
        lo, hi = min(lo, calibrated.threshold), max(hi, calibrated.threshold)
        use = st.toggle("Answer \"unknown\" for sounds unlike every class", value=True, key="listen_unknown_on")
        thr = st.slider(f"Unknown below this {calibrated.method} score", lo, hi, float(calibrated.threshold),
                        (hi - lo) / 200 or 0.01, key="listen_unknown_threshold", disabled=not use,
                        help="Starts at the calibrated point: the score that keeps "
                             f"{calibrated.keep:.0%} of the run's validation clips.")
        rates = calibrated.rates(thr)
        parts = []
        if rates["known_accepted"] is not None:
            parts.append(f"**{rates['known_accepted']:.0%}** of the run's {len(calibrated.known_scores)} calibration clips "
                         "(validation, never fitted) accepted as known")
        if rates["background_rejected"] is not None:
            parts.append(f"**{rates['background_rejected']:.0%}** of {len(calibrated.background_scores)} generated noise "
                         "clips rejected as unknown")
        st.caption("At this threshold: " + "; ".join(parts) + ".")
        if use:
            open_set = calibrated.with_threshold(thr)

# -- alert rules -----------------------------------------------------------------------------------
rules = st.session_state.setdefault("listen_rules", [])
with st.expander("Alerts"):
    labels = list(getattr(model, "labels", []))
    a1, a2, a3, a4 = st.columns([3, 2, 2, 1], vertical_alignment="bottom")
    rule_label = a1.selectbox("When", labels, key="listen_rule_label")
    rule_p = a2.slider("is above", 0.05, 1.0, 0.7, 0.05, key="listen_rule_p")
    rule_d = a3.number_input("for at least (s)", 0.0, 60.0, 1.0, 0.5, key="listen_rule_d")
    if a4.button("Add", key="listen_rule_add", icon=":material/add_alert:"):
        rules.append({"label": rule_label, "p": float(rule_p), "d": float(rule_d)})
    for i, r in enumerate(list(rules)):
        r1, r2 = st.columns([6, 1])
        r1.markdown(f"Alert when **{r['label']}** is above {r['p']:.0%} for at least {r['d']:g} s")
        if r2.button("Remove", key=f"listen_rule_rm_{i}"):
            rules.pop(i)
            st.rerun()
    webhook = None
    if app.hosted():
        st.caption("Webhooks are available when you run soundkit on your own machine.")
    else:
        url = st.text_input("Webhook URL (optional, POSTs each alert as JSON)", key="listen_webhook",
                            placeholder="http://localhost:8080/alert")
        problem = ui.webhook_error(url) if url else None
        if problem:
            st.error(problem[0].upper() + problem[1:] + ".", icon=":material/error:")
        elif url:
            webhook = url

with app.show_errors():
    sess = ui.session(model_key, settings, open_set)


@st.fragment
def live() -> None:
    """The microphone and everything that follows it (reruns alone as audio arrives)."""
    state = ui.mic(key="listen_mic", sr=sess.listener.sample_rate, ack=sess.ack, session=sess.mic_session,
                   chime=sess.chimes)
    n_before = len(sess.listener.frames)
    last_start = sess.listener.frames[-1].start if sess.listener.frames else -1.0
    with app.show_errors(stop=False):
        sess.feed(state)
    new_frames = [f for f in sess.listener.frames if f.start > last_start] if len(sess.listener.frames) >= n_before else []
    for msg in ui.check_alerts(sess, rules, new_frames, webhook=webhook):
        sess.chimes += 1
        st.toast(msg, icon=":material/notifications_active:")
    while sess.webhook_errors:  # a delivery that failed since the last rerun: said once
        st.error(sess.webhook_errors.pop(0), icon=":material/link_off:")
    if state and state.get("error"):
        st.error(f"Microphone: {state['error']}", icon=":material/mic_off:")
    lis = sess.listener
    latest = lis.latest
    top, chart = st.columns([1, 2])
    with top:
        if latest is None:
            st.markdown("Heard: **—**")
            st.caption("Press **Start listening** and allow the microphone.")
        else:
            heard = latest.label or "silence"
            st.markdown(f"Heard: **{heard}**" + (f" · {latest.confidence:.0%}" if latest.sounding and not latest.unknown else ""))
            import pandas as pd

            order = np.argsort(-latest.probabilities)[:5]
            bars = pd.DataFrame({"label": [lis.labels[k] for k in order],
                                 "probability": [float(latest.probabilities[k]) for k in order]})
            st.bar_chart(bars, x="label", y="probability", horizontal=True, sort="-probability", height=180)
        active = lis.detector.active
        if active:
            st.markdown("Now: " + ", ".join(f"**{lab}** since {start:.1f} s" for lab, (start, _) in sorted(active.items())))
        st.caption(f"{lis.seconds:.1f} s heard · {lis.windows} windows")
    with chart:
        table = ui.frames_table(lis)
        if len(table):
            st.caption("The last minute")
            timeline.chart(st, table, x0=max(0.0, lis.seconds - ui.HISTORY_SECONDS), x1=max(lis.seconds, 10.0))
    st.markdown("##### Events")
    events = ui.events_table(lis.events, sess.started)
    if len(events):
        st.table(events, hide_index=True)
        st.download_button("Download events (CSV)", events.to_csv(index=False).encode(), "events.csv", "text/csv",
                           key="listen_events_csv", icon=":material/download:")
    else:
        st.caption("No event yet.")
    if sess.alerts:
        st.markdown("##### Alerts")
        for a in sess.alerts[-10:][::-1]:
            st.markdown(f"- {a['time']} · {a['message']}")


live()
