"""The per-reader model: papers a reader liked or disliked, as a bounded nudge to the keyword score.

Positives are a reader's up-votes ("more like this") and their library of liked
papers; negatives are their down-votes ("less like this"). Each is an
``Example``: a paper id, its title and abstract (kept with the vote, so a vote
keeps working after the listing is gone) and where it came from.

How a paper's score changes, on top of the keyword score (``select.rank``):

- similarity is TF-IDF cosine, ``(1 + log tf) * idf``, over the stems the index
  already holds (an example's 60 strongest terms; in a listing of 250 papers or
  more, terms in over a fifth of them are left out: they cost the most and say the
  least). A paper's likeness is the sum of its cosines above the floor to the
  liked papers (several close likes count more than one); its resemblance to the
  disliked ones is its cosine to the closest one: a down-vote demotes close
  relatives of that paper, and ten down-votes on one topic do not add up to a
  penalty for the whole topic (summed, they cost twice as many queries a loss of
  0.1 nDCG on the benchmark, for no gain).
- lift = ``min(LIFT_CAP, LIKE_WEIGHT * (likeness - LIKE_FLOOR))``, penalty =
  ``min(PENALTY_CAP, DISLIKE_WEIGHT * (resemblance - DISLIKE_FLOOR))``, each only
  above its floor; score = keyword score + lift - penalty. The dislike floor is
  higher (0.5): a down-vote demotes close relatives of the voted paper (a
  rewrite, a follow-up, the same method on the same data), not the papers that
  only share its topic; above it the penalty grows fast (a near-duplicate of a
  disliked paper loses the most). At 0.3 the simulated readers' down-votes,
  which include relevant papers the labels miss, demoted relevant neighbours: 5
  query-splits lost more than 0.1 on the feedback benchmark for dislikes alone
  over 5 random splits, none at 0.5, for a mean gain of +0.0012 nDCG@10 instead of +0.0018.
- the bound: the model adds at most ``LIFT_CAP`` = 1.0 to any paper, and a paper
  that matches none of the reader's keywords scores at most ``UNMATCHED_CAP`` =
  1.0, half the default ``DIGEST_MIN_SCORE`` of 2: votes and a library alone never
  pick a paper (unless a reader lowers ``min_score`` to 1 or less), and a paper
  that matches gains at most what one keyword's scattered words give.
- a reader with no examples gets no model at all: exactly the keyword ranking.

Similarities are cached per example on the day's index, so readers who voted on
the same papers share the work (``prepare`` compares those once before ranking
forks its workers); a reader's model is built once per run.
A pick lifted by at least ``EXPLAIN_MIN`` says why: "like 'Title of a paper you liked'".

With paper vectors (DIGEST_SEMANTIC on: the index holds an embedder and its
papers' vectors), likeness is measured in the embedding space instead: an
example's vector is its ``"{title}. {abstract}"`` embedded once (kept in the
store by paper id, like the listing's papers; ``embed_examples`` embeds every
reader's examples in one batch before ranking), and
lift = ``min(LIFT_CAP, VECTOR_LIKE_WEIGHT * sum over liked examples of
max(0, cos - VECTOR_LIKE_FLOOR))``, penalty = ``min(VECTOR_PENALTY_CAP,
VECTOR_DISLIKE_WEIGHT * max(0, cos to the closest disliked - VECTOR_DISLIKE_FLOOR))``
(a down-vote demotes the voted paper's close relatives, not its topic); the
``UNMATCHED_CAP`` bound and the reasons are as above. Measured on the development
set (MiniLM vectors, benchmarks/feedback.py --semantic minilm, 5 splits, seeds
20261123-27), the constants chosen over whole splits, never per query: on the
lexical keyword scores (the meaning bonus zeroed, so only the model differs),
votes +0.034 nDCG@10 (every split at least +0.031), library +0.078 (at least
+0.074), where the TF-IDF model gains +0.023 and +0.060 on the same splits. With
the meaning bonus on, as DIGEST_SEMANTIC ranks, the keyword ranking starts higher
(0.522 against 0.489, the keyword embedded as "methods for <keyword>") and the model
adds less: votes +0.025 (at least +0.019), library +0.057 (at least +0.050). benchmarks/tune_votes.py
checks these constants by 5-fold cross-validation over queries: +0.001 held out,
for twice the queries worse by more than 0.1, so they stay. Without vectors the TF-IDF
model below is used, unchanged.

Tuned on benchmarks/feedback.py (nDCG@10 on the later half of the labelled set;
default seed): keywords 0.490, + votes 0.517, + a library of 5 papers 0.552 (BM25:
0.448); 4 of 248 queries lose more than 0.1 with votes, 7 with the library. Over 5
random splits (seeds 1-5): votes +0.0225 (every split at least +0.0185), library
+0.0541 (at least +0.0491); 24 and 32 query-splits lose more than 0.1, almost all
through likes. A per-reader logistic regression (liked against disliked, the day's
listing as weak negatives) lost to these cosines there, on TF-IDF (votes +0.016,
library +0.037) and on WordLlama vectors (+0.006, +0.046, lift shrunk near the
top of the keyword list), with more such losses.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..model import Paper
from .index import bm25_idf
from .tokens import STOPWORDS, words

if TYPE_CHECKING:
    from .index import Index

LIKE_WEIGHT = 3.0
LIKE_FLOOR = 0.1
LIFT_CAP = 1.0
DISLIKE_WEIGHT = 10.0
DISLIKE_FLOOR = 0.5  # a near relative, not a neighbour in the topic (see the module docstring)
PENALTY_CAP = 3.0
UNMATCHED_CAP = 1.0  # the most a paper matching no keyword can score: the model alone never picks it
EXPLAIN_MIN = 0.3  # a lift this large is named in the pick
TERMS = 60  # an example is compared on its strongest terms (its norm counts them all),
COMMON = 0.2  # leaving out those in more than this share of the papers: they cost the most and say the least
SMALL_LISTING = 250  # a listing smaller than this keeps every term: it is cheap, and every term is "common"
# With paper vectors (see the module docstring for what they measured):
VECTOR_LIKE_WEIGHT = 2.0
VECTOR_LIKE_FLOOR = 0.30  # cosine to a liked example below this lifts nothing
VECTOR_DISLIKE_WEIGHT = 4.0
VECTOR_DISLIKE_FLOOR = 0.60  # a close relative of the disliked paper, not its topic
VECTOR_PENALTY_CAP = 1.0

Source = Literal["vote", "library"]


@dataclass(frozen=True, slots=True)
class Example:
    paper_id: str
    title: str
    abstract: str
    source: Source = "vote"


@dataclass(frozen=True, slots=True)
class Examples:
    liked: tuple[Example, ...] = ()
    disliked: tuple[Example, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.liked or self.disliked)


class VoteLike(Protocol):
    """What examples_for reads of a vote (read-only, so frozen dataclasses fit)."""

    @property
    def paper_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def vote(self) -> int: ...


class EntryLike(Protocol):
    """What examples_for reads of a library entry (read-only, so frozen dataclasses fit)."""

    @property
    def paper_id(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...


def examples_for(reader: object, votes: Iterable[VoteLike], library_entries: Iterable[EntryLike]) -> Examples:
    """A reader's examples: library entries and up-votes liked, down-votes disliked.

    ``votes`` are oldest first (``store.votes(email)``): the latest vote on a paper
    wins, and a down-vote overrides the same paper in the library. Entries without
    any text (an id the listings never showed) cannot be compared and are left out.
    ``reader`` is the subscriber the examples belong to (kept for the call sites).
    """
    latest: dict[str, VoteLike] = {}
    for vote in votes:
        latest.pop(vote.paper_id, None)
        latest[vote.paper_id] = vote
    disliked = [Example(v.paper_id, v.title, v.abstract, "vote") for v in latest.values() if v.vote < 0]
    liked = [Example(v.paper_id, v.title, v.abstract, "vote") for v in latest.values() if v.vote > 0]
    seen = {v.paper_id for v in latest.values()}
    for n, entry in enumerate(library_entries):
        key = entry.paper_id or f"library:{n}"
        if key in seen or not (entry.title or entry.abstract):
            continue
        seen.add(key)
        liked.append(Example(key, entry.title, entry.abstract, "library"))
    return Examples(tuple(e for e in liked if e.title or e.abstract), tuple(e for e in disliked if e.title or e.abstract))


@dataclass(slots=True)
class ReaderModel:
    """Points added to (or, negative, taken from) papers of one index, and why."""

    adjust: dict[int, float]
    reasons: dict[int, str]

    @property
    def lifted(self) -> set[int]:
        """Papers the reader's liked examples vouch for: picked even without a keyword in words."""
        return {i for i, points in self.adjust.items() if points > 0}


