"""A fully built digest (headers included, as ``Digest.build`` makes it) is not spam to SpamAssassin.

Runs Debian's ``spamassassin`` with its shipped rules, local tests only (``-L``:
no network). Skipped where it is not installed, except in CI (``apt-get install
spamassassin``), where a missing program is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.app import Digest
from digest.ranking.profile import parse_profile
from digest.model import Listing, Subscriber, make_paper
from digest.ranking.index import Index
from digest.ranking.select import Selection, count_matches, rank
from digest.settings import load_settings
from digest.sources import FetchContext, FileSource

from .conftest import FIXTURES

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(SPAMASSASSIN is None and not os.environ.get("CI"),
                                reason="spamassassin is not installed (apt-get install spamassassin)")
READER = Subscriber("ada@example.org", ("exploration", "reward model*", "RLHF^2", "-survey"), name="Ada Lovelace")


def live_listing() -> Listing:
    return Listing("hf", FileSource(FIXTURES / "hf_api.json").fetch(FetchContext(today=date(2026, 8, 13))).papers)


def saved_page_listing() -> Listing:
    """No ids or URLs (title searches instead), and more matches than fit."""
    papers = [make_paper(f"Exploration with reward models, part {n}", "Exploration guided by a learned reward model "
                         "in sparse-reward tasks, with an ablation of curiosity bonuses.", published=date(2026, 3, 12))
              for n in range(30)]
    return Listing(str(FIXTURES / "hf_meta.txt"), papers)


def glance_listing() -> Listing:
    """Twenty picks with a summary, a thumbnail (remote images weigh in some spam rules), stars and a venue."""
    summary = ("Count-based exploration bonuses from a learned reward model are enough for sparse-reward grid worlds "
               "and transfer to harder procedurally generated levels without any tuning.")
    papers = [make_paper(f"Exploration with reward models, part {n}", "Exploration guided by a learned reward model "
                         "in sparse-reward tasks, with an ablation of curiosity bonuses.", id=f"2608.{10100 + n}",
                         authors=["Ada Lovelace", "Alan Turing"], github=f"https://github.com/example/rm-{n}",
                         stars=40 * n, venue="ICLR 2026", summary=summary, summary_by="Hugging Face",
                         thumbnail=f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2608.{10100 + n}.png")
              for n in range(20)]
    return Listing("hf", papers)


def built_digest(listing: Listing, **env: str) -> bytes:
    digest = Digest(load_settings(None, {"DIGEST_FROM": "Paper digest <digest@example.com>", **env}))
    index, profile = Index(listing.papers), parse_profile(READER.keywords)
    picks = rank(index, profile, selection=Selection(max_items=20, min_score=0.5))
    rendered = digest.render(READER, picks, listing=listing, total=count_matches(index, profile, min_score=0.5))
    return digest.build(READER, rendered)[1]


def complete_digest() -> bytes:
    """Issue #21's complete email: twenty picks with everything, a followed author, a hint, the reader's links."""
    from .test_email_complete import READER as FOLLOWER, complete_digest

    digest, rendered = complete_digest()
    return digest.build(FOLLOWER, rendered)[1]


@pytest.mark.parametrize("built", [
    lambda: built_digest(live_listing()),
    lambda: built_digest(saved_page_listing(), DIGEST_UNSUBSCRIBE_URL="https://digest.example.com/unsubscribe?id=ada"),
    lambda: built_digest(glance_listing()),
    complete_digest,
], ids=["hf-mailto-unsubscribe", "saved-page-https-unsubscribe", "summaries-thumbnails-stars-venues",
        "complete-with-followed-author-hint-and-reader-links"])
def test_a_built_digest_scores_at_most_zero(built, tmp_path: Path) -> None:
    raw = built()
    assert message_from_bytes(raw, policy=policy.default)["Message-ID"].endswith("@example.com>")
    assert SPAMASSASSIN, "spamassassin is required in CI"
    result = subprocess.run([SPAMASSASSIN, "-L", "-t"], input=raw, capture_output=True, timeout=120,
                            env={**os.environ, "HOME": str(tmp_path)})  # its user_prefs go to tmp_path
    found = re.search(rb"^X-Spam-Status: \w+, score=(-?[\d.]+)", result.stdout, re.M)
    assert found, result.stderr.decode(errors="replace")[-2000:]
    rules = result.stdout.rpartition(b"Content analysis details:")[2].decode(errors="replace")
    assert float(found.group(1)) <= 0, rules
