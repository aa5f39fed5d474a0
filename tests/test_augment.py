"""Tests for soundkit.augment: real Rubber Band (and the librosa fallback), real files, real caches."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from synth import noise, tone, write_wav

from soundkit import augment as A
from soundkit import augment_study as study_mod
from soundkit.datasets import Clip
from soundkit.errors import DatasetError, ParameterError

SR = 22050
#: A small CNN for the few training tests here (2 conv blocks, no input pooling).
TINY_CNN = {"filters": [8, 16], "input_pool": [1, 1]}
HAVE_RUBBERBAND = shutil.which("rubberband") is not None
ENGINES = [
    pytest.param("rubberband", marks=pytest.mark.skipif(not HAVE_RUBBERBAND, reason="rubberband program not installed")),
    "librosa",
]


def peak_hz(y: np.ndarray, sr: int) -> float:
    """Frequency of the strongest spectral peak, refined by parabolic interpolation of log magnitudes."""
    S = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    k = int(np.argmax(S[1:-1])) + 1
    a, b, c = np.log(S[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / y.size


@pytest.fixture(scope="module")
def a440() -> np.ndarray:
    return tone(440.0, 2.0, SR, 0.5)


@pytest.fixture
def no_rubberband(monkeypatch, tmp_path):
    """PATH without the rubberband program (the real fallback condition, nothing mocked)."""
    empty = tmp_path / "emptybin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


# -- the acceptance checks ------------------------------------------------------------------


@pytest.mark.parametrize("eng", ENGINES)
def test_stretch_by_1_5_is_1_5_times_as_long_same_pitch(a440, eng):
    t = A.TimeStretch(1.5, 1.5, engine=eng)
    z = t(a440, SR, rng=0)
    assert z.dtype == np.float32
    assert z.size / a440.size == pytest.approx(1.5, rel=0.01)
    assert peak_hz(z, SR) == pytest.approx(440.0, rel=0.005)
    assert t.params_ == {"applied": True, "time_ratio": 1.5, "engine": eng}


@pytest.mark.parametrize("eng", ENGINES)
def test_shift_plus_2_semitones_peaks_at_493_9_hz(a440, eng):
    t = A.PitchShift(2, 2, engine=eng)
    z = t(a440, SR, rng=0)
    assert z.size == pytest.approx(a440.size, rel=0.01)
    assert peak_hz(z, SR) == pytest.approx(440.0 * 2 ** (2 / 12), abs=2.0)  # 493.88 Hz
    assert t.params_["semitones"] == 2.0 and t.params_["engine"] == eng


@pytest.mark.parametrize("ratio", [0.5, 0.75, 2.0])
def test_duration_ratio_direction_is_rubberband_t(a440, ratio):
    """R is output/input duration (rubberband -t R), not pyrubberband's speed rate."""
    z = A.TimeStretch(ratio, ratio)(a440, SR, rng=0)
    assert z.size / a440.size == pytest.approx(ratio, rel=0.01)


@pytest.mark.skipif(not HAVE_RUBBERBAND, reason="rubberband program not installed")
def test_stretch_and_shift_together_match_the_recipe_command(a440, tmp_path):
    """Compose(stretch, shift) == the recipe's `rubberband -t 1.5 -p 2` on the same file."""
    import subprocess

    import soundfile as sf

    chain = A.Compose([A.TimeStretch(1.5, 1.5), A.PitchShift(2, 2)])
    z = chain(a440, SR, rng=0)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, a440, SR, subtype="PCM_16")  # what pyrubberband hands the program
    subprocess.run(["rubberband", "-q", "-t", "1.5", "-p", "2", str(src), str(dst)], check=True)
    ref, _ = sf.read(dst, dtype="float32")
    assert z.size == ref.size
    np.testing.assert_allclose(z, ref, atol=1e-4)
    assert peak_hz(z, SR) == pytest.approx(493.88, abs=2.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: A.TimeStretch(0.4, 1.0),
        lambda: A.TimeStretch(1.0, 2.5),
        lambda: A.TimeStretch(1.5, 1.2),
        lambda: A.TimeStretch(choices=[1.0, 3.0]),
        lambda: A.TimeStretch(engine="sox"),
        lambda: A.PitchShift(-13, 0),
        lambda: A.PitchShift(0, 12.5),
        lambda: A.PitchShift(float("nan"), 1),
        lambda: A.AddNoise(-30, 10),
        lambda: A.AddNoise(10, 30, sounds="/no/such/folder"),
        lambda: A.Gain(-50, 0),
        lambda: A.Shift(-11, 0),
        lambda: A.TimeMask(0),
        lambda: A.FrequencyMask(8, n_masks=0),
        lambda: A.TimeStretch(p=1.5),
        lambda: A.PitchShift(p=-0.1),
        lambda: A.Compose([A.Gain(), A.TimeMask()]),
        lambda: A.transform_from_dict({"type": "reverb"}),
        lambda: A.transform_from_dict({"type": "gain", "loudness": 3}),
    ],
)
def test_invalid_parameters_raise_parameter_error(make):
    with pytest.raises(ParameterError):
        make()


