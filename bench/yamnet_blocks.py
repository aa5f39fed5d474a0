"""YAMNet's last two depthwise-separable blocks (layer13, layer14) rebuilt in Keras from the TFLite file.

The TFLite model stores those blocks with batch norm folded in: a depthwise 3x3 kernel (int8, one
scale), a bias, ReLU, then a pointwise 1x1 kernel (int8, one scale per output channel), a bias, ReLU;
then a global average over the 3x2 grid gives the 1024-d embedding. :func:`block_weights` reads and
dequantises them through LiteRT; :func:`activations` runs the model (patched to output layer13's input,
as soundkit's embedder exposes the embedding) and returns, per frame, that input (shape (6, 4, 512))
and the embedding; :func:`build` stacks
the blocks (from layer13 or layer14) on those activations, so a head and the blocks can be fine-tuned
on cached activations without TensorFlow Lite in the loop.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

LAYERS = ("layer13", "layer14")
STRIDES = {"layer13": 2, "layer14": 1}


def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    with warnings.catch_warnings():  # no XNNPACK: a delegated graph does not fill its intermediate tensors
        warnings.simplefilter("ignore", UserWarning)
        it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def _ops(it) -> dict[str, dict]:
    """{"layer13/depthwise": op, ...}: the conv ops of the last blocks, found by their output's name."""
    names = {t["index"]: t["name"] for t in it.get_tensor_details()}
    out = {}
    for op in it._get_ops_details():  # noqa: SLF001 - LiteRT has no public op listing
        if op["op_name"] not in ("DEPTHWISE_CONV_2D", "CONV_2D"):
            continue
        first = names[int(op["outputs"][0])].split(";")[0]  # e.g. yamnet_frames/layer14/depthwise_conv/relu/Relu
        for layer in LAYERS:
            for part in ("depthwise", "pointwise"):
                if first.startswith(f"yamnet_frames/{layer}/{part}_conv/"):
                    out[f"{layer}/{part}"] = op
    return out


def _dequantised(it, index: int) -> np.ndarray:
    t = next(d for d in it.get_tensor_details() if d["index"] == index)
    v = it.get_tensor(index)
    if v.dtype == np.float32:
        return v.copy()
    q = t["quantization_parameters"]
    scales, zero = q["scales"].astype(np.float32), q["zero_points"].astype(np.float32)
    shape = [1] * v.ndim
    shape[q["quantized_dimension"]] = -1 if scales.size > 1 else 1
    return (v.astype(np.float32) - zero.reshape(shape)) * scales.reshape(shape)


def block_weights(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Keras weights of layer13 and layer14: {"layer13/depthwise": [kernel (3,3,C,1), bias], ...}."""
    it = _interpreter(Path(path))
    it.invoke()  # fills the dequantised depthwise kernels (DEQUANTIZE ops) when they are not constants
    ops = _ops(it)
    if len(ops) != 4:
        raise RuntimeError(f"expected the 4 conv ops of layer13/layer14, found {sorted(ops)}")
    out = {}
    for key, op in ops.items():
        k = _dequantised(it, int(op["inputs"][1]))
        b = _dequantised(it, int(op["inputs"][2]))
        if key.endswith("depthwise"):  # TFLite (1, 3, 3, C) -> Keras (3, 3, C, 1)
            k = k[0][..., np.newaxis]
        else:  # TFLite (Cout, 1, 1, Cin) -> Keras (1, 1, Cin, Cout)
            k = k.transpose(1, 2, 3, 0)
        out[key] = [k, b]
    return out


def _exposed(path: Path, wanted: tuple[str, ...]) -> tuple[bytes, list[int]]:
    """The model with the tensors whose (first, of a fused op's ``;``-joined) name is each of ``wanted``
    added to its outputs."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    graph = model.subgraphs[0]
    names = [(t.name or b"").decode("utf-8", "replace").split(";")[0] for t in graph.tensors]
    found = [names.index(w) for w in wanted]
    graph.outputs = [int(i) for i in graph.outputs] + found
    builder = flatbuffers.Builder(len(path.read_bytes()) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), found


def activations(path: str | Path, waves: list[np.ndarray], *, delegate: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per clip (16 kHz audio): layer13's input, shape (n_frames, 6, 4, 512), and the embeddings (n_frames, 1024).

    ``delegate`` True (what soundkit's embeddings use): the tensors are read as extra outputs of the
    model, patched in memory, under LiteRT's default XNNPACK delegate. False: LiteRT's builtin kernels
    with all tensors preserved (hybrid int8 activations: their embeddings differ from XNNPACK's).
    """
    from ai_edge_litert.interpreter import Interpreter

    from soundkit.models import yamnet as ym
    from soundkit.models.yamnet import model as ym_model

    path = Path(path)
    if delegate:
        content, (src, emb) = _exposed(path, ("yamnet_frames/layer12/pointwise_conv/relu/Relu", "yamnet_frames/global_average_pooling2d/Mean"))
        it = Interpreter(model_content=content)
        it.allocate_tensors()
    else:
        it = _interpreter(path)
        src = int(_ops(it)["layer13/depthwise"]["inputs"][0])
        emb = next(t["index"] for t in it.get_tensor_details() if t["name"].endswith(ym_model._EMBEDDING_TENSOR))  # noqa: SLF001
    inp = it.get_input_details()[0]
    shape = tuple(int(d) for d in inp["shape"])
    acts, embs = [], []
    for y in waves:
        frames, _ = ym.frame(y)
        A = np.empty((len(frames), 6, 4, 512), dtype=np.float32)
        E = np.empty((len(frames), ym.EMBEDDING_SIZE), dtype=np.float32)
        for i, f in enumerate(frames):
            it.set_tensor(inp["index"], np.ascontiguousarray(f).reshape(shape))
            it.invoke()
            A[i] = it.get_tensor(src).reshape(6, 4, 512)
            E[i] = it.get_tensor(emb).reshape(-1)
        acts.append(A)
        embs.append(E)
    return acts, embs


def build(weights: dict[str, list[np.ndarray]], *, start: str = "layer13", n_classes: int | None = None):
    """Keras model: layer13's input (6, 4, 512) [or layer14's (3, 2, 1024)] -> blocks -> mean -> embedding,
    or, with ``n_classes``, -> L2 normalisation -> Dense(softmax)."""
    import keras
    from keras import layers

    first = LAYERS.index(start)
    shape = (6, 4, 512) if first == 0 else (3, 2, 1024)
    inputs = keras.Input(shape=shape, name=f"{start}_input")
    x = inputs
    for layer in LAYERS[first:]:
        dw = layers.DepthwiseConv2D(3, strides=STRIDES[layer], padding="same", activation="relu", name=f"{layer}_dw")
        pw = layers.Conv2D(1024, 1, activation="relu", name=f"{layer}_pw")
        x = pw(dw(x))
        dw.set_weights(weights[f"{layer}/depthwise"])
        pw.set_weights(weights[f"{layer}/pointwise"])
    x = layers.GlobalAveragePooling2D(name="embedding")(x)
    if n_classes is not None:
        x = layers.UnitNormalization(name="l2")(x)
        x = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, x, name=f"yamnet_from_{start}")
