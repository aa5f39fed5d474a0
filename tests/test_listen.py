"""soundkit.listen: the ring buffer, the event detector and the listener on synthetic streams."""

from __future__ import annotations

import numpy as np
import pytest
from synth import tone

from soundkit.errors import ParameterError
from soundkit.listen import (
    EventDetector,
    Listener,
    RingBuffer,
    WindowScorer,
    detect_events,
    event_f1,
    listen_array,
    tile_spans,
)

# -- ring buffer --------------------------------------------------------------------------------------

@pytest.mark.parametrize("sizes", [[3, 5, 7, 11, 2, 13], [40], [1] * 30, [9, 25, 1]])
def test_ring_buffer_keeps_the_last_samples(sizes):
    rb = RingBuffer(10)
    full = np.arange(sum(sizes), dtype=np.float32)
    at = 0
    for n in sizes:
        rb.write(full[at : at + n])
        at += n
        lo = max(0, at - 10)
        np.testing.assert_array_equal(rb.read(lo, at), full[lo:at])
    assert rb.written == len(full)
    np.testing.assert_array_equal(rb.read(-3, 0), np.zeros(3))  # before the stream: zeros
    if at > 10:
        with pytest.raises(ParameterError):
            rb.read(at - 11, at)


# -- event detector -----------------------------------------------------------------------------------

def _spans(n, hop=0.5):
    t = np.arange(n) * hop
    return t, t + hop


def test_hysteresis_makes_one_event_of_a_flickering_sound():
    p = np.array([0.1, 0.7, 0.45, 0.65, 0.4, 0.8, 0.2, 0.1, 0.1, 0.1])
    P = np.stack([p, 1 - p], axis=1) * [1, 0]  # one label scores, the other stays at 0
    s, e = _spans(len(p))
    events = detect_events(P, s, e, ["bark", "rain"], on=0.6, off=0.3, merge_gap=0)
    assert [(ev.label, ev.start, ev.end) for ev in events] == [("bark", 0.5, 3.0)]
    assert events[0].peak == pytest.approx(0.8)
    assert events[0].mean == pytest.approx(np.mean(p[1:6]))
    # without hysteresis (off == on) the same timeline makes three events
    flicker = detect_events(P, s, e, ["bark", "rain"], on=0.6, off=0.6, merge_gap=0)
    assert len(flicker) == 3
    # ... which a merge gap of one window joins again
    merged = detect_events(P, s, e, ["bark", "rain"], on=0.6, off=0.6, merge_gap=0.5)
    assert [(ev.start, ev.end) for ev in merged] == [(0.5, 3.0)]


def test_min_duration_and_ignored_labels():
    p = np.array([0.0, 0.9, 0.0, 0.0, 0.9, 0.9, 0.9, 0.0])
    P = np.stack([p, p], axis=1)
    s, e = _spans(len(p))
    events = detect_events(P, s, e, ["knock", "_background_"], on=0.5, min_duration=1.0, merge_gap=0)
    assert [(ev.label, ev.start, ev.end) for ev in events] == [("knock", 2.0, 3.5)]


def test_per_label_thresholds_and_bad_parameters():
    P = np.array([[0.55, 0.55], [0.55, 0.55], [0.0, 0.0]])
    s, e = _spans(3)
    events = detect_events(P, s, e, ["a", "b"], on=0.5, thresholds={"b": (0.9, 0.5)})
    assert [ev.label for ev in events] == ["a"]
    for bad in ({"on": 0.5, "off": 0.7}, {"on": 0.0}, {"on": 1.5}, {"min_duration": -1}):
        with pytest.raises(ParameterError):
            EventDetector(["a"], **bad)
    with pytest.raises(ParameterError):
        EventDetector(["a"], thresholds={"zzz": (0.5, 0.2)})