def test_parameter_error_is_one_line_and_names_the_value():
    with pytest.raises(ParameterError, match=r"min_ratio must be within 0.5..2, got 0.3") as info:
        A.TimeStretch(0.3, 1.0)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "t",
    [A.TimeStretch(0.6, 1.8, p=0), A.PitchShift(-5, 5, p=0), A.AddNoise(0, 10, p=0), A.Gain(-20, 20, p=0),
     A.Shift(-0.3, 0.3, p=0), A.Compose([A.TimeStretch(), A.PitchShift(), A.AddNoise()], p=0)],
    ids=lambda t: t.name,
)
def test_p_zero_is_the_identity(t):
    y = noise(0.5, SR, seed=3)
    for seed in range(5):
        z = t(y, SR, rng=seed)
        np.testing.assert_array_equal(z, y)
        assert t.params_ == {"applied": False}


def test_p_zero_is_the_identity_on_spectrograms():
    S = np.random.default_rng(0).normal(-40, 10, (32, 50)).astype(np.float32)
    for t in (A.TimeMask(10, p=0), A.FrequencyMask(10, p=0)):
        np.testing.assert_array_equal(t(S, 0, rng=1), S)


def test_same_seed_same_output_different_seed_different_output():
    y = noise(1.0, SR, seed=1)
    chain = A.Compose([A.TimeStretch(), A.PitchShift(), A.AddNoise(), A.Gain(), A.Shift()])
    z1, p1 = chain(y, SR, rng=np.random.default_rng(7)), chain.params_
    z2, p2 = chain(y, SR, rng=np.random.default_rng(7)), chain.params_
    z3, p3 = chain(y, SR, rng=np.random.default_rng(8)), chain.params_
    assert p1 == p2 and p1 != p3
    np.testing.assert_array_equal(z1, z2)
    assert z1.size != z3.size or not np.array_equal(z1, z3)


def test_draws_come_only_from_the_given_generator():
    """Global random state does not change what a transform does."""
    y = noise(0.5, SR, seed=2)
    chain = A.Compose([A.AddNoise(5, 20), A.Shift(-0.2, 0.2), A.Gain()])
    np.random.seed(1)
    z1 = chain(y, SR, rng=3)
    np.random.seed(999)
    import random

    random.seed(12345)
    z2 = chain(y, SR, rng=3)
    np.testing.assert_array_equal(z1, z2)


def test_draws_cover_the_range_and_stay_inside_it():
    t = A.TimeStretch(0.8, 1.25)
    rng = np.random.default_rng(0)
    ratios = np.array([t.draw(rng)["time_ratio"] for _ in range(400)])
    assert ratios.min() >= 0.8 and ratios.max() <= 1.25
    assert (ratios < 0.85).any() and (ratios > 1.2).any()
    # log-uniform: as many copies shorter than the original as longer
    assert abs((ratios < 1).mean() - 0.5) < 0.08
    c = A.PitchShift(choices=[-2, -1, 1, 2])
    assert {c.draw(rng)["semitones"] for _ in range(100)} == {-2.0, -1.0, 1.0, 2.0}


# -- noise, gain, shift, masks --------------------------------------------------------------------------


@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
def test_gaussian_noise_at_the_chosen_snr(snr):
    y = tone(1000.0, 1.0, SR, 0.3)
    t = A.AddNoise(snr, snr)
    z = t(y, SR, rng=0)
    added = z.astype(np.float64) - y
    measured = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)) / np.sqrt(np.mean(added**2)))
    assert measured == pytest.approx(snr, abs=0.05)
    assert t.params_["noise"] == "gaussian"


def test_background_noise_from_files_at_the_chosen_snr(tmp_path):
    bg = tmp_path / "bg"
    write_wav(bg / "rain.wav", noise(0.3, SR, seed=5), SR)  # shorter than the clip: looped
    y = tone(500.0, 1.0, SR, 0.4)
    t = A.AddNoise(6, 6, sounds=bg)
    z = t(y, SR, rng=1)
    added = z.astype(np.float64) - y
    assert 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)) / np.sqrt(np.mean(added**2))) == pytest.approx(6, abs=0.2)
    assert t.params_["noise"].endswith("rain.wav") and 0 <= t.params_["offset"] < 1
    assert A.transform_from_dict(t.to_dict()) == t


def test_noise_leaves_a_silent_clip_silent():
    y = np.zeros(SR, dtype=np.float32)
    np.testing.assert_array_equal(A.AddNoise(10, 10)(y, SR, rng=0), y)


def test_gain_and_shift():
    y = tone(300.0, 1.0, SR, 0.25)
    z = A.Gain(-6.0206, -6.0206)(y, SR, rng=0)
    np.testing.assert_allclose(z, y / 2, atol=1e-6)
    imp = np.zeros(SR, dtype=np.float32)
    imp[1000] = 1.0
    s = A.Shift(0.1, 0.1, rollover=False)(imp, SR, rng=0)
    assert int(np.argmax(s)) == 1000 + round(0.1 * SR)
    r = A.Shift(-0.1, -0.1)(imp, SR, rng=0)
    assert int(np.argmax(r)) == (1000 - round(0.1 * SR)) % SR  # rolled over to the end


