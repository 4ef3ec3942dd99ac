"""Loaded at start-up by a ``digest send`` that a test starts with this folder on its PYTHONPATH
(``tests.test_send``): DIGEST_SEMANTIC's model is a stand-in that takes a second for 64 texts, as a real one
may on a slow CPU, and says on stderr when it starts."""

import sys
import time

import numpy as np

from digest import semantic


class Slow(semantic.Embedder):
    name = "slow stand-in"
    dimensions = 4

    def encode(self, texts):
        print("embedding", file=sys.stderr, flush=True)
        time.sleep(len(texts) / 64)  # a second for 64 texts
        return np.tile(np.array([0.5, 0.5, 0.5, 0.5], dtype=np.float32), (len(texts), 1))


semantic.make_embedder = lambda choice: Slow()