def model_for(index: Index, examples: Examples | None) -> ReaderModel | None:
    """The reader's model on this index; None without examples (keyword ranking unchanged)."""
    if not examples:
        return None
    if getattr(index, "vectors", None) is not None:
        return _vector_model(index, examples)
    vectors = term_vectors(index)
    liked = _closest(vectors, examples.liked)
    disliked = _closest(vectors, examples.disliked, summed=False)
    adjust: dict[int, float] = {}
    reasons: dict[int, str] = {}
    for i, (similarity, example) in liked.items():
        if similarity <= LIKE_FLOOR:
            continue
        lift = min(LIFT_CAP, LIKE_WEIGHT * (similarity - LIKE_FLOOR))
        adjust[i] = lift
        if lift >= EXPLAIN_MIN:
            reasons[i] = f"like '{example.title or example.paper_id}'"
    for i, (similarity, _) in disliked.items():
        if similarity <= DISLIKE_FLOOR:
            continue
        adjust[i] = adjust.get(i, 0.0) - min(PENALTY_CAP, DISLIKE_WEIGHT * (similarity - DISLIKE_FLOOR))
    return ReaderModel(adjust, {i: why for i, why in reasons.items() if adjust[i] >= EXPLAIN_MIN})


def _vector_model(index: Index, examples: Examples) -> ReaderModel:
    """``model_for`` in the embedding space: cosines of the index's paper vectors to the examples'."""
    import numpy as np

    papers = index.vectors
    adjust = np.zeros(len(index.papers))
    reasons: dict[int, str] = {}
    closest: np.ndarray = np.zeros(len(index.papers), dtype=np.intp)
    if examples.liked:
        cosines = papers @ np.stack(example_vectors(index, examples.liked)).T
        adjust += np.minimum(LIFT_CAP, VECTOR_LIKE_WEIGHT * np.maximum(0.0, cosines - VECTOR_LIKE_FLOOR).sum(axis=1))
        closest = cosines.argmax(axis=1)
    if examples.disliked:
        cosines = (papers @ np.stack(example_vectors(index, examples.disliked)).T).max(axis=1)
        adjust -= np.minimum(VECTOR_PENALTY_CAP, VECTOR_DISLIKE_WEIGHT * np.maximum(0.0, cosines - VECTOR_DISLIKE_FLOOR))
    for i in np.flatnonzero(adjust >= EXPLAIN_MIN).tolist():
        example = examples.liked[closest[i]]
        reasons[i] = f"like '{example.title or example.paper_id}'"
    return ReaderModel({i: float(adjust[i]) for i in np.flatnonzero(adjust).tolist()}, reasons)