def test_spectrogram_masks():
    S = np.random.default_rng(0).normal(-40, 5, (64, 100)).astype(np.float32)
    floor = float(S.min())
    tm = A.TimeMask(20, n_masks=1)
    for seed in range(20):
        M = tm(S, 0, rng=seed)
        (start, width), = tm.params_["masks"]
        masked_cols = np.where((M == floor).all(axis=0))[0]
        assert masked_cols.size == width
        if width:
            assert masked_cols.max() - masked_cols.min() + 1 == width
        assert M.shape == S.shape
    fm = A.FrequencyMask(12, n_masks=2, fill="mean")
    M = fm(S, 0, rng=4)
    rows = np.where(np.isclose(M, S.mean()).all(axis=1))[0]
    assert 0 < rows.size <= 24
    np.testing.assert_array_equal(S, np.random.default_rng(0).normal(-40, 5, (64, 100)).astype(np.float32))  # input untouched


def test_spec_augment_masks_windows_independently():
    W = np.zeros((6, 32, 40), dtype=np.float32) - 10
    W[:, :, ::2] = -50
    pol = A.Policy.named("specaugment")
    out = A.spec_augment(W, pol, rng=0)
    assert out.shape == W.shape and not np.array_equal(out, W)
    assert len({out[i].tobytes() for i in range(6)}) > 1  # each window gets its own masks
    assert A.spec_augment(W, A.Policy.named("stretch"), rng=0) is W  # no masks: untouched


# -- engines ----------------------------------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_RUBBERBAND, reason="rubberband program not installed")
def test_engine_is_rubberband_when_installed():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert A.engine() == "rubberband"


def test_missing_rubberband_falls_back_to_librosa_with_a_warning(no_rubberband, a440):
    with pytest.warns(A.EngineFallbackWarning, match="rubberband"):
        assert A.engine() == "librosa"
    with pytest.warns(A.EngineFallbackWarning):
        t = A.TimeStretch(1.5, 1.5)
        z = t(a440, SR, rng=0)
    assert t.params_["engine"] == "librosa"
    assert z.size / a440.size == pytest.approx(1.5, rel=0.01)
    with pytest.raises(ParameterError, match="rubberband"):
        A.TimeStretch(1.5, 1.5, engine="rubberband")(a440, SR, rng=0)
    with pytest.warns(A.EngineFallbackWarning):
        _, params, eng = A.preview(a440, SR, time_ratio=1.2, semitones=1)
    assert eng == params["engine"] == "librosa"


def test_preview(a440):
    z, params, eng = A.preview(a440, SR, time_ratio=1.5, semitones=2, noise_snr_db=40, gain_db=-3, shift_s=0.05, seed=1)
    assert eng == A.engine() == params["engine"]
    assert params["seconds_out"] == pytest.approx(3.0, rel=0.01) and params["seconds_in"] == pytest.approx(2.0)
    assert peak_hz(z, SR) == pytest.approx(493.88, abs=2.0)
    assert [p["type"] for p in params["transforms"]] == ["time_stretch", "pitch_shift", "add_noise", "gain", "shift"]
    z2, _, _ = A.preview(a440, SR, time_ratio=1.5, semitones=2, noise_snr_db=40, gain_db=-3, shift_s=0.05, seed=1)
    np.testing.assert_array_equal(z, z2)
    same, params, _ = A.preview(a440, SR)
    np.testing.assert_array_equal(same, a440)
    assert params["transforms"] == []
    with pytest.raises(ParameterError):
        A.preview(a440, SR, time_ratio=3)
    with pytest.raises(ParameterError):
        A.preview(a440, SR, semitones=-20)
    from soundkit.errors import AudioError

    with pytest.raises(AudioError, match="NaN"):
        A.preview(np.array([0.0, np.nan, 0.1], dtype=np.float32), SR, semitones=1)
    with pytest.raises(ParameterError, match="mono"):
        A.preview(np.zeros((2, 100), dtype=np.float32), SR)


# -- policies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", A.POLICY_NAMES + ("pitch+noise", "stretch+pitch+shift"))
def test_named_policies_round_trip(name):
    pol = A.policy_from_arg(name)
    assert pol.name == name
    again = A.Policy.from_dict(json.loads(json.dumps(pol.to_dict())))
    assert again == pol and again.to_dict() == pol.to_dict()


