"""bench/yamnet_blocks.py: YAMNet's layer13/14 read from the TFLite file and rebuilt in Keras give
YAMNet's own embeddings (the fine-tuning candidate of BENCHMARKS.md "Few-shot" stands on this)."""

import numpy as np
import pytest

pytestmark = pytest.mark.data


def test_rebuilt_blocks_reproduce_the_tflite_embedding(yamnet_path):
    from bench import yamnet_blocks as yb

    rng = np.random.default_rng(0)
    t = np.arange(3 * 16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 1 < 0.4) + rng.normal(0, 0.02, t.size)).astype(np.float32)
    weights = yb.block_weights(yamnet_path)
    assert weights["layer13/depthwise"][0].shape == (3, 3, 512, 1)
    assert weights["layer14/pointwise"][0].shape == (1, 1, 1024, 1024)
    (acts,), (emb,) = yb.activations(yamnet_path, [wave])
    assert acts.shape == (len(emb), 6, 4, 512)
    out = yb.build(weights, start="layer13").predict(acts, verbose=0)
    cos = np.sum(out * emb, 1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(emb, axis=1))
    assert cos.min() > 0.999, cos
    # the weights matter: a block with its pointwise kernel zeroed no longer gives the embedding
    weights["layer14/pointwise"][0] = np.zeros_like(weights["layer14/pointwise"][0])
    off = yb.build(weights, start="layer13").predict(acts, verbose=0)
    assert not np.allclose(off, emb, atol=1e-2)
