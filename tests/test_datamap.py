"""The dataset map: layouts, the mislabel flag on embeddings with known mislabels, and a real map of a
small store (YAMNet embeddings of synthetic clips and of a region)."""

from __future__ import annotations

import numpy as np
import pytest
from synth import noise, tone, write_wav

from soundkit import datamap
from soundkit.errors import ParameterError


def clusters(n_per: int = 20, dims: int = 64, seed: int = 0):
    """Three well-separated clusters (labels a, b, c) in cosine space."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dims)) * 3
    X = np.concatenate([c + rng.normal(size=(n_per, dims)) for c in centres]).astype(np.float32)
    labels = [lab for lab in "abc" for _ in range(n_per)]
    return X, labels


def test_flag_finds_the_deliberately_mislabelled_clips():
    X, truth = clusters()
    labels = list(truth)
    swapped = {3: "b", 25: "c", 47: "a"}  # three clips given another cluster's label
    for i, lab in swapped.items():
        labels[i] = lab
    labels[10] = None  # an unlabelled clip: placed, suggested, never flagged
    flags = datamap.mislabel_flags(X, labels, k=8)
    assert sorted(flags.indices()) == sorted(swapped)
    for i in swapped:
        assert flags.suggested[i] == truth[i] and flags.share[i] >= 0.5
    assert not flags.flagged[10] and flags.suggested[10] == "a"
    assert flags.neighbours.shape == (60, 8) and not (flags.neighbours == np.arange(60)[:, None]).any()
    assert 10 not in set(flags.neighbours.ravel().tolist())  # unlabelled clips do not vote
    clean = datamap.mislabel_flags(X, truth, k=8)
    assert not clean.flagged.any()  # nothing flagged when every label is right


def test_cross_validated_flag_finds_the_deliberately_mislabelled_clips():
    X, truth = clusters()
    labels = list(truth)
    swapped = {3: "b", 25: "c", 47: "a"}
    for i, lab in swapped.items():
        labels[i] = lab
    labels[10] = None
    flags = datamap.mislabel_flags_cv(X, labels)
    assert flags.method == "cv" and sorted(flags.indices()) == sorted(swapped)
    for i in swapped:
        assert flags.suggested[i] == truth[i] and flags.given[i] < 0.1
    assert not flags.flagged[10] and flags.suggested[10] == "a" and np.isnan(flags.given[10])
    assert not datamap.mislabel_flags_cv(X, truth).flagged.any()
    with pytest.raises(ParameterError, match="two or more classes"):
        datamap.mislabel_flags_cv(X, ["a"] * 59 + ["b"])
    with pytest.raises(ParameterError, match="threshold"):
        datamap.mislabel_flags_cv(X, truth, threshold=1.0)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_layout_keeps_clusters_apart(method):
    X, labels = clusters()
    xy, used = datamap.layout(X, method=method, seed=0)
    assert used == method and xy.shape == (60, 2) and np.abs(xy).max() <= 1.0 + 1e-6
    lab = np.array(labels)
    cent = np.stack([xy[lab == c].mean(axis=0) for c in "abc"])
    spread = max(float(np.linalg.norm(xy[lab == c] - cent[j], axis=1).mean()) for j, c in enumerate("abc"))
    gap = min(float(np.linalg.norm(cent[i] - cent[j])) for i in range(3) for j in range(i + 1, 3))
    assert gap > 2 * spread


def test_auto_method_and_bad_parameters():
    X, labels = clusters(n_per=2)
    assert datamap.layout(X)[1] == "tsne"
    assert datamap.layout(X[:3])[1] == "pca"
    assert datamap.layout(X[:1])[0].shape == (1, 2)
    with pytest.raises(ParameterError, match="method must be"):
        datamap.layout(X, method="umap")
    with pytest.raises(ParameterError, match="shape"):
        datamap.layout(np.zeros((0, 4)))
    with pytest.raises(ParameterError, match="finite"):
        datamap.layout(np.full((6, 4), np.nan))
    with pytest.raises(ParameterError, match="one entry per clip"):
        datamap.mislabel_flags(X, labels[:-1])
    with pytest.raises(ParameterError, match="k must be"):
        datamap.mislabel_flags(X, labels, k=0)
    with pytest.raises(ParameterError, match="threshold"):
        datamap.mislabel_flags(X, labels, threshold=0)


def test_map_of_a_store_from_yamnet_embeddings(yamnet_path, tmp_path, monkeypatch):
    from soundkit.store import Store

    monkeypatch.setenv("SOUNDKIT_WEIGHTS_DIR", str(yamnet_path.parent))
    sr = 16000
    store = Store(tmp_path / "home")
    for k in range(4):
        store.add(write_wav(tmp_path / f"t{k}.wav", tone(600 + 40 * k, 1.0, sr, 0.5), sr), name=f"t{k}.wav", label="tone")
        store.add(write_wav(tmp_path / f"n{k}.wav", noise(1.0, sr, 0.4, seed=k), sr), name=f"n{k}.wav", label="noise")
    wrong = store.add(write_wav(tmp_path / "liar.wav", noise(1.0, sr, 0.4, seed=9), sr), name="liar.wav", label="tone")
    y = np.concatenate([noise(1.0, sr, 0.001, seed=5), tone(620, 1.0, sr, 0.5), noise(1.0, sr, 0.001, seed=6)])
    rec = store.add(write_wav(tmp_path / "long.wav", y, sr), name="long.wav")
    store.add_region(rec.id, 1.0, 2.0, label="tone")
    m = datamap.dataset_map(store, cache_dir=tmp_path / "cache", k=4)
    assert len(m.ids) == 11 and m.ids[-1].startswith("region-") and m.labels[9] is None
    assert m.xy.shape == (11, 2) and m.method == "tsne"
    assert list(np.flatnonzero(m.flags.flagged)) == [m.ids.index(str(wrong.id))]
    assert m.flags.suggested[m.ids.index(str(wrong.id))] == "noise"
    assert m.flags.suggested[-1] == "tone"  # the region is embedded from its range: a tone
    assert any((tmp_path / "cache" / "embeddings").rglob("*-t1.000-2.000.npy"))
    rows = m.rows()
    assert rows[9]["label"] == "unlabelled" and rows[-1]["path"].endswith("#t=1.000,2.000")
