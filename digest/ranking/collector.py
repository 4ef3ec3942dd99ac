"""Python's cycle collector paused while the ranking makes many objects that form no cycles.

Building the index (its positions) and ranking readers one after another (the
picks kept) each make hundreds of thousands of objects, every one freed as its
reference count drops. Left on, the collector answers each quarter more objects
with a full collection, a walk over every object of the process: about a fifth
of ranking 10,000 readers. It is turned on again afterwards, as it was, and what
was made meanwhile is moved to the oldest generation at once (``gc.freeze`` then
``gc.unfreeze``): the first young collection would otherwise walk all of it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if not gc.get_freeze_count():  # (never thaw what a caller froze: a forked worker's inherited objects)
            gc.freeze()  # what was made meanwhile goes to the oldest generation as it is, not through a scan
            gc.unfreeze()  # of the young generations that would find no cycles in it
        gc.enable()
