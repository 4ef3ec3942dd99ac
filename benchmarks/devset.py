"""The labelled development set in ../shared/ranking, and what the ranking benchmarks share.

The set (2,000 Inspec abstracts, 250 one-keyword queries; see its README.txt) is
third-party data: it is read in place at run time, never copied. Without it the
benchmarks say so on one line and exit with ``ABSENT`` (2).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.errors import KeywordError
from digest.ranking.profile import Profile, parse_profile
from digest.model import Paper, make_paper
from digest.ranking.index import Index
from digest.ranking.rules import Rules
from digest.ranking.select import Selection, rank

RULES = Rules()  # which word rules digest applies; ``--rules`` changes it (``use_rules``)
RULE_NAMES = ("spelling", "passing", "shares")


def use_rules(spec: str) -> Rules:
    """``all``, ``none`` or the names of the rules to keep, comma-separated (``spelling,shares``)."""
    global RULES
    names = {n.strip() for n in spec.split(",") if n.strip()}
    if names == {"all"}:
        names = set(RULE_NAMES)
    elif names == {"none"}:
        names = set()
    unknown = names - set(RULE_NAMES)
    if unknown:
        raise SystemExit(f"--rules: unknown {', '.join(sorted(unknown))}; use all, none or {', '.join(RULE_NAMES)}")
    RULES = Rules(**{n: n in names for n in RULE_NAMES})
    return RULES


def make_index(listing: Sequence[Paper], **options: Any) -> Index:
    """digest's index of ``listing`` with the word rules chosen by ``--rules``."""
    return Index(listing, rules=RULES, **options)

SHARED = Path(__file__).resolve().parents[2] / "shared"
ABSENT = 2
EVERYTHING = Selection(max_items=None, min_score=0.0)


@dataclass(frozen=True)
class DevSet:
    docs: list[dict[str, str]]
    qrels: list[dict[str, Any]]

    @property
    def queries(self) -> list[str]:
        return [q["query"] for q in self.qrels]

    @property
    def relevant(self) -> list[set[str]]:
        return [set(q["relevant_ids"]) for q in self.qrels]


def load(shared: Path) -> DevSet | None:
    """The set under ``shared``/ranking, or None after saying on stderr that it is absent."""
    folder = shared / "ranking"
    files = [folder / "docs.jsonl", folder / "qrels.jsonl"]
    if not all(f.is_file() for f in files):
        print(f"no development set at {folder} (docs.jsonl and qrels.jsonl): pass --shared DIR, the folder"
              " that holds ranking/; nothing was measured", file=sys.stderr)
        return None
    docs, qrels = ([json.loads(line) for line in f.open(encoding="utf-8")] for f in files)
    return DevSet(docs, qrels)


def as_written(keyword: str) -> str:
    """The keyword as a reader can write it.

    Digest reads parentheses only around a trailing acronym and refuses the others,
    as in one query of the set, "rendering (computer graphics)": a reader writes
    the same words without them.
    """
    try:
        parse_profile([keyword])
    except KeywordError:
        return re.sub(r"[()]", " ", keyword)
    return keyword


def reader_profile(keywords: str | Sequence[str]) -> Profile:
    """A reader's profile of these keywords (one string is one keyword), each as written."""
    return parse_profile([as_written(k) for k in ([keywords] if isinstance(keywords, str) else keywords)])


def measured() -> str:
    """Where the digest being measured was imported from (this checkout's, when run from it)."""
    import digest

    return str(Path(digest.__file__).parent)


def folds_parser(doc: str | None, store: bool = True) -> argparse.ArgumentParser:
    """The options every cross-validating script takes: ``--shared``, ``--store`` (the paper vectors' state
    database; ``store=False``: none), ``--folds`` and ``--seed`` (the folds' shuffle)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    if store:
        parser.add_argument("--store", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=18)
    return parser


def papers(docs: Sequence[dict[str, str]]) -> list[Paper]:
    return [make_paper(d["title"], d["abstract"], id=d["id"]) for d in docs]


def our_runs(docs: list[dict[str, str]], queries: list[str], feedback: bool = False,
             embedder: object = None) -> tuple[list[list[str]], float, float]:
    """Each query's top 50 by digest over all ``docs``, and the seconds spent indexing and ranking."""
    started = time.perf_counter()
    index = make_index(papers(docs), feedback=feedback, embedder=embedder)
    indexed = time.perf_counter()
    profiles = [reader_profile(q) for q in queries]
    index.embed_keywords(profiles)  # one batch, as rank_many does for many readers
    runs = [[p.paper.id for p in rank(index, profile, selection=EVERYTHING)][:50] for profile in profiles]
    return runs, indexed - started, time.perf_counter() - indexed


