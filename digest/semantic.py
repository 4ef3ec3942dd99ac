"""Optional semantic similarity: ``pip install 'digest[semantic]'``, then DIGEST_SEMANTIC=true.

WordLlama's small static embeddings (256 dimensions, 16 MB) come inside its wheel
from the package registry and run offline on the CPU: no model download, no GPU.
The ranker adds ``SEMANTIC_WEIGHT * (cosine - SEMANTIC_FLOOR)`` for papers closer to
a keyword than the floor. That is at most 1.6, below the default DIGEST_MIN_SCORE of
2, so meaning alone never picks a paper: it lifts papers that also match in words,
and every pick can still name the keywords it matched. On the labelled set it
lifts nDCG@10 from 0.494 to 0.511 (benchmarks/ranking.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError

SEMANTIC_WEIGHT = 2.0
SEMANTIC_FLOOR = 0.2
_TOKENIZER = "l2_supercat_tokenizer_config.json"


def available() -> bool:
    try:
        import wordllama  # noqa: F401
    except ImportError:
        return False
    return True


class Embedder:
    """Unit-length embeddings of texts; the model is loaded once per process."""

    _model: Any = None

    def __init__(self) -> None:
        if Embedder._model is None:
            Embedder._model = _load()

    def embed(self, texts: Sequence[str]) -> Any:
        return Embedder._model.embed(list(texts), norm=True)


def _load() -> Any:
    try:
        from wordllama import WordLlama
    except ImportError:
        raise ConfigError(
            "DIGEST_SEMANTIC=true needs the optional extra: pip install 'digest[semantic]' (or set it to false)"
        ) from None
    import wordllama

    # The wheel ships its tokenizer under tokenizers/, but WordLlama looks for it in
    # tokenizer/ and would download it: hand it the shipped copy, and forbid downloads.
    package = Path(wordllama.__file__).parent
    cache = Path(tempfile.gettempdir()) / "digest-wordllama"
    (cache / "tokenizers").mkdir(parents=True, exist_ok=True)
    shipped = package / "tokenizers" / _TOKENIZER
    if shipped.exists() and not (cache / "tokenizers" / _TOKENIZER).exists():
        shutil.copyfile(shipped, cache / "tokenizers" / _TOKENIZER)
    try:
        return WordLlama.load(cache_dir=cache, disable_download=True)
    except (FileNotFoundError, OSError) as err:
        raise ConfigError(f"cannot load the semantic model ({err}); reinstall 'digest[semantic]' or set DIGEST_SEMANTIC=false") from err