def test_streaming_detector_matches_the_offline_one():
    rng = np.random.default_rng(0)
    P = np.clip(np.cumsum(rng.normal(0, 0.2, (60, 3)), axis=0) % 1.0, 0, 1)
    s, e = _spans(60)
    offline = detect_events(P, s, e, ["a", "b", "c"], on=0.6, off=0.4)
    det = EventDetector(["a", "b", "c"], on=0.6, off=0.4)
    online = [ev for i in range(60) for ev in det.update(s[i], e[i], P[i])] + det.flush()
    assert sorted(online, key=lambda ev: (ev.start, ev.label)) == offline
    assert len(offline) > 2


def test_tile_spans_covers_the_clip_without_overlap():
    starts = np.arange(0, 9.0, 0.5)
    lo, hi = tile_spans(starts, starts + 2.0, duration=10.0)
    np.testing.assert_allclose(lo[1:], hi[:-1])
    assert lo[0] == 0 and hi[-1] <= 10.0


# -- the listener on synthetic streams (the tiny hand-weighted run: low vs high tones) ---------------

@pytest.fixture(scope="module")
def tiny_predictor(tmp_path_factory):
    from tiny_run import make_run

    from soundkit.predict import Predictor

    return Predictor.load(make_run(tmp_path_factory.mktemp("tiny") / "run"))


def _scene(sr):
    """2 s silence, 1.5 s low tone, 2 s silence, 1.5 s high tone, 2 s silence."""
    gap = np.zeros(int(2 * sr), np.float32)
    return np.concatenate([gap, tone(300, 1.5, sr, 0.5), gap, tone(8000, 1.5, sr, 0.5), gap])


LISTEN = {"on": 0.7, "off": 0.55, "smooth": 2, "hop": 0.5}


@pytest.mark.parametrize("block", [997, 4096, 44100 * 3, 1])
def test_listener_finds_each_tone_once_whatever_the_block_size(tiny_predictor, block):
    sr = 44100  # not the run's 22050: resampled on the fly
    y = _scene(sr)
    if block == 1:
        y = y[: int(4.5 * sr)]  # one sample at a time is slow: the first tone is enough
    events, listener = listen_array(tiny_predictor, y, sr, block=block, **LISTEN)
    expected = [("low", 2.0)] if block == 1 else [("low", 2.0), ("high", 5.5)]
    assert [ev.label for ev in events] == [lab for lab, _ in expected]
    for ev, (_, onset) in zip(events, expected, strict=True):
        assert abs(ev.start - onset) <= 0.75, ev
        assert 0.9 <= ev.duration <= 3.0, ev
    assert listener.seconds == pytest.approx(len(y) / sr, abs=0.01)


def test_listener_same_events_for_any_blocks(tiny_predictor):
    y = _scene(44100)
    a, _ = listen_array(tiny_predictor, y, 44100, block=997, **LISTEN)
    b, _ = listen_array(tiny_predictor, y, 44100, block=30011, **LISTEN)
    assert [(e.label, round(e.start, 3), round(e.end, 3)) for e in a] == [(e.label, round(e.start, 3), round(e.end, 3)) for e in b]


def test_listener_follows_a_sample_rate_change(tiny_predictor):
    lis = Listener(tiny_predictor, **LISTEN)
    first = _scene(44100)[: int(4.5 * 44100)]  # silence + the low tone, at 44.1 kHz
    for i in range(0, len(first), 5000):
        lis.feed(first[i : i + 5000], 44100)
    second = np.concatenate([tone(6000, 1.5, 16000, 0.5), np.zeros(32000, np.float32)])  # at 16 kHz
    for i in range(0, len(second), 777):
        lis.feed(second[i : i + 777], 16000)
    lis.flush()
    assert [ev.label for ev in lis.events] == ["low", "high"]
    assert lis.seconds == pytest.approx(4.5 + 3.5, abs=0.02)
    assert abs(lis.events[1].start - 4.5) <= 0.75


def test_silence_makes_no_event_and_silent_frames(tiny_predictor):
    events, lis = listen_array(tiny_predictor, np.zeros(5 * 22050, np.float32), 22050, **LISTEN)
    assert events == []
    assert lis.frames and all(not f.sounding and f.label == "" for f in lis.frames)