_EXAMPLE_VECTORS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def example_key(example: Example) -> str:
    """The example's key in the store: its paper id, or for a library entry without one a hash of its text."""
    if example.paper_id.startswith("library:"):  # numbered per reader: two readers' "library:0" differ
        digest = hashlib.sha256(f"{example.title}\n{example.abstract}".encode()).hexdigest()
        return f"library:{digest}"
    return example.paper_id


def embed_examples(index: Index, examples: Iterable[Examples | None]) -> None:
    """Embed every example of every reader that the index lacks, in one batch (nothing without vectors)."""
    if getattr(index, "vectors", None) is None:
        return
    example_vectors(index, [e for group in examples if group for e in (*group.liked, *group.disliked)])


def example_vectors(index: Index, examples: Sequence[Example]) -> list[Any]:
    """One vector per example: the listing's own for a paper in it, else embedded once (the store keeps it)."""
    known = _EXAMPLE_VECTORS.setdefault(index, {})
    if not known and index.vectors is not None:
        known.update(zip((p.id for p in index.papers), index.vectors))
    missing = {key: e for e in examples if (key := example_key(e)) not in known}
    if missing:
        fresh = [Paper(key, e.title, e.abstract) for key, e in missing.items()]
        known.update(zip(missing, index.embedder.embed_papers(fresh)))
    return [known[example_key(e)] for e in examples]