def test_named_policy_contents():
    assert A.policy_from_arg("none").is_identity and A.Policy.from_dict(None).is_identity
    sp = A.policy_from_arg("stretch+pitch").compose_for("any")
    assert [t.name for t in sp.transforms] == ["time_stretch", "pitch_shift"]
    assert A.policy_from_arg("recipe").copies == 4
    assert A.policy_from_arg("specaugment").copies == 0 and not A.policy_from_arg("specaugment").is_identity
    assert A.policy_from_arg("stretch").engine == A.engine()
    assert A.policy_from_arg("noise").engine is None
    mix = A.policy_from_arg("mixup")
    assert mix.copies == 0 and mix.mixup == A.MIXUP_ALPHA and not mix.is_identity
    spm = A.policy_from_arg("stretch+pitch+mixup")
    assert spm.copies == 2 and spm.mixup == A.MIXUP_ALPHA
    assert [t.name for t in spm.compose_for("any").transforms] == ["time_stretch", "pitch_shift"]
    assert A.policy_from_arg("stretch+pitch").mixup == 0 and "mixup" not in A.policy_from_arg("stretch+pitch").to_dict()


def test_class_conditional_policy():
    pol = A.Policy(copies=2, transforms="stretch", per_class={"dog": "pitch", "rain": "none", "siren": [{"type": "gain"}]})
    assert [t.name for t in pol.compose_for("dog").transforms] == ["pitch_shift"]
    assert pol.compose_for("rain") is None
    assert [t.name for t in pol.compose_for("siren").transforms] == ["gain"]
    assert [t.name for t in pol.compose_for("crow").transforms] == ["time_stretch"]  # not listed: global
    assert A.Policy.from_dict(pol.to_dict()) == pol


def test_policy_from_json_file_and_run_config(tmp_path):
    pol = A.Policy(name="mine", copies=3, transforms="pitch+noise", per_class={"a": "stretch"})
    f = tmp_path / "policy.json"
    f.write_text(json.dumps(pol.to_dict()))
    assert A.policy_from_arg(str(f)) == pol
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"features": {}, "train": {"augment": pol.to_dict()}}))
    assert A.policy_from_arg(cfg) == pol


@pytest.mark.parametrize(
    "arg, match",
    [
        ("strech", "unknown augmentation policy 'strech'"),
        ("missing.json", "does not exist"),
        ({"copies": 99}, "copies"),
        ({"copies": 2, "transforms": "stretch", "colour": 1}, "unknown augmentation policy field"),
        ({"transforms": [{"type": "time_mask"}]}, "spectrogram mask"),
        ({"spec": [{"type": "gain"}]}, "spectrogram masks only"),
        ({"per_class": {"dog": "pitch+reverb"}}, "unknown augmentation set 'reverb'"),
        ({"transforms": [{"type": "pitch_shift", "min_semitones": -20}]}, "min_semitones"),
        ({"mixup": -0.1}, "mixup must be within"),
        ({"mixup": "lots"}, "mixup must be a number"),
        ("stretch+mixup+reverb", "unknown augmentation policy"),
    ],
)
def test_bad_policies_raise_parameter_error(arg, match, tmp_path):
    if arg == "missing.json":
        arg = str(tmp_path / arg)
    with pytest.raises(ParameterError, match=match):
        A.policy_from_arg(arg)