def test_no_window_reads_before_the_stream_began(tiny_predictor):
    """The first window waits for a whole window of audio (one made mostly of the zeros before the
    stream heard the step from digital silence to the room as a sound); a stream shorter than one
    window still gets a window at its end."""
    sr = tiny_predictor.features.sr
    window = Listener(tiny_predictor, **LISTEN).scorer.window
    noise = (0.05 * np.random.default_rng(0).standard_normal(3 * window)).astype(np.float32)
    lis = Listener(tiny_predictor, **LISTEN)
    lis.feed(noise[: window - 1], sr)
    assert lis.windows == 0
    lis.feed(noise[window - 1 : window], sr)
    assert lis.windows == 1
    short = Listener(tiny_predictor, **LISTEN)
    short.feed(noise[: window // 3], sr)
    short.flush()
    assert short.windows == 1


def test_listener_rejects_bad_audio(tiny_predictor):
    from soundkit.errors import AudioError

    lis = Listener(tiny_predictor)
    with pytest.raises(AudioError):
        lis.feed(np.array([0.0, np.nan], np.float32), 22050)
    with pytest.raises(ParameterError):
        lis.feed(np.zeros(10, np.float32), 5)
    with pytest.raises(ParameterError):
        Listener(tiny_predictor, hop=0)
    assert lis.feed(np.zeros(0, np.float32), 22050) == []


def test_event_f1_counts_onsets_within_the_collar():
    ref = [("dog", 1.0, 2.0), ("dog", 5.0, 6.0), ("rain", 8.0, 12.0)]
    est = [("dog", 1.4, 2.5), ("dog", 5.6, 6.0), ("rain", 8.1, 9.0), ("rain", 8.3, 9.0), ("cat", 3.0, 4.0)]
    m = event_f1(ref, est, collar=0.5)
    assert (m["tp"], m["fp"], m["fn"]) == (2, 3, 1)  # dog 5.6 is 0.6 s late; the second rain is a duplicate
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 3 + 1))
    assert m["per_label"]["dog"] == {"tp": 1, "fp": 1, "fn": 1, "f1": 0.5}
    assert sorted(m["onset_errors"]) == pytest.approx([0.1, 0.4])
    assert event_f1(ref, ref)["f1"] == 1.0


def test_event_f1_is_a_maximum_matching_not_a_greedy_one():
    # greedy by estimate would give the estimate at 1.3 the reference at 1.0 (0.3 s) and leave the
    # reference at 1.6 unmatched by the estimate at 0.9 (0.7 s): 1 hit; the best matching has 2
    ref = [("dog", 1.0, 1.5), ("dog", 1.6, 2.0)]
    est = [("dog", 1.3, 1.5), ("dog", 0.9, 1.2)]
    m = event_f1(ref, est, collar=0.5)
    assert (m["tp"], m["fp"], m["fn"]) == (2, 0, 0)
    assert sorted(m["onset_errors"]) == pytest.approx([-0.3, -0.1])


def test_event_f1_agrees_with_sed_eval():
    # the DCASE reference implementation (sed_eval's event-based metrics, onsets only, optimal matching)
    import dcase_util
    import sed_eval

    rng = np.random.default_rng(3)
    labels = ["dog", "rain", "siren"]
    for trial in range(20):
        ref = [(str(rng.choice(labels)), float(t), float(t) + 1.0) for t in np.sort(rng.uniform(0, 60, 12))]
        est = [(lab if rng.random() < 0.8 else str(rng.choice(labels)), s + float(rng.normal(0, 0.4)), e)
               for lab, s, e in ref if rng.random() < 0.85]
        est += [(str(rng.choice(labels)), float(t), float(t) + 0.5) for t in rng.uniform(0, 60, 3)]
        ours = event_f1(ref, est, collar=0.5)
        metric = sed_eval.sound_event.EventBasedMetrics(event_label_list=labels, t_collar=0.5, evaluate_onset=True,
                                                        evaluate_offset=False)

        def container(events):
            return dcase_util.containers.MetaDataContainer(
                [{"filename": "scene.wav", "event_label": lab, "onset": s, "offset": e} for lab, s, e in events])

        metric.evaluate(container(ref), container(est))
        theirs = metric.results_overall_metrics()["f_measure"]
        assert ours["f1"] == pytest.approx(theirs["f_measure"]), trial
        assert ours["precision"] == pytest.approx(theirs["precision"]), trial
        assert ours["recall"] == pytest.approx(theirs["recall"]), trial
        per_class = metric.results_class_wise_metrics()
        for lab in labels:
            if lab in ours["per_label"] and ours["per_label"][lab]["tp"] + ours["per_label"][lab]["fn"]:
                assert ours["per_label"][lab]["f1"] == pytest.approx(per_class[lab]["f_measure"]["f_measure"]), (trial, lab)


