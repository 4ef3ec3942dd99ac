"""The reading list: "Save" under each paper of the digest, the list page, its BibTeX and RIS exports.

The store's part runs on both engines (a SQLite file, a real PostgreSQL server);
the pages through uvicorn serving the real app over a real SQLite file
(tests/web_server.py), the save from a delivered digest in headless Chromium; the
exports are read back by real parsers (bibtexparser with its LaTeX decoding, rispy).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import bibtexparser
import httpx
import pytest
import rispy
from bibtexparser.middlewares import LatexDecodingMiddleware
from markupsafe import escape

from digest.citations import bibtex_escape, cite_key
from digest.model import Paper, make_paper
from digest.store import KeptDigest, KeptPick, Store

from .pg_server import pg_server, state_db  # noqa: F401  (fixtures)
from .test_web_browser import CHROMIUM, browser, page  # noqa: F401  (fixtures)
from .test_wiring import ADA, BOB, parts, send, site, urls
from .web_server import Web, csrf_of, running

NOON = datetime(2031, 1, 6, 12, tzinfo=timezone.utc).timestamp()
# ^ is left out: it is written \textasciicircum{} (test below), which pylatexenc reads as U+02C6, not ^
HOSTILE = r"50% {off} } & $\alpha$ -- \emph{x} ~ # _ ``q'' Łódź naïve 日本 @misc{evil, }"
REWARD = Paper(id="2411.00001", title="Reward models for RLHF", abstract="We study reward models.",
               authors=("Ada Lovelace", "Alan Turing"), published=date(2024, 11, 5),
               url="https://arxiv.org/abs/2411.00001", doi="10.1234/rm.2024", venue="ICLR 2026")
ODD = Paper(id="2411.00002", title=HOSTILE, abstract="An abstract, 100% } of it & more.",
            authors=("Kurt Gödel", "Research and Development Team"), url="https://arxiv.org/abs/2411.00002")


def kept(email: str, day: date, *papers: Paper) -> KeptDigest:
    picks = tuple(KeptPick(paper, 1.0, rank) for rank, paper in enumerate(papers, 1))
    return KeptDigest(email=email, message_id=f"<{day}.{email}>", sent_on=day, source="arXiv", day=day,
                      templates="t", picks=picks, total=len(picks), keywords=("reward model",),
                      terms=("reward model",))


# the store, on both engines ---------------------------------------------------------------

def test_a_paper_is_saved_as_the_digest_showed_it_and_outlives_the_archive(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.archive_digests([kept(ADA, date(2031, 1, 6), REWARD, ODD)])
        assert store.save_paper(ADA, REWARD.id, now=NOON) == REWARD
        store.archive_digests([kept(ADA, date(2031, 4, 1), ODD)], keep_days=30)  # the January digest is pruned
        assert store.kept_digest(ADA, "2031-01-06") is None
        [saved] = store.reading_list(ADA)
        assert saved.paper == REWARD and saved.saved_on == "2031-01-06"
        assert store.unsave_paper(ADA, REWARD.id) and store.reading_list(ADA) == []
        store.archive_digests([kept(ADA, date(2031, 6, 1), ODD)], keep_days=30)
        assert store.paper_to_save(ADA, REWARD.id) is None  # unsaved, its copy went with the next prune


def test_a_paper_the_archive_lost_is_saved_from_the_remembered_text(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.remember_papers([Paper(id="2411.00009", title="Remembered", abstract="Its abstract.")])
        saved = store.save_paper(ADA, "2411.00009", now=NOON)
        assert saved is not None and (saved.title, saved.abstract) == ("Remembered", "Its abstract.")
        assert store.save_paper(ADA, "2411.99999") is None  # no trace of it: nothing saved
        assert [s.paper.id for s in store.reading_list(ADA)] == ["2411.00009"]


def test_saving_twice_keeps_one_entry_and_the_first_time(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.archive_digests([kept(ADA, date(2031, 1, 6), REWARD, ODD)])
        store.save_paper(ADA, REWARD.id, now=NOON)
        store.save_paper(ADA, ODD.id, now=NOON + 60)
        store.save_paper(ADA, REWARD.id, now=NOON + 120)
        assert [(s.paper.id, s.saved_at) for s in store.reading_list(ADA)] == [(ODD.id, NOON + 60),
                                                                              (REWARD.id, NOON)]


def test_removing_a_reader_removes_their_list_only(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.archive_digests([kept(ADA, date(2031, 1, 6), REWARD), kept(BOB, date(2031, 1, 6), REWARD)])
        store.save_paper(ADA, REWARD.id)
        store.save_paper(BOB, REWARD.id)
        assert store.export_reader(ADA)["reading_list"] == [
            {"paper_id": REWARD.id, "title": REWARD.title, "saved_on": store.reading_list(ADA)[0].saved_on}]
        assert store.remove_reader(ADA)
        assert store.reading_list(ADA) == [] and store.export_reader(ADA)["reading_list"] == []
        assert [s.paper for s in store.reading_list(BOB)] == [REWARD]


def test_a_reading_list_is_copied_into_postgresql_with_its_papers(tmp_path: Path, pg_server) -> None:  # noqa: F811
    from digest.store import DatabaseURL
    from digest.store.copy import copy_store

    with Store.open(tmp_path / "state.db") as store:
        store.archive_digests([kept(ADA, date(2031, 1, 6), REWARD, ODD)])
        store.save_paper(ADA, ODD.id, now=NOON)
        with Store.open(DatabaseURL(pg_server.new_database(), tmp_path / "local")) as target:
            assert copy_store(store, target)["reading_list"] == 1
            assert [(s.paper, s.saved_at) for s in target.reading_list(ADA)] == [(ODD, NOON)]


# the exports, read back by real parsers ---------------------------------------------------

def parsed_bibtex(text: str) -> list[dict[str, str]]:
    library = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    assert library.failed_blocks == []
    return [{"key": e.key, "type": e.entry_type, **{f.key.lower(): f.value for f in e.fields}} for e in library.entries]


def test_latex_specials_are_written_as_the_commands_that_print_them() -> None:
    assert bibtex_escape("a\\b {c} 5% & $x$ #1 a_b ~ ^ -- ``q''") == (
        r"a\textbackslash{}b \{c\} 5\% \& \$x\$ \#1 a\_b \textasciitilde{} \textasciicircum{} -{}- `{}`q'{}'")


def test_keys_are_stable_and_unique() -> None:
    assert cite_key(REWARD) == "lovelace2024reward-2411.00001"
    assert cite_key(Paper(id="hep-th/9901001", title="The string", abstract="")) == "anon1999string-hep-th-9901001"
    same_title = [Paper(id=f"title:{n}", title="Reward models", abstract="") for n in range(2)]
    assert len({cite_key(p) for p in same_title}) == 2


# the pages --------------------------------------------------------------------------------

@pytest.fixture
def web(tmp_path: Path):
    with running(tmp_path) as running_site:
        with running_site.store() as store:
            store.archive_digests([kept(ADA, date.today(), REWARD, ODD)])
        yield running_site


def save_url(web: Web, email: str, paper: Paper) -> str:
    return web.links(email, (paper.id,)).feedback[paper.id].save


def reading_url(web: Web, email: str) -> str:
    return web.links(email).preferences.replace("/preferences/", "/reading/")


def saved(web: Web, email: str = ADA) -> list[str]:
    with web.store() as store:
        return [s.paper.id for s in store.reading_list(email)]


def save(web: Web, *papers: Paper) -> None:
    with web.client() as client:
        for paper in papers:
            url = save_url(web, ADA, paper)
            assert client.post(url, data={"csrf": csrf_of(client.get(url).text)}).status_code == 200


def test_the_save_link_only_asks_a_get_saves_nothing(web: Web) -> None:
    page = httpx.get(save_url(web, ADA, REWARD))
    assert page.status_code == 200 and "Save to your reading list?" in page.text and REWARD.title in page.text
    assert saved(web) == []


def test_a_save_without_the_csrf_field_is_refused_and_saves_nothing(web: Web) -> None:
    url = save_url(web, ADA, REWARD)
    with web.client() as client:
        client.get(url)  # the cookie is there; the field is not
        missing = client.post(url, data={})
        forged = client.post(url, data={"csrf": "forged.value"})
    assert missing.status_code == forged.status_code == 403
    assert saved(web) == []


def test_the_confirmed_save_lists_the_paper_for_that_reader_only(web: Web) -> None:
    save(web, REWARD)
    page = httpx.get(reading_url(web, ADA))
    assert saved(web) == [REWARD.id] and saved(web, BOB) == []
    assert page.status_code == 200 and f'href="{REWARD.url}"' in page.text and "Ada Lovelace, Alan Turing" in page.text
    assert "Nothing saved yet" in httpx.get(reading_url(web, BOB)).text
    assert "Already saved" in httpx.get(save_url(web, ADA, REWARD)).text  # asking again offers no second save


def test_a_hostile_title_stays_data_on_the_page_and_in_both_exports(web: Web) -> None:
    save(web, REWARD, ODD)
    page = httpx.get(reading_url(web, ADA)).text
    assert "@misc{evil, }" in page and r"$\alpha$ -- \emph{x}" in page
    bib = httpx.get(reading_url(web, ADA) + ".bib")
    assert bib.headers["content-type"] == "application/x-bibtex; charset=utf-8"
    assert bib.headers["content-disposition"] == 'attachment; filename="reading-list.bib"'
    reward, odd = sorted(parsed_bibtex(bib.text), key=lambda entry: entry["eprint"])
    assert odd["title"] == HOSTILE and odd["abstract"] == ODD.abstract
    assert odd["author"] == "Kurt Gödel and Research and Development Team"  # the team stays one name
    assert reward == {"key": "lovelace2024reward-2411.00001", "type": "misc", "title": REWARD.title,
                      "author": "Ada Lovelace and Alan Turing", "year": "2024", "eprint": "2411.00001",
                      "archiveprefix": "arXiv", "doi": "10.1234/rm.2024", "url": REWARD.url, "note": "ICLR 2026",
                      "abstract": REWARD.abstract}
    ris = httpx.get(reading_url(web, ADA) + ".ris")
    assert ris.headers["content-type"] == "application/x-research-info-systems; charset=utf-8"
    assert ris.headers["content-disposition"] == 'attachment; filename="reading-list.ris"'
    reward_ris, odd_ris = sorted(rispy.loads(ris.text), key=lambda record: record["urls"][0])
    assert odd_ris["title"] == HOSTILE and odd_ris["authors"] == list(ODD.authors)
    assert reward_ris == {"type_of_reference": "UNPB", "id": "lovelace2024reward-2411.00001", "title": REWARD.title,
                          "authors": ["Ada Lovelace", "Alan Turing"], "year": "2024", "date": "2024/11/05",
                          "doi": "10.1234/rm.2024", "urls": [REWARD.url], "notes": ["ICLR 2026"],
                          "abstract": REWARD.abstract}


def test_exports_link_a_paper_as_the_email_does_never_to_a_script(web: Web) -> None:
    scripted = Paper(id="2411.00003", title="A paper whose listing gave a script", abstract="x",
                     url="javascript:alert(4)")
    unlinked = Paper(id="title:0123456789abcdef", title="A paper with no page", abstract="y", url="javascript:x()")
    with web.store() as store:
        store.archive_digests([kept(ADA, date.today() - timedelta(days=1), scripted, unlinked)])
    save(web, scripted, unlinked)
    bib = httpx.get(reading_url(web, ADA) + ".bib").text
    ris = httpx.get(reading_url(web, ADA) + ".ris").text
    assert "javascript" not in bib + ris
    urls = {entry["title"]: entry.get("url") for entry in parsed_bibtex(bib)}
    assert urls == {scripted.title: "https://arxiv.org/abs/2411.00003", unlinked.title: None}
    assert sorted(record.get("urls", [None])[0] or "" for record in rispy.loads(ris)) == [
        "", "https://arxiv.org/abs/2411.00003"]


def test_remove_takes_the_paper_off_the_list_and_the_exports(web: Web) -> None:
    save(web, REWARD, ODD)
    url = reading_url(web, ADA)
    with web.client() as client:
        refused = client.post(url, data={"paper": ODD.id})
        answer = client.post(url, data={"csrf": csrf_of(client.get(url).text), "paper": ODD.id},
                             follow_redirects=True)
    assert refused.status_code == 403
    assert answer.status_code == 200 and "Removed from your reading list" in answer.text
    assert saved(web) == [REWARD.id]
    assert [e["key"] for e in parsed_bibtex(httpx.get(url + ".bib").text)] == [cite_key(REWARD)]


def test_each_remove_button_names_the_paper_it_removes_for_a_screen_reader(web: Web) -> None:
    """Every button was called "Remove" alone; the look stays "Remove", the name says which paper goes."""
    save(web, REWARD, ODD)
    page = httpx.get(reading_url(web, ADA)).text
    names = re.findall(r'<button type="submit" aria-label="([^"]*)">Remove</button>', page)
    assert sorted(names) == sorted([f"Remove {escape(title)} from your reading list" for title in (REWARD.title,
                                                                                                     ODD.title)])
    assert page.count(">Remove</button>") == 2


@pytest.mark.parametrize("suffix", ["", ".bib", ".ris"])
@pytest.mark.parametrize("damage", ["forged", "other purpose", "garbage"])
def test_a_damaged_list_token_gets_the_friendly_404_and_nothing_else(web: Web, suffix: str, damage: str) -> None:
    save(web, REWARD)
    token = reading_url(web, ADA).rsplit("/", 1)[1]
    bad = {"forged": token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
           "other purpose": web.links(ADA).unsubscribe.rsplit("/", 1)[1],
           "garbage": "%00%ff<script>"}[damage]
    answer = httpx.get(f"{web.url}/reading/{bad}{suffix}")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in answer.text and "reading list" in answer.text
    assert REWARD.title not in answer.text and "ada@" not in answer.text and "<script>" not in answer.text


def test_a_remove_with_a_damaged_token_removes_nothing(web: Web) -> None:
    save(web, REWARD)
    url = reading_url(web, ADA)
    with web.client() as client:
        csrf = csrf_of(client.get(url).text)
        answer = client.post(url[:-2] + ("AA" if url[-2:] != "AA" else "BB"), data={"csrf": csrf, "paper": REWARD.id})
    assert answer.status_code == 404 and saved(web) == [REWARD.id]


def test_a_paper_the_store_has_no_trace_of_cannot_be_saved(web: Web) -> None:
    stranger = make_paper("Never listed", "Nowhere.", id="2411.77777")
    assert httpx.get(save_url(web, ADA, stranger)).status_code == 404


def test_the_preferences_and_votes_pages_link_the_reading_list(web: Web) -> None:
    link = f'href="{reading_url(web, ADA).removeprefix(web.url)}"'
    assert link in httpx.get(web.links(ADA).preferences).text
    assert link in httpx.get(web.links(ADA).preferences.replace("/preferences/", "/votes/")).text


# from the digest, in Chromium -------------------------------------------------------------

@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (.ci/run installs it)")
def test_save_from_the_delivered_digest_in_the_browser(page, tmp_path: Path, server, inbox) -> None:  # noqa: F811
    with site(tmp_path, server) as web:
        send(web)
        text, html = parts(inbox.to(ADA)[0])
        saves = [u for u in urls(html) if "/save/" in u]
        assert saves and saves == [u for u in urls(text) if "/save/" in u] and "Save</a>" in html
        page.goto(saves[0])
        assert page.text_content("h1") == "Save to your reading list?" and saved(web) == []
        title = page.text_content("em")
        page.click("button[type=submit]")
        assert page.text_content("h1") == "Saved"
        page.get_by_role("link", name="Your reading list", exact=True).click()
        page.wait_for_url("**/reading/*")
        assert page.text_content("h1") == "Your reading list" and title in page.text_content("ul.reading")
        with page.expect_download() as download:
            page.click("text=BibTeX (.bib)")
        [entry] = parsed_bibtex(Path(download.value.path()).read_text())
        page.click("ul.reading button[type=submit]")
        assert "Removed" in page.text_content("[role=status]") and saved(web) == []
    assert entry["title"] == title