# --- BM25, the reference -------------------------------------------------------------

def plain_bm25(docs: list[dict[str, str]], queries: list[str]) -> list[dict[str, float]]:
    """Okapi BM25 (k1=1.5, b=0.75) over lowercase \\w+ tokens, as rank_bm25 does: each query's positive scores."""
    tokens = [re.findall(r"\w+", f"{d['title']} {d['abstract']}".lower()) for d in docs]
    counts = [Counter(t) for t in tokens]
    avg = sum(map(len, tokens)) / len(tokens)
    df = Counter(w for c in counts for w in c)
    n = len(docs)
    runs = []
    for query in queries:
        scores = {}
        for i, c in enumerate(counts):
            s = 0.0
            for w in re.findall(r"\w+", query.lower()):
                if w in c:
                    idf = math.log((n - df[w] + 0.5) / (df[w] + 0.5) + 1)
                    s += idf * c[w] * 2.5 / (c[w] + 1.5 * (0.25 + 0.75 * len(tokens[i]) / avg))
            if s > 0:
                scores[docs[i]["id"]] = s
        runs.append(scores)
    return runs


def bm25_baseline(docs: list[dict[str, str]], queries: list[str]) -> list[list[str]]:
    """Each query's papers by plain BM25, best first (only those it scores above 0)."""
    return [sorted(scores, key=scores.__getitem__, reverse=True) for scores in plain_bm25(docs, queries)]


def bm25s_installed() -> bool:
    try:
        import bm25s  # noqa: F401
        import Stemmer  # noqa: F401
    except ImportError:
        return False
    return True


def lucene_bm25(docs: list[dict[str, str]], queries: list[str]) -> list[dict[str, float]]:
    """bm25s's Lucene BM25 (k1=1.5, b=0.75, English stop words, Snowball stems): each query's positive scores."""
    import bm25s
    import Stemmer

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index it builds
    stemmer = Stemmer.Stemmer("english")
    corpus = bm25s.tokenize([f"{d['title']} {d['abstract']}" for d in docs], stopwords="en", stemmer=stemmer,
                            show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    asked = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
    ids = [d["id"] for d in docs]
    return [{ids[i]: float(s) for i, s in enumerate(retriever.get_scores(q)) if s > 0} for q in asked]


# --- meaning: the installed backends, their vectors kept in memory ---------------------------

class MemoryVectors:
    """A store for ``CachedEmbedder`` held in memory: each paper is embedded once per run."""

    def __init__(self) -> None:
        self.vectors: dict[tuple[str, str], bytes] = {}

    def __enter__(self) -> MemoryVectors:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def embeddings(self, model: str, ids: Sequence[str]) -> dict[str, bytes]:
        return {i: self.vectors[(model, i)] for i in ids if (model, i) in self.vectors}

    def save_embeddings(self, model: str, vectors: dict[str, bytes]) -> None:
        self.vectors.update({(model, i): v for i, v in vectors.items()})


def with_minilm(shared: Path, store: Path | None, doing: str) -> tuple[DevSet, Any]:
    """The labelled set and MiniLM's embedder (its vectors kept in ``store``), or exit: with ``ABSENT``
    without the set (``load`` says so), with 1 when MiniLM is not installed ("nothing to ``doing``")."""
    devset = load(shared)
    if devset is None:
        raise SystemExit(ABSENT)
    embedder = dict(embedders(skip=("wordllama",), store=store)).get("minilm")
    if embedder is None:
        print(f"MiniLM is not installed: nothing to {doing}", file=sys.stderr)
        raise SystemExit(1)
    return devset, embedder


def embedders(skip: Sequence[str] = (), store: Path | None = None) -> Iterator[tuple[str, Any]]:
    """(name, embedder) for each installed backend not in ``skip``, its vectors cached.

    ``store``: keep the vectors in that state database (outside the project), so a
    second run embeds nothing.
    """
    from digest import semantic
    from digest.store import Store

    memory = MemoryVectors()
    opener = (lambda: Store.open(store)) if store else (lambda: memory)
    for name, installed, make in (("wordllama", semantic.wordllama_available(), semantic.WordLlama),
                                  ("minilm", semantic.minilm_available(), semantic.MiniLM)):
        if name in skip:
            print(f"({name} skipped: no {name} row)")
        elif not installed:
            print(f"({name} is not installed: no {name} row)")
        else:
            yield name, semantic.CachedEmbedder(make(), opener)
