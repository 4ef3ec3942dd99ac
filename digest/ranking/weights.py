"""The lexical score's constants, carried by the ``Index`` so that a benchmark can vary them.

``k1`` and ``b``: BM25's saturation and length normalisation; ``title``: how much
a word in the title counts against one in the abstract (BM25F); ``phrase``: the
keyword's words standing together; ``surface``: its own word forms (not just the
same stems); ``proximity``: its words near each other. ``benchmarks/tune.py``
chooses them by cross-validation over the development set's queries; the frozen
reference ranker of the tests passes its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Weights:
    k1: float = 1.2
    b: float = 0.75
    title: float = 2.5
    phrase: float = 0.5
    surface: float = 2.0
    proximity: float = 0.5