def test_bad_policy_file(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text("{not json")
    with pytest.raises(ParameterError, match="not a JSON augmentation policy"):
        A.policy_from_arg(str(f))


# -- offline copies ---------------------------------------------------------------------------------------


@pytest.fixture
def tiny_clips(tmp_path) -> list[Clip]:
    root = tmp_path / "data"
    clips = []
    for label, base in (("low", 220.0), ("high", 1760.0)):
        for fold in (1, 2, 3):
            p = write_wav(root / label / f"{fold}-{int(base)}{fold}-A.wav", tone(base * (1 + 0.01 * fold), 0.5, SR, 0.4), SR)
            clips.append(Clip(path=p, label=label, fold=fold, source=f"{label}/{fold}", id=f"{label}/{p.name}"))
    return clips


def test_augment_clips_makes_cached_copies_in_their_source_fold(tiny_clips, tmp_path):
    cache = tmp_path / "cache"
    events = []
    pol = A.Policy(copies=2, transforms="stretch+pitch")
    new = A.augment_clips(tiny_clips, pol, cache_dir=cache, seed=0, workers=1, progress=events.append)
    assert len(new) == 2 * len(tiny_clips)
    for k, c in enumerate(new):
        orig = tiny_clips[k // 2]
        assert (c.label, c.fold, c.source) == (orig.label, orig.fold, orig.source)
        assert c.id == f"{orig.id}#aug{k % 2}" and A.is_augmented(c) and A.original_id(c) == orig.id
        assert c.path.is_file() and c.path.suffix == ".wav" and cache in c.path.parents
        meta = A.read_params(c.path)
        assert meta["source_id"] == orig.id and meta["params"]["applied"]
        ratio = meta["params"]["transforms"][0]["time_ratio"]
        from soundkit import audio

        z, sr = audio.load(c.path, sr=None)
        assert sr == SR and z.size / (0.5 * SR) == pytest.approx(ratio, rel=0.02)
    assert len({c.path for c in new}) == len(new)
    assert events[-1] == {"stage": "augment", "done": len(new), "total": len(new), "message": ""}
    # the second run renders nothing: same paths, files untouched
    mtimes = {c.path: c.path.stat().st_mtime_ns for c in new}
    events.clear()
    again = A.augment_clips(tiny_clips, pol, cache_dir=cache, seed=0, workers=1, progress=events.append)
    assert again == new
    assert {c.path: c.path.stat().st_mtime_ns for c in again} == mtimes
    assert events == [{"stage": "augment", "done": len(new), "total": len(new), "message": f"{len(new)} cached, 0 to render"}]
    # another seed draws other parameters
    other = A.augment_clips(tiny_clips[:1], pol, cache_dir=cache, seed=1, workers=1)
    assert other[0].path not in mtimes


def test_augment_clips_in_parallel_workers_equals_serial(tiny_clips, tmp_path):
    pol = A.Policy(copies=1, transforms="pitch+noise")
    serial = A.augment_clips(tiny_clips, pol, cache_dir=tmp_path / "s", seed=3, workers=1)
    parallel = A.augment_clips(tiny_clips, pol, cache_dir=tmp_path / "p", seed=3, workers=2)
    assert [c.path.name for c in serial] == [c.path.name for c in parallel]
    for a, b in zip(serial, parallel, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes()


def test_augment_clips_order_does_not_change_a_clips_copies(tiny_clips, tmp_path):
    pol = A.Policy(copies=1, transforms="stretch")
    fwd = A.augment_clips(tiny_clips, pol, cache_dir=tmp_path / "c", seed=0, workers=1)
    rev = A.augment_clips(tiny_clips[::-1], pol, cache_dir=tmp_path / "c", seed=0, workers=1)
    assert {c.id: c.path for c in fwd} == {c.id: c.path for c in rev}


def test_augment_clips_class_conditional_and_none(tiny_clips, tmp_path):
    pol = A.Policy(copies=1, transforms="none", per_class={"high": "pitch"})
    new = A.augment_clips(tiny_clips, pol, cache_dir=tmp_path / "c", seed=0, workers=1)
    assert {c.label for c in new} == {"high"} and len(new) == 3
    assert A.augment_clips(tiny_clips, None, cache_dir=tmp_path / "c") == []
    assert A.augment_clips(tiny_clips, A.Policy.named("specaugment"), cache_dir=tmp_path / "c") == []
    with pytest.raises(DatasetError, match="already an augmented copy"):
        A.augment_clips(new, pol, cache_dir=tmp_path / "c")


def test_augment_clips_p_zero_copies_are_the_original_audio(tiny_clips, tmp_path):
    from soundkit import audio

    pol = A.Policy(copies=1, transforms=[{"type": "pitch_shift", "p": 0.0}])
    new = A.augment_clips(tiny_clips[:2], pol, cache_dir=tmp_path / "c", workers=1)
    for c, orig in zip(new, tiny_clips[:2], strict=True):
        np.testing.assert_allclose(audio.load(c.path, sr=None)[0], audio.load(orig.path, sr=None)[0], atol=1 / 32768)


def test_augment_clips_unreadable_clip_is_a_one_line_error(tmp_path):
    from soundkit.errors import AudioError

    bad = tmp_path / "x" / "1-1-A.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="1-1-A.wav"):
        A.augment_clips([Clip(path=bad, label="x", fold=1)], A.Policy.named("pitch"), cache_dir=tmp_path / "c", workers=1)
    assert not list((tmp_path / "c").rglob("*.wav"))  # nothing half-written


def test_leak_check(tiny_clips, tmp_path):
    train = [c for c in tiny_clips if c.fold != 3]
    test = [c for c in tiny_clips if c.fold == 3]
    aug_train = A.augment_clips(train, A.Policy(copies=1, transforms="gain"), cache_dir=tmp_path / "c", workers=1)
    assert {c.fold for c in aug_train} == {1, 2}
    assert A.leaked(train + aug_train, test) == []
    aug_test = A.augment_clips(test, A.Policy(copies=1, transforms="gain"), cache_dir=tmp_path / "c", workers=1)
    assert A.leaked(train + aug_train + aug_test, test) == aug_test


@pytest.mark.slow
def test_no_augmented_copy_of_a_test_fold_clip_reaches_training(tmp_path, class_folders):
    """Real train(): every rendered copy comes from a clip of the fit split, never the test fold."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from soundkit import datasets, training
    from soundkit.config import FeatureConfig, TrainConfig

    ds = datasets.load(class_folders).with_folds(n_folds=2, seed=0)
    cache = tmp_path / "cache"
    cfg = TrainConfig(epochs=1, batch_size=4, test_fold=2, validation_fraction=0.0, options=TINY_CNN,
                      augment=A.Policy.named("pitch").to_dict())
    feats = FeatureConfig(sr=22050, fmax=11025, n_mels=32, frames=16, window_hop=8, n_fft=512, hop_length=512)
    run = training.train(ds, out=tmp_path / "run", features=feats, config=cfg, cache_dir=cache)
    train_ids = {c.id for c in ds.clips if c.fold != 2}
    test_ids = {c.id for c in ds.clips if c.fold == 2}
    rendered = [json.loads(p.read_text()) for p in (cache / "augment").rglob("*.json")]
    assert len(rendered) == 2 * len(train_ids)
    assert {r["source_id"] for r in rendered} == train_ids
    assert not {r["source_id"] for r in rendered} & test_ids
    meta = json.loads((Path(run.path if hasattr(run, "path") else tmp_path / "run") / "meta.json").read_text())
    assert meta["augment_engine"] == A.engine()
    assert meta["n_augmented"] == 2 * len(train_ids)


# -- command line -----------------------------------------------------------------------------------------


def _cli(*args: str, env: dict | None = None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "soundkit", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, cwd=Path(__file__).resolve().parents[1])


def test_cli_augment_json(tmp_path):
    src = write_wav(tmp_path / "a440.wav", tone(440.0, 2.0, SR, 0.5), SR)
    out = tmp_path / "out.wav"
    r = _cli("augment", str(src), "--time-ratio", "1.5", "--semitones", "2", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["engine"] == A.engine()
    assert d["seconds_in"] == pytest.approx(2.0) and d["seconds_out"] == pytest.approx(3.0, rel=0.01)
    from soundkit import audio

    z, sr = audio.load(out, sr=None)
    assert sr == SR and z.size / sr == pytest.approx(3.0, rel=0.01)
    assert peak_hz(z, sr) == pytest.approx(493.88, abs=2.0)


def test_cli_augment_fallback_and_bad_input(tmp_path):
    import sys

    src = write_wav(tmp_path / "a.wav", tone(440.0, 1.0, SR, 0.5), SR)
    # a PATH holding python but not rubberband: the real fallback, reported in the JSON and on stderr
    r = _cli("augment", str(src), "--time-ratio", "0.5", "--out", str(tmp_path / "o.wav"), "--json",
             env={"PATH": str(Path(sys.executable).parent)})
    if shutil.which("rubberband", path=str(Path(sys.executable).parent)) is None:
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["engine"] == "librosa" and "rubberband" in r.stderr
    bad = _cli("augment", str(src), "--time-ratio", "3", "--out", str(tmp_path / "o.wav"))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["error: time_ratio must be within 0.5..2.0, got 3"]
    missing = _cli("augment", str(tmp_path / "nope.wav"), "--out", str(tmp_path / "o.wav"))
    assert missing.returncode == 2 and missing.stderr.strip().startswith("error:") and "nope.wav" in missing.stderr
    notwav = _cli("augment", str(src), "--out", str(tmp_path / "o.mp3"))
    assert notwav.returncode == 2 and ".wav" in notwav.stderr


# -- augment study --------------------------------------------------------------------------------------


def test_choose_uses_only_the_given_folds():
    from types import SimpleNamespace as NS

    def rep(acc_a, acc_b):
        return NS(accuracy=(acc_a + acc_b) / 2, per_class_accuracy={"a": acc_a, "b": acc_b}, support={"a": 4, "b": 4})

    counts = {
        "none": study_mod._counts({1: rep(0.5, 0.5), 2: rep(0.5, 0.5), 3: rep(0.5, 0.5)}, ["a", "b"]),
        # "pitch" is perfect on fold 3 only: choosing for test fold 3 must not see that
        "pitch": study_mod._counts({1: rep(0.25, 0.75), 2: rep(0.25, 0.75), 3: rep(1.0, 1.0)}, ["a", "b"]),
    }
    assert study_mod._choose(counts, "a", [1, 2]) == "none"
    assert study_mod._choose(counts, "b", [1, 2]) == "pitch"
    assert study_mod._choose(counts, "a", [1, 2, 3]) == "none"  # 6/12 each: a tie goes to the earlier set
    assert study_mod._choose(counts, "a", [2, 3]) == "pitch"


@pytest.mark.slow
def test_augment_study_tiny(tmp_path, class_folders, monkeypatch):
    """Two sets, two folds, one epoch: per-class table, fold-honest class-conditional policy, saved files."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from soundkit import datasets
    from soundkit.config import FeatureConfig, TrainConfig

    ds = datasets.load(class_folders).with_folds(n_folds=2, seed=0)
    feats = FeatureConfig(sr=22050, fmax=11025, n_mels=32, frames=16, window_hop=8, n_fft=512, hop_length=512)
    events = []
    res = study_mod.study(ds, sets=["none", "pitch"], copies=1, features=feats,
                  config=TrainConfig(epochs=1, batch_size=4, validation_fraction=0.0, options=TINY_CNN),
                  cache_dir=tmp_path / "cache",
                  progress=events.append)
    assert res["engine"] == A.engine() and res["folds"] == [1, 2]
    assert set(res["sets"]) == {"none", "pitch"}
    for name in ("none", "pitch"):
        s = res["sets"][name]
        assert set(s["per_class_accuracy"]) == {"high", "low", "noise"}
        assert all(0.0 <= v <= 1.0 for v in s["per_class_accuracy"].values())
        assert set(s["fold_accuracy"]) == {"1", "2"}
    cc = res["class_conditional"]
    assert set(cc["choices"]) == {"1", "2"}
    assert all(v in ("none", "pitch") for c in cc["choices"].values() for v in c.values())
    # the choice for each test fold is recomputed from the other fold alone (ties: the earlier set)
    for f, other in (("1", "2"), ("2", "1")):
        for label, chosen in cc["choices"][f].items():
            accs = [res["sets"][n]["fold_per_class_accuracy"][other][label] for n in ("none", "pitch")]
            assert chosen == ("pitch" if accs[1] > accs[0] else "none")
    assert set(res["policy"]["per_class"]) == {"high", "low", "noise"}
    pol = A.Policy.from_dict(res["policy"])
    assert pol.per_class == res["policy"]["per_class"]
    assert [r["label"] for r in res["table"]] == ["high", "low", "noise"]
    assert {"none", "pitch", "class_conditional", "chosen"} <= set(res["table"][0])
    assert {e.get("set") for e in events} >= {"none", "pitch", "class-conditional"}
    out = study_mod.save_study(res, tmp_path / "study")
    assert A.policy_from_arg(str(out / "policy.json")) == pol
    assert json.loads((out / "study.json").read_text())["table"] == res["table"]
    # augmented copies were rendered for training folds only, for every fold's run
    rendered = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "augment").rglob("*.json")]
    assert rendered and all(r["policy"] in ("pitch", "class-conditional") for r in rendered)
    assert "high" in study_mod.study_text({**res, "out": "x"})


@pytest.mark.slow
def test_augment_study_nested_choice_never_sees_the_test_fold(tmp_path, class_folders, monkeypatch):
    """nested=True: fold f's per-class choice comes from cross-validation inside the other folds, so
    no model behind it was trained or tested on a clip of fold f."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from soundkit import datasets, training
    from soundkit.config import FeatureConfig, TrainConfig

    ds = datasets.load(class_folders).with_folds(n_folds=3, seed=0)
    feats = FeatureConfig(sr=22050, fmax=11025, n_mels=32, frames=16, window_hop=8, n_fft=512, hop_length=512)
    calls = []
    real = training.cross_validate

    def spy(dataset, **kw):  # the real function, recording what each call was given
        calls.append(({c.fold for c in dataset.clips}, list(kw.get("folds") or dataset.folds)))
        return real(dataset, **kw)

    monkeypatch.setattr(training, "cross_validate", spy)
    events = []
    res = study_mod.study(ds, sets=["none", "pitch"], copies=1, features=feats, nested=True,
                  config=TrainConfig(epochs=1, batch_size=4, validation_fraction=0.0, options=TINY_CNN),
                  cache_dir=tmp_path / "cache", progress=events.append)
    assert res["nested"] is True and "nested" in res["method"]
    inner = [c for c in calls if c[0] != {1, 2, 3}]
    assert len(inner) == 3 * 2  # every test fold x every set
    for f in (1, 2, 3):
        mine = [c for c in inner if f not in c[0]]
        assert len(mine) == 2 and all(c[0] == {1, 2, 3} - {f} and set(c[1]) == {1, 2, 3} - {f} for c in mine)
    assert set(res["class_conditional"]["choices"]) == {"1", "2", "3"}
    assert any("without fold" in str(e.get("set")) for e in events)
    two_folds = datasets.load(class_folders).with_folds(n_folds=2, seed=0)
    with pytest.raises(ParameterError, match="at least 3 folds"):
        study_mod.study(two_folds, sets=["none"], nested=True, config=TrainConfig(epochs=1), features=feats)


@pytest.mark.slow
def test_training_applies_the_policys_spectrogram_masks():
    """training's batches carry SpecAugment masks when the policy has them, and none otherwise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from soundkit import training
    from soundkit.config import FeatureConfig, TrainConfig
    from soundkit.models import family

    feats = FeatureConfig(sr=22050, fmax=11025, n_mels=32, frames=40, window_hop=20, n_fft=512, hop_length=512)
    rng = np.random.default_rng(0)
    items = [rng.uniform(-60, -1, (32, 60)).astype(np.float32) for _ in range(24)]
    y = np.arange(24) % 2
    w = np.ones(2, dtype=np.float32)

    def masked_fraction(policy):
        cfg = TrainConfig(epochs=1, batch_size=8, augment=policy)
        data = training._make_train_data(items, y, w, fam=family("cnn"), features=feats, config=cfg)
        X = np.concatenate([data[i][0][..., 0] for i in range(len(data))])
        has_mask = [((x == x.min()).all(axis=0).any() or (x == x.min()).all(axis=1).any()) for x in X]
        return float(np.mean(has_mask))

    assert masked_fraction(A.Policy.named("specaugment").to_dict()) > 0.8
    assert masked_fraction(A.Policy.named("stretch").to_dict()) == 0.0
    assert masked_fraction(None) == 0.0


def test_mix_batch_blends_examples_and_targets_alike():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 8, 5)).astype(np.float32)
    y = np.arange(64) % 4
    Y = np.eye(4, dtype=np.float32)[y]
    w = rng.uniform(0.5, 2.0, 64).astype(np.float32)
    Xm, Ym, wm = A.mix_batch(X, Y, 0.4, rng=1, weights=w)
    assert Xm.shape == X.shape and Ym.shape == Y.shape and wm.shape == w.shape
    np.testing.assert_allclose(Ym.sum(axis=1), 1.0, rtol=1e-6)
    lam = Ym[np.arange(64), y]
    assert (lam >= 0.5 - 1e-6).all() and (lam < 1 - 1e-4).any()  # each keeps the larger share of itself
    # every example is lam * itself + (1 - lam) * one other example, with the same lam as its target
    for i in range(64):
        rest = (Xm[i] - lam[i] * X[i]) / max(1 - lam[i], 1e-6)
        if 1 - lam[i] > 1e-3:
            assert min(np.abs(rest - X[j]).max() for j in range(64)) < 1e-3
    np.testing.assert_array_equal(A.mix_batch(X, Y, 0.4, rng=1)[0], Xm)  # seeded
    # training blends batch by batch from one draw: the same result as blending all rows at once
    lam_p = A.mixup_draw(64, 0.4, rng=1)
    parts = [A.mix_rows(X, Y, *lam_p, slice(k, k + 16), weights=w) for k in range(0, 64, 16)]
    for j, whole in enumerate((Xm, Ym, wm)):
        np.testing.assert_array_equal(np.concatenate([part[j] for part in parts]), whole)
    assert not np.array_equal(A.mix_batch(X, Y, 0.4, rng=2)[0], Xm)
    with pytest.raises(ParameterError, match="alpha"):
        A.mix_batch(X, Y, 0.0, rng=0)


