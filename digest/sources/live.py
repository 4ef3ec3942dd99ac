"""Live sources over HTTP: hf, hf:YYYY-MM-DD, arxiv:CATS, http(s) URLs.

Fetching is not built yet (the live-sources issue); the names are registered so
that they give a clear error instead of being taken for file names.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SourceError
from ..model import Listing
from . import FetchContext, register


@dataclass
class PendingLiveSource:
    name: str

    def fetch(self, context: FetchContext) -> Listing:
        raise SourceError(
            self.name, "live fetching is not available in this version; save the listing to a file "
            "and pass its path, or use --source sample"
        )


for _exact in ("hf",):
    register(exact=_exact)(PendingLiveSource)
for _prefix in ("hf:", "arxiv:", "http://", "https://"):
    register(prefix=_prefix)(PendingLiveSource)
