"""The reader's votes page: every up and down vote listed, each removable with a CSRF-checked button.

uvicorn serves the real app over a real SQLite file (tests/web_server.py). The
ranking reads votes with ``store.votes_for``: a removed vote is gone from it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from digest.model import make_paper

from .web_server import Web, csrf_of, running

UP = make_paper("Reward models <script>for</script> RLHF", "We study reward models.", id="2411.00001")
DOWN = make_paper("A survey of surveys", "Everything, briefly.", id="2411.00002")


@pytest.fixture
def web(tmp_path: Path):
    with running(tmp_path) as site:
        with site.store() as store:
            store.record_vote("ada@example.org", UP, 1)
            store.record_vote("ada@example.org", DOWN, -1)
            store.record_vote("bob@example.org", UP, 1)
        yield site


def votes_url(web: Web, email: str) -> str:
    return web.links(email).preferences.replace("/preferences/", "/votes/")


def counted(web: Web) -> dict[str, list[tuple[str, int]]]:
    with web.store() as store:
        return {email: [(v.paper_id, v.vote) for v in votes]
                for email, votes in store.votes_for(["ada@example.org", "bob@example.org"]).items()}


def test_the_page_lists_the_readers_votes_escaped(web: Web) -> None:
    page = httpx.get(votes_url(web, "ada@example.org"))
    assert page.status_code == 200
    assert "More like <em dir=\"auto\">Reward models &lt;script&gt;for&lt;/script&gt; RLHF</em>" in page.text
    assert "Fewer like <em dir=\"auto\">A survey of surveys</em>" in page.text
    assert page.text.count(">Remove</button>") == 2


def test_each_remove_button_names_the_vote_it_removes_for_a_screen_reader(web: Web) -> None:
    """Two buttons both called "Remove" told a screen reader's list of buttons nothing; the look stays "Remove"."""
    page = httpx.get(votes_url(web, "ada@example.org")).text
    assert ('<button type="submit" aria-label="Remove your vote: more like '
            'Reward models &lt;script&gt;for&lt;/script&gt; RLHF">Remove</button>') in page
    assert '<button type="submit" aria-label="Remove your vote: fewer like A survey of surveys">Remove</button>' in page


def test_remove_deletes_that_vote_only_so_ranking_no_longer_counts_it(web: Web) -> None:
    url = votes_url(web, "ada@example.org")
    with web.client() as client:
        answer = client.post(url, data={"csrf": csrf_of(client.get(url).text), "paper": DOWN.id},
                             follow_redirects=True)
    assert answer.status_code == 200 and "Removed" in answer.text
    assert "A survey of surveys" not in answer.text and "Reward models" in answer.text
    assert counted(web) == {"ada@example.org": [(UP.id, 1)], "bob@example.org": [(UP.id, 1)]}


def test_a_post_without_the_csrf_token_is_refused_and_removes_nothing(web: Web) -> None:
    url = votes_url(web, "ada@example.org")
    with web.client() as client:
        client.get(url)  # the cookie is there; the field is not
        missing = client.post(url, data={"paper": UP.id})
        forged = client.post(url, data={"paper": UP.id, "csrf": "forged.value"})
    assert missing.status_code == forged.status_code == 403
    assert counted(web)["ada@example.org"] == [(UP.id, 1), (DOWN.id, -1)]


def test_a_bad_token_removes_nothing(web: Web) -> None:
    url = votes_url(web, "ada@example.org")
    token = url.rsplit("/", 1)[1]
    with web.client() as client:
        csrf = csrf_of(client.get(url).text)
        bad = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        answer = client.post(f"{web.url}/votes/{bad}", data={"csrf": csrf, "paper": UP.id})
    assert answer.status_code == 400 and "nothing was changed" in answer.text
    assert len(counted(web)["ada@example.org"]) == 2


def test_a_reader_without_votes_is_told_how_to_add_them(web: Web) -> None:
    with web.store() as store:
        for paper in (UP, DOWN):
            store.remove_vote("ada@example.org", paper.id)
    page = httpx.get(votes_url(web, "ada@example.org")).text
    assert "You have no votes" in page and "Remove</button>" not in page