@pytest.mark.slow
def test_training_with_mixup_uses_soft_targets_and_learns(tmp_path, class_folders):
    """mixup: training batches carry blended one-hot targets (redrawn every epoch), the loss is the
    categorical one, and a model still trains to a complete run."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from soundkit import datasets, training
    from soundkit.config import FeatureConfig, TrainConfig
    from soundkit.models import family

    feats = FeatureConfig(sr=22050, fmax=11025, n_mels=32, frames=40, window_hop=20, n_fft=512, hop_length=512)
    rng = np.random.default_rng(0)
    items = [rng.uniform(-60, -1, (32, 60)).astype(np.float32) for _ in range(24)]
    y = np.arange(24) % 3
    cfg = TrainConfig(epochs=1, batch_size=8, augment=A.policy_from_arg("mixup").to_dict())
    data = training._make_train_data(items, y, np.ones(3, dtype=np.float32), fam=family("cnn"), features=feats, config=cfg)
    Y = np.concatenate([data[i][1] for i in range(len(data))])
    assert Y.shape == (48, 3) and ((Y > 0) & (Y < 1)).any()
    first = Y.copy()
    data.on_epoch_end()
    assert not np.array_equal(np.concatenate([data[i][1] for i in range(len(data))]), first)
    assert type(training.loss_for(cfg)).__name__ == "CategoricalCrossentropy"
    assert type(training.loss_for(cfg.replace(augment=None))).__name__ == "SparseCategoricalCrossentropy"

    run = training.train(datasets.load(class_folders), out=tmp_path / "run", features=feats, cache_dir=tmp_path / "cache",
                         config=TrainConfig(epochs=3, batch_size=4, test_fold=1, augment=cfg.augment))
    assert run.complete and run.load_config().train.augment["mixup"] == A.MIXUP_ALPHA
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["val_loss"]) for r in run.load_history())


def test_shift_cross_fades_the_stitch_and_takes_any_length():
    y = np.ones(SR, dtype=np.float32)
    n = round(0.1 * SR)
    z = A.Shift(0.1, 0.1)(y, SR, rng=0)  # rollover: the clip's old end meets its start at n
    assert z[n] == 0.0 and z[n - 1] == 0.0  # both sides of the stitch fade to silence
    assert z[n + 300] == 1.0 and z[n - 300] == 1.0  # 5 ms fades only
    fade = int(SR * 0.005)  # 5 ms
    ramp_in, ramp_out = z[n : n + fade], z[n - fade : n]
    assert ramp_in[0] == 0.0 and ramp_in[-1] > 0.99 and ramp_out[0] > 0.99  # 0 -> 1 over 5 ms
    assert float(np.max(np.abs(np.diff(ramp_in)))) < 0.05  # smooth, no click
    assert np.all((z >= 0.0) & (z < 1.01))  # equal-energy fades overshoot by under 1%
    for s in (3.0, -3.0):  # longer than the clip
        for rollover in (True, False):
            w = A.Shift(s, s, rollover=rollover)(y, SR, rng=0)
            assert w.shape == y.shape and np.isfinite(w).all()
    assert not A.Shift(-3.0, -3.0, rollover=False)(y, SR, rng=0).any()  # shifted out entirely
