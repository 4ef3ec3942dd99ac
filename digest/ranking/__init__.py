"""Ranking: the day's papers scored against each reader's keywords, picked and explained.

The modules, lowest first (each imports only those above it when it runs; ``scoring``
and ``explain`` name the ``Index`` they are handed for type checking only):

- ``tokens``: words and stems, the same for papers and keywords;
- ``profile``: the keyword syntax a reader writes, parsed into a ``Profile``;
- ``acronyms``: ``LLM`` and "large language models" find each other;
- ``scoring``: one keyword's score for every paper (BM25F, phrases, proximity, meaning);
- ``explain``: why a paper matches a keyword, and what an exclusion removes;
- ``index``: the listing tokenised once, with every keyword's work cached on it;
- ``columns``: the same work as arrays, papers by keywords, for many readers at once;
- ``reader``: a reader's votes and library as a bounded nudge to the keyword score;
- ``authors``: the papers by the authors and labs a reader follows (no keyword needed);
- ``select``: a reader's picks, best first, explained, never a paper sent before;
- ``many``: every reader of a list against one index, forked across cores;
- ``hints``: a reader's keywords that match nothing, and the listing's nearby terms.

The package imports nothing heavy itself: ``from digest.ranking.profile import
parse_profile`` (the web pages, the subscriber file) loads no index.
"""
