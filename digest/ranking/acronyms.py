"""Acronyms: ``LLM`` finds "large language models" and back, from the listing and a short table."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..model import Paper

BUILTIN_ACRONYMS = {
    "llm": "large language model", "lm": "language model", "rl": "reinforcement learning",
    "rlhf": "reinforcement learning from human feedback", "nlp": "natural language processing",
    "cv": "computer vision", "gnn": "graph neural network", "vlm": "vision language model",
    "moe": "mixture of experts", "rag": "retrieval augmented generation",
    "cnn": "convolutional neural network", "rnn": "recurrent neural network",
    "gan": "generative adversarial network", "vae": "variational autoencoder",
    "asr": "automatic speech recognition", "mt": "machine translation",
}

_ACRONYM = re.compile(r"\(([A-Z][A-Za-z0-9]{1,9}?)s?\)")
_WORDS_BEFORE = re.compile(r"(?:\s+[\w-]+){1,6}")  # read backwards: the words just before, each then a space
_SPLIT = re.compile(r"[\s-]+")


def learn_acronyms(papers: Iterable[Paper]) -> dict[str, str]:
    """``large language models (LLMs)`` -> ``{"llm": "large language models"}``."""
    found: dict[str, str] = {}
    for paper in papers:
        text = paper.abstract
        for match in _ACRONYM.finditer(text):
            acronym = match.group(1)
            letters = [c.lower() for c in acronym if c.isupper()]
            if len(letters) < 2:
                continue
            phrase = words_before(text, match.start())
            if phrase is None:
                continue
            tail = phrase[-len(letters):]
            if len(tail) == len(letters) and all(w[:1].lower() == c for w, c in zip(tail, letters)):
                found.setdefault(acronym.lower(), " ".join(tail).lower())
    return found


def words_before(text: str, end: int) -> list[str] | None:
    r"""The (at most six) words and spaces that end just before ``end``, within 120 characters, split
    at spaces and hyphens; ``None`` unless a space is just before.

    It is what ``re.search(r"((?:[\w-]+\s+){1,6})$", text, end - 120, end)`` finds (tests/test_acronyms.py),
    without trying the pattern at every one of the 120 places: the text read backwards has the words
    at its start.
    """
    found = _WORDS_BEFORE.match(text[max(0, end - 120):end][::-1])
    return _SPLIT.split(found.group()[::-1].strip()) if found else None