# -- onsets --------------------------------------------------------------------------------------------

def test_energy_onset_finds_where_a_sound_begins():
    from soundkit.listen import energy_onset

    sr = 16000
    rng = np.random.default_rng(0)
    floor = (1e-3 * rng.standard_normal(2 * sr)).astype(np.float32)
    y = floor.copy()
    y[int(0.7 * sr):] += tone(500, 1.3, sr, 0.3)
    assert energy_onset(y, sr=sr) == pytest.approx(0.7, abs=0.02)
    assert energy_onset(floor, sr=sr) is None  # steady noise: no onset
    assert energy_onset(y[:10], sr=sr) is None
    # two sounds 0.5 s apart: `at` picks the one heard there; clicks 0.1 s apart are one sound
    z = floor.copy()
    z[int(0.2 * sr) : int(0.6 * sr)] += tone(500, 0.4, sr, 0.3)
    z[int(1.1 * sr) : int(1.6 * sr)] += tone(500, 0.5, sr, 0.3)
    assert energy_onset(z, sr=sr) == pytest.approx(0.2, abs=0.02)
    assert energy_onset(z, sr=sr, at=1.4) == pytest.approx(1.1, abs=0.02)
    assert energy_onset(z, sr=sr, at=0.4) == pytest.approx(0.2, abs=0.02)
    clicks = floor.copy()
    for t in (0.5, 0.6, 0.7, 0.8):
        clicks[int(t * sr) : int((t + 0.05) * sr)] += 0.3
    assert energy_onset(clicks, sr=sr, at=0.85) == pytest.approx(0.5, abs=0.02)
    # `at` as a span (what a window heard): the start of the sound holding its first loud point
    assert energy_onset(z, sr=sr, at=(1.0, 1.3)) == pytest.approx(1.1, abs=0.02)
    assert energy_onset(z, sr=sr, at=(0.4, 1.5)) == pytest.approx(0.2, abs=0.02)  # the sound going on into it
    assert energy_onset(z, sr=sr, at=(0.7, 1.0)) == pytest.approx(0.2, abs=0.02)  # nothing loud in it: before its end
    assert energy_onset(z, sr=sr, at=(1.2, 1.8)) == pytest.approx(1.1, abs=0.02)


class _LateScorer(WindowScorer):
    """A model that knows a sound only once it is loud: "thing" when a window's RMS is over 0.1."""

    labels = ["thing", "other"]
    sample_rate = 16000
    window = context = 16000
    name = "late"

    def score(self, segments):
        loud = np.sqrt(np.mean(segments.astype(np.float64) ** 2, axis=1)) > 0.1
        P = np.stack([loud, ~loud], axis=1).astype(np.float64) * [1.0, 0.0]
        return P, np.ones(len(segments), bool), None


def test_listener_finds_the_start_of_a_sound_its_model_knows_late():
    scorer = _LateScorer()
    sr = 16000
    rng = np.random.default_rng(1)
    y = (1e-3 * rng.standard_normal(8 * sr)).astype(np.float32)
    y[2 * sr : int(3.5 * sr)] += tone(300, 1.5, sr, 0.02)  # quiet at first: the model hears nothing yet
    y[int(3.5 * sr) : 5 * sr] += tone(300, 1.5, sr, 0.3)
    settings = {"hop": 0.5, "smooth": 1, "on": 0.5, "off": 0.3, "merge_gap": 0.5, "min_duration": 0.25}
    found, _ = listen_array(scorer, y, sr, block=1600, **settings)
    assert [e.label for e in found] == ["thing"]
    assert found[0].start == pytest.approx(2.0, abs=0.05)
    short, _ = listen_array(scorer, y, sr, block=1600, onset_lookback=0.5, **settings)  # too short a look back
    assert short[0].start > 2.3, short
    with pytest.raises(ParameterError):
        Listener(scorer, onset_lookback=-1)