def prepare(index: Index, examples: Iterable[Examples | None]) -> None:
    """Compare every example that several readers share with the index now (before forking workers)."""
    counts = Counter(e for group in examples if group for e in (*group.liked, *group.disliked))
    vectors = term_vectors(index)
    for example, readers in counts.items():
        if readers > 1:
            vectors.similar(example)


def _closest(vectors: TermVectors, examples: Sequence[Example],
             summed: bool = True) -> dict[int, tuple[float, Example]]:
    """Per paper: its summed (or else greatest) cosine to the examples (each above the cache floor), and the closest."""
    best: dict[int, tuple[float, Example]] = {}
    total: dict[int, float] = {}
    for example in examples:
        for i, similarity in vectors.similar(example).items():
            total[i] = total.get(i, 0.0) + similarity
            if i not in best or similarity > best[i][0]:
                best[i] = (similarity, example)
    return {i: (total[i], example) for i, (_, example) in best.items()} if summed else best


_VECTORS: weakref.WeakKeyDictionary[Any, TermVectors] = weakref.WeakKeyDictionary()


def term_vectors(index: Index) -> TermVectors:
    """The index's TF-IDF vectors, built once per index and shared by every reader."""
    found = _VECTORS.get(index)
    if found is None:
        found = _VECTORS[index] = TermVectors(index)
    return found


class TermVectors:
    """TF-IDF, ``(1 + log tf) * idf``, over the index's stems; cosine to an example, cached."""

    def __init__(self, index: Index) -> None:
        # the index's parts, not the index: ``_VECTORS``'s value must not keep its key alive
        self.postings, self.docs = index.postings, index.docs
        self.ids = {p.id: i for i, p in enumerate(index.papers)}
        self._idfs: dict[str, float] = {}
        self.norms = [math.sqrt(sum(w * w for w in self._weights(doc.counts).values())) or 1.0 for doc in index.docs]
        self._postings: dict[str, list[tuple[int, float]]] = {}
        self._similar: dict[tuple[str, str, str], dict[int, float]] = {}
        self.floor = min(LIKE_FLOOR, DISLIKE_FLOOR)

    def _weights(self, counts: Counter[str]) -> dict[str, float]:
        idf = self._idf
        return {st: (1 + math.log(tf)) * idf(st) for st, tf in counts.items() if len(st) > 2}

    def _idf(self, st: str) -> float:
        found = self._idfs.get(st)
        if found is None:
            found = self._idfs[st] = bm25_idf(len(self.docs), len(self.postings.get(st, ())))
        return found

    def _term(self, st: str) -> list[tuple[int, float]]:
        """Papers with the stem and its normalised weight in each."""
        found = self._postings.get(st)
        if found is None:
            docs, norms = self.docs, self.norms
            idf = self._idf(st)
            found = self._postings[st] = [
                (i, (1 + math.log(tf)) * idf / norms[i])
                for i in self.postings.get(st, {}) if (tf := docs[i].counts.get(st, 0))
            ]
        return found

    def similar(self, example: Example) -> dict[int, float]:
        """Papers at least ``floor``-similar to ``example`` (cosine), cached per example."""
        key = (example.paper_id, example.title, example.abstract)
        found = self._similar.get(key)
        if found is None:
            found = self._similar[key] = self._compute(example)
        return found

    def _compute(self, example: Example) -> dict[int, float]:
        number = self.ids.get(example.paper_id)
        if number is not None:
            counts = self.docs[number].counts
        else:
            counts = Counter(st for raw, st in words(f"{example.title} {example.abstract}") if raw not in STOPWORDS)
        weights = self._weights(counts)
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        common = COMMON * len(self.norms) if len(self.norms) >= SMALL_LISTING else len(self.norms)
        postings = self.postings
        rare = [(st, w) for st, w in weights.items() if len(postings.get(st, ())) <= common]
        totals: dict[int, float] = {}
        get = totals.get
        for st, w in heapq.nlargest(TERMS, rare, key=itemgetter(1)):
            share = w / norm
            for i, dw in self._term(st):
                totals[i] = get(i, 0.0) + share * dw
        return {i: s for i, s in totals.items() if s > self.floor}
