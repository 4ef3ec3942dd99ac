"""The complete email of issue #21, every element at once, still fits Gmail and reads as plain text.

Twenty picks, each with a summary, a thumbnail, stars and a venue, one of them a
followed author's paper; a keyword hint; the reader's own links (``DIGEST_PUBLIC_URL``
set): more/less like this and Save under each paper, the whole list behind "and N
more", preferences, the archive and the feed. The same email is measured in Chromium
by ``test_email_browser`` (contrast, sideways scroll, axe-core) and scored by
SpamAssassin in ``test_email_spam`` (``complete_listing`` below).
"""

from __future__ import annotations

import html
import re
from datetime import date

from digest.app import Digest
from digest.model import Listing, Subscriber, make_paper
from digest.ranking.authors import follows_of
from digest.ranking.hints import KeywordHint
from digest.ranking.index import Index
from digest.ranking.profile import parse_profile
from digest.ranking.select import Selection, count_matches, rank
from digest.settings import load_settings

from .test_render_glance import LINKED, twenty_rich_papers

DAY = date(2026, 8, 13)
READER = Subscriber("ada@example.org", ("exploration", "reward model", "zebrafish"), name="Ada Lovelace",
                    authors=("Barbara Liskov",))
HINTS = (KeywordHint("zebrafish", 14, ("zebra finch",)),)


def complete_listing() -> Listing:
    """Twenty-five rich papers that match (so five are behind "and N more"), and one by a followed author
    whose title and summary carry the characters HTML escapes."""
    followed = make_paper("Q&A <agents> that \"abstract\" data", "Data abstraction & specification.",
                          id="2608.12000", authors=["Liskov, B."], github="https://github.com/example/clu",
                          stars=505, venue="POPL 2027", summary="Types & modules: <why> they're \"safe\".",
                          summary_by="llama3.1:8b",
                          thumbnail="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2608.12000.png")
    rich = twenty_rich_papers()
    more = [make_paper(f"{p.title} (again)", p.abstract, id=f"2608.{12100 + n}") for n, p in enumerate(rich[:5])]
    return Listing("hf", [followed, *rich, *more])


def complete_digest(env: dict[str, str] | None = None) -> tuple[Digest, object]:
    """The complete email as the send renders it: the Digest and its Rendered."""
    listing = complete_listing()
    digest = Digest(load_settings(None, {"DIGEST_FROM": "Paper digest <digest@example.com>", **LINKED, **(env or {})}))
    index, profile, follows = Index(listing.papers), parse_profile(READER.keywords), follows_of(READER)
    picks = rank(index, profile, selection=Selection(max_items=20, min_score=0.5), follows=follows)
    total = count_matches(index, profile, min_score=0.5, follows=follows)
    return digest, digest.render(READER, picks, day=DAY, listing=listing, total=total, hints=HINTS, sent_on=DAY)


def test_twenty_picks_with_every_element_fit_under_gmails_clip_size() -> None:
    digest, rendered = complete_digest()
    raw = digest.build(READER, rendered)[1]
    assert rendered.shown == 20 and rendered.overflow == 6  # nothing dropped to fit; the rest behind the link
    page = rendered.html
    assert page.count("<img ") == 20 and page.count("Summary by ") == 20 and page.count(">Save</a>") == 20
    assert page.count("★ ") == 20 and "NeurIPS 2026 Workshop" in page and "POPL 2027" in page
    assert "Followed: by Liskov, B." in page and "Note: “zebrafish” matched nothing" in page
    assert re.search(r'href="https://digest\.example\.org/d/[^"]+/all"[^>]*>See all 26 in your browser', page)
    assert re.search(r'href="https://digest\.example\.org/archive/[^"]+"[^>]*>your archive', page)
    assert re.search(r'href="https://digest\.example\.org/feed/[^"]+"[^>]*>as a feed', page)
    assert len(raw) < 102_000, len(raw)


def test_the_text_part_carries_every_element_as_readable_plain_text() -> None:
    text = complete_digest()[1].text
    expected = [
        "Note: “zebrafish” matched nothing in 14 days; papers say “zebra finch”.\n"
        "Change your keywords: https://",
        '1. Q&A <agents> that "abstract" data\n   Liskov, B.\n',
        "   Summary by llama3.1:8b:\n   Types & modules: <why> they're \"safe\".\n",
        "   Followed: by Liskov, B.\n",
        "   POPL 2027\n", "   Code: https://github.com/example/clu (★ 505)\n",
        "   Summary by Hugging Face:\n", "   NeurIPS 2026 Workshop · ▲ 119 upvotes",
        "   More like this: https://digest.example.org/feedback/",
        "   Save to your reading list: https://digest.example.org/save/",
        "... and 6 more matches, not shown: your digest shows at most 20 papers.\nAll 26 in your browser: https://",
        "Your past digests: https://digest.example.org/archive/",
        "Your digests as a feed (Atom), for a feed reader: https://digest.example.org/feed/",
    ]
    missing = [line for line in expected if line not in text]
    assert not missing, missing
    assert text.count("Save to your reading list: ") == 20
    assert html.unescape(text) == text and not re.search(r"&#?\w+;", text)  # no entity leaks through
    assert not re.search(r"</?(a|div|strong|br|img)\b", text)  # nor any markup


def test_the_html_part_escapes_what_the_text_part_shows_plainly() -> None:
    page = complete_digest()[1].html
    assert "Q&amp;A &lt;agents&gt; that &#34;abstract&#34; data" in page or \
        "Q&amp;A &lt;agents&gt; that &quot;abstract&quot; data" in page
    assert "<agents>" not in page and "<why>" not in page


def test_every_line_of_the_text_part_but_a_title_or_a_link_fits_in_76_columns() -> None:
    """Plain-text mail apps show the part as it is: the hint notes, the Followed line and the details line
    (venue · upvotes · lab) wrap as the Matched line and the footer do. A title stays one line, and a
    line with a link is never cut."""
    text = complete_digest()[1].text
    long = [line for line in text.splitlines()
            if len(line) > 76 and not re.match(r"\d+\. ", line) and "://" not in line]
    assert not long, long