def test_listener_places_onsets_from_the_audio(tiny_predictor):
    y = _scene(44100)
    coarse, _ = listen_array(tiny_predictor, y, 44100, block=4096, onset="window", **LISTEN)
    fine, _ = listen_array(tiny_predictor, y, 44100, block=4096, **LISTEN)  # onset="energy" by default
    assert [e.label for e in fine] == [e.label for e in coarse] == ["low", "high"]
    err = [abs(e.start - t) for e, t in zip(fine, (2.0, 5.5), strict=True)]
    assert max(err) <= 0.05, fine
    assert max(abs(e.start - t) for e, t in zip(coarse, (2.0, 5.5), strict=True)) > 0.1, coarse  # what it improves on
    assert [e.end for e in fine] == [e.end for e in coarse]
    with pytest.raises(ParameterError):
        Listener(tiny_predictor, onset="peak")


def test_timeline_events_place_onsets_from_the_audio(tiny_predictor):
    from soundkit.listen import timeline_events

    y = _scene(22050)
    pred = tiny_predictor.predict(y, 22050)
    kwargs = {"on": 0.7, "off": 0.55, "duration": len(y) / 22050}
    coarse = timeline_events(pred, smooth=2, **kwargs)
    fine = timeline_events(pred, smooth=2, y=y, sr=22050, **kwargs)
    assert [e.label for e in fine] == [e.label for e in coarse] == ["low", "high"]
    assert max(abs(e.start - t) for e, t in zip(fine, (2.0, 5.5), strict=True)) <= 0.05, fine
    assert max(abs(e.start - t) for e, t in zip(coarse, (2.0, 5.5), strict=True)) > 0.1, coarse
    assert [e.end for e in fine] == [e.end for e in coarse]
    with pytest.raises(ParameterError):
        timeline_events(pred, y=y)  # no sr


def test_labeling_auto_is_per_label_windows_for_a_log_mel_run(tiny_predictor):
    from soundkit.listen import labeling_for

    assert labeling_for(tiny_predictor) == "window"
    assert Listener(tiny_predictor).labeling == "window"
    assert labeling_for(_LateScorer()) == "window"


# -- segment, then classify (labeling="event") ---------------------------------------------------------

def test_event_labeling_keeps_a_sound_whose_first_window_is_confused_whole():
    # a baby cry whose first windows sound like a rooster, then silence
    p_cry = np.array([0.0, 0.2, 0.35, 0.8, 0.9, 0.85, 0.8, 0.0, 0.0])
    p_rooster = np.array([0.0, 0.7, 0.6, 0.15, 0.05, 0.1, 0.1, 0.0, 0.0])
    P = np.stack([p_cry, p_rooster, 1 - p_cry - p_rooster], axis=1)
    s, e = _spans(len(P))
    labels = ["cry", "rooster", "_background_"]
    per_window = detect_events(P, s, e, labels, on=0.5, off=0.3, labeling="window")
    assert [ev.label for ev in per_window] == ["rooster", "cry"]  # what it improves on: two events, one false
    (ev,) = detect_events(P, s, e, labels, on=0.5, off=0.3, labeling="event")
    assert (ev.label, ev.start, ev.end) == ("cry", 0.5, 3.5)
    assert ev.mean == pytest.approx(p_cry[1:7].mean()) and ev.peak == pytest.approx(0.9)


def test_event_labeling_keeps_two_sounds_apart():
    P = np.zeros((14, 3))
    P[1:5, 0] = 0.9  # a bark
    P[7:12, 1] = 0.8  # rain after 1 s of silence
    P[:, 2] = 1 - P[:, 0] - P[:, 1]
    s, e = _spans(len(P))
    events = detect_events(P, s, e, ["bark", "rain", "_background_"], on=0.5, off=0.3, merge_gap=0.5, labeling="event")
    assert [(ev.label, ev.start, ev.end) for ev in events] == [("bark", 0.5, 2.5), ("rain", 3.5, 6.0)]
    # a short dip: the same sound goes on; another label after the dip begins another event
    P2 = np.zeros((8, 2))
    P2[1:3, 0], P2[3, 0], P2[4:6, 0] = 0.9, 0.1, 0.9
    (one,) = detect_events(P2, *_spans(8), ["bark", "rain"], on=0.5, merge_gap=0.5, labeling="event")
    assert (one.start, one.end) == (0.5, 3.0)
    P2[4:6] = [0.0, 0.9]
    two = detect_events(P2, *_spans(8), ["bark", "rain"], on=0.5, merge_gap=0.5, labeling="event")
    assert [(ev.label, ev.start, ev.end) for ev in two] == [("bark", 0.5, 1.5), ("rain", 2.0, 3.0)]
    with pytest.raises(ParameterError):
        EventDetector(["a"], labeling="vote")


def test_event_labeling_streams_its_current_label_and_ends_it_once():
    P = np.array([[0.0, 0.0], [0.2, 0.7], [0.9, 0.1], [0.9, 0.1], [0.0, 0.0], [0.0, 0.0]])
    det = EventDetector(["cry", "rooster"], on=0.5, off=0.3, merge_gap=0, labeling="event")
    seen, closed = [], []
    for (a, b), p in zip(zip(*_spans(len(P)), strict=True), P, strict=True):
        closed += det.update(a, b, p)
        seen.append(dict(det.active))
    closed += det.flush()
    assert seen[1] == {"rooster": (0.5, 0.7)}  # the open event's label so far
    assert seen[2] == {"cry": (0.5, 0.9)}  # ... changes as the sound goes on, without a new event
    assert seen[4] == {} and len(closed) == 1 and closed[0].label == "cry"
    assert [ev.to_dict() for ev in closed] == [ev.to_dict() for ev in detect_events(
        P, *_spans(len(P)), ["cry", "rooster"], on=0.5, off=0.3, merge_gap=0, labeling="event")]


def test_listener_event_labeling_on_a_stream(tiny_predictor):
    sr = 44100
    gap = np.zeros(2 * sr, np.float32)
    # a sound that begins high and goes on low, then silence, then a low tone
    y = np.concatenate([gap, tone(8000, 0.5, sr, 0.5), tone(300, 2.5, sr, 0.5), gap, tone(300, 1.5, sr, 0.5), gap])
    # off 0.4: the smoothed window across the change of label, about (0.5, 0.5), stays above it
    settings = {**LISTEN, "off": 0.4}
    per_window, _ = listen_array(tiny_predictor, y, sr, block=997, **settings, labeling="window")
    whole, lis = listen_array(tiny_predictor, y, sr, block=997, **settings, labeling="event")
    assert [e.label for e in whole] == ["low", "low"], whole
    assert abs(whole[0].start - 2.0) <= 0.25 and whole[0].end >= 4.5 and abs(whole[1].start - 7.0) <= 0.25, whole
    assert len(per_window) > len(whole), per_window  # the high start made an event of its own
    assert lis.detector.labeling == "event" and not lis.detector.active
    # "auto" (the default): per-label hysteresis for a log-mel run, as measured in bench/listening.py sed
    default, lis = listen_array(tiny_predictor, y, sr, block=997, **settings)
    assert lis.labeling == "window" and default == per_window
    with pytest.raises(ParameterError):
        Listener(tiny_predictor, labeling="vote")
    same, _ = listen_array(tiny_predictor, y, sr, block=30011, **settings, labeling="event")
    assert [(e.label, round(e.start, 3), round(e.end, 3)) for e in same] == [(e.label, round(e.start, 3), round(e.end, 3)) for e in whole]
