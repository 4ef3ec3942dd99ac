"""Following authors and labs (issue #21): their papers are picked whatever the keywords say, and the
digest says why; names match across initials, accents and "Family, Given"; readers who follow nobody
get exactly the keyword ranking."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from digest.app import Digest
from digest.errors import ConfigError
from digest.model import Subscriber, make_paper, paper_from_stored
from digest.ranking.authors import Follows, follows_of, org_matches, same_person
from digest.ranking.index import Index
from digest.ranking.many import rank_many
from digest.ranking.profile import parse_profile
from digest.ranking.select import Selection, count_matches, rank
from digest.render import Renderer
from digest.settings import load_settings
from digest.sources.parse import parse_listing
from digest.store import Store
from digest.subscribers import load_subscribers

from .pg_server import pg_server, state_db  # noqa: F401  (fixtures)

DAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 9, tzinfo=timezone.utc).timestamp()

LISTING = [
    make_paper("Self-supervised world models for planning", "We learn a world model from video and plan in it.",
               id="2611.00001", authors=["Yann LeCun", "Léon Bottou"], upvotes=5),
    make_paper("Energy-based objectives revisited", "An energy landscape view of contrastive objectives.",
               id="2611.00002", authors=["Alan LeCun"], upvotes=50),
    make_paper("Scaling laws for speech recognition", "Bigger acoustic models keep improving word error rates.",
               id="2611.00003", authors=["Grace Hopper"], organization="AI at Meta"),
    make_paper("Diffusion models for molecules", "Diffusion models generate molecules with given properties.",
               id="2611.00004", authors=["Ada Lovelace"]),
    make_paper("Faster diffusion sampling", "We speed up diffusion sampling tenfold with a learned schedule.",
               id="2611.00005"),
    make_paper("Diffusion for audio generation", "A diffusion model for music and speech audio.", id="2611.00006"),
    make_paper("Joint embedding predictive architectures", "Predicting representations, not pixels.",
               id="2611.00007", authors=["LeCun, Y."]),
    make_paper("Graph neural networks for traffic", "Forecasting traffic with message passing.", id="2611.00008"),
    make_paper("Protein folding with language models", "Sequence models predict structure.", id="2611.00009"),
]
FOLLOWER = Subscriber("ada@example.org", ("diffusion",), name="Ada", authors=("Yann LeCun",), orgs=("Meta",))
PLAIN = Subscriber("bob@example.org", ("diffusion",))


def picks_of(reader: Subscriber, papers=LISTING, **selection: object):
    chosen = Selection(**{"max_items": 20, "min_score": 0.5, **selection})  # type: ignore[arg-type]
    return rank(Index(papers), parse_profile(reader.keywords), selection=chosen, follows=follows_of(reader))


# names ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("followed", "listed"), [
    ("Yann LeCun", "Yann LeCun"),
    ("Yann LeCun", "Y. LeCun"),  # an initial
    ("Yann LeCun", "LeCun, Yann"),  # "Family, Given"
    ("Yann LeCun", "LeCun, Y."),
    ("Yann LeCun", "Yann Le Cun"),  # a family name in two words
    ("Yann LeCun", "YANN LECUN"),
    ("Yann LeCun", "Yann A. LeCun"),  # a middle name is not compared
    ("Y. LeCun", "Yann LeCun"),
    ("Léon Bottou", "Leon Bottou"),  # accents
    ("Leon Bottou", "Léon Bottou"),
    ("Jürgen Schmidhuber", "Jurgen Schmidhuber"),
    ("José García-López", "Jose Garcia Lopez"),
    ("Jean-Pierre Dupont", "J.-P. Dupont"),
    ("Conan O'Brien", "Conan O’Brien"),  # either apostrophe
    ("Lukasz Kaiser", "Łukasz Kaiser"),  # letters with a stroke, which no accent mark makes
    ("Soren Hauberg", "Søren Hauberg"),
    ("Dinh Phung", "Đinh Phùng"),
    ("Aesa Lind", "Æsa Lind"),
    ("Yann LeCun", "Yann LeCun Jr."),
    ("LeCun", "Alan LeCun"),  # a surname alone follows everyone of that name
])
def test_names_that_are_the_same_person_match(followed: str, listed: str) -> None:
    assert same_person(followed, listed)


@pytest.mark.parametrize(("followed", "listed"), [
    ("Yann LeCun", "A. LeCun"),  # the same surname, another initial
    ("Yann LeCun", "Alan LeCun"),
    ("Yann LeCun", "Yannick LeCun"),  # two given names written out must be equal
    ("Yann LeCun", "Yann Lecunn"),
    ("Ann Lee", "Mary Ann Lee"),  # "Ann" is a middle name there, not the first given name
    ("Yann LeCun", "LeCun Yann"),  # family name first without a comma is not turned round
])
def test_names_of_different_people_do_not_match(followed: str, listed: str) -> None:
    assert not same_person(followed, listed)


@pytest.mark.parametrize(("followed", "listed"), [
    ("Jürgen Schmidhuber", "Juergen Schmidhuber"),  # German writes ü as ue without the letter
    ("Juergen Schmidhuber", "Jürgen Schmidhuber"),
    ("Juergen Schmidhuber", "J\u0075\u0308rgen Schmidhuber"),  # ü as u and a combining mark
    ("Kurt Goedel", "K. Gödel"),
    ("Jürgen Müller", "J. Mueller"),
    ("Bernhard Schölkopf", "SCHOELKOPF, Bernhard"),
])
def test_a_name_with_an_umlaut_matches_its_german_spelling_with_an_e(followed: str, listed: str) -> None:
    assert same_person(followed, listed)


@pytest.mark.parametrize(("followed", "listed"), [
    ("Juergen Schmidhuber", "Jurgen Schmidhuber"),  # neither has an umlaut: "ue" is read as written
    ("Yu Zhang", "Yue Zhang"),  # so two Chinese names are never taken for one
    ("Wei Xu", "Wei Xue"),
    ("Jürgen Müller", "Jürgen Muell"),
])
def test_an_e_after_a_vowel_is_not_an_umlaut_unless_one_of_the_names_has_one(followed: str, listed: str) -> None:
    assert not same_person(followed, listed)


@pytest.mark.parametrize(("followed", "listed"), [
    ("van der Berg", "Pieter van der Berg"),  # particles in lower case, then a name: a surname alone
    ("van der Berg", "P. Van Der Berg"),
    ("van der Berg", "Anna vanderBerg"),
    ("de la Cruz", "María de la Cruz"),
    ("von Neumann", "John von Neumann"),
    ("von Neumann", "von Neumann, J."),
    ("García Márquez,", "Gabriel García Márquez"),  # "Family," with no given name: the family name alone
    ("García Márquez,", "García Márquez, G."),
    ("García-Márquez", "Gabriel García Márquez"),  # one hyphenated word, as one word alone
    ("Le Song", "L. Song"),  # a capitalised particle may be a given name: read both ways
    ("Le Song", "Song, Le"),
    ("Van Der Berg", "Pieter van der Berg"),
])
def test_a_family_name_of_several_words_followed_alone_matches_any_given_name(followed: str, listed: str) -> None:
    assert same_person(followed, listed)


@pytest.mark.parametrize(("followed", "listed"), [
    ("van der Berg", "V. Berg"),  # a particle in lower case is part of the family name, never a given name
    ("van der Berg", "Pieter Berg"),
    ("van der Berg", "Pieter van den Berg"),
    ("von Neumann", "V. Neumann"),
    ("García Márquez,", "Gabriel Márquez"),
    ("García Márquez,", "Gabriel García"),
    ("García-Márquez", "Gabriel García"),
    ("García Márquez", "Gabriel García Márquez"),  # no comma: a given name and a family name, as "Ann Lee"
])
def test_a_family_name_followed_alone_does_not_match_part_of_it_or_another(followed: str, listed: str) -> None:
    assert not same_person(followed, listed)


@pytest.mark.parametrize(("followed", "listed"), [
    ("Jane Doe", "Jane Doe (MIT)"),
    ("Jane Doe", "Jane Doe [Stanford University]"),
    ("Jane Doe", "Jane Doe (MIT"),  # cut off in the listing
    ("Jane Doe (MIT)", "J. Doe"),
    ("Jane Doe", "Jane Doe1,2"),  # footnote marks
])
def test_an_affiliation_in_brackets_beside_a_name_is_not_part_of_it(followed: str, listed: str) -> None:
    assert same_person(followed, listed)


@pytest.mark.parametrize(("followed", "listed"), [
    ("MIT", "Jane Doe (MIT)"),  # a surname alone never matches an affiliation's words
    ("Jane Doe", "Jane Roe (Doe Lab)"),
    ("Jane Lab", "Jane Doe (Doe Lab)"),
])
def test_an_affiliations_words_never_match_a_followed_name(followed: str, listed: str) -> None:
    assert not same_person(followed, listed)


@pytest.mark.parametrize(("followed", "organization", "matches"), [
    ("Meta AI", "Meta AI", True),
    ("meta ai", "META AI", True),
    ("Meta", "AI at Meta", True),  # a name given that appears in it, as whole words
    ("Meta", "Metabolic Lab", False),
    ("DeepMind", "Google DeepMind", True),
    ("Google Research", "Google DeepMind", False),
    ("Zürich Lab", "ETH Zurich Lab", True),
])
def test_organisations_match_whole_words_without_regard_to_case(followed: str, organization: str,
                                                                 matches: bool) -> None:
    assert org_matches(followed, organization) is matches


# ranking --------------------------------------------------------------------------------------------

def test_a_followed_authors_paper_is_picked_without_any_keyword_match_and_says_by_whom() -> None:
    picks = picks_of(FOLLOWER)
    ids = [p.paper.id for p in picks]

    assert ids[:3] == ["2611.00001", "2611.00007", "2611.00003"]  # followed first: all score 0; upvotes, then title
    assert {p.paper.id: p.followed for p in picks[:3]} == {
        "2611.00001": "by Yann LeCun", "2611.00003": "from AI at Meta", "2611.00007": "by LeCun, Y."}
    assert all(p.score == 0 and not p.matched for p in picks[:3])
    assert "2611.00002" not in ids  # Alan LeCun is somebody else
    assert set(ids[3:]) == {"2611.00004", "2611.00005", "2611.00006"} and not any(p.followed for p in picks[3:])
    assert [p.rank for p in picks] == list(range(1, len(picks) + 1))


def test_followed_papers_come_first_even_below_min_score() -> None:
    picks = picks_of(FOLLOWER, min_score=1000)
    assert [p.paper.id for p in picks] == ["2611.00001", "2611.00007", "2611.00003"]


def test_followed_and_keyword_picks_together_are_capped_at_max_items() -> None:
    assert [p.paper.id for p in picks_of(FOLLOWER, max_items=2)] == ["2611.00001", "2611.00007"]
    four = picks_of(FOLLOWER, max_items=4)
    assert [p.paper.id for p in four][:3] == ["2611.00001", "2611.00007", "2611.00003"]
    assert len(four) == 4 and four[3].paper.id in {"2611.00004", "2611.00005", "2611.00006"}


def test_a_followed_paper_that_also_matches_is_listed_once_first_with_both_reasons() -> None:
    reader = Subscriber("ada@example.org", ("diffusion",), authors=("Lovelace, A.",))
    picks = picks_of(reader)
    assert picks[0].paper.id == "2611.00004" and picks[0].followed == "by Ada Lovelace"
    assert [m.keyword for m in picks[0].matched] == ["diffusion"]
    assert [p.paper.id for p in picks].count("2611.00004") == 1


def test_a_papers_several_followed_authors_and_its_lab_are_all_named() -> None:
    reader = Subscriber("ada@example.org", ("diffusion",), authors=("Y. LeCun", "Bottou, Léon"), orgs=("Meta",))
    paper = make_paper("World models", "Plan in latent space.", id="2611.00010",
                       authors=["Yann LeCun", "Léon Bottou"], organization="AI at Meta")
    [pick] = picks_of(reader, [paper])
    assert pick.followed == "by Yann LeCun, Léon Bottou; from AI at Meta"


def test_exclusions_and_papers_sent_before_still_apply_to_followed_authors() -> None:
    reader = Subscriber("ada@example.org", ("diffusion", "-world model"), authors=("Yann LeCun",))
    index = Index(LISTING)
    picks = rank(index, parse_profile(reader.keywords), sent={"2611.00007"},
                 selection=Selection(max_items=20, min_score=0.5), follows=follows_of(reader))
    ids = [p.paper.id for p in picks]
    assert "2611.00001" not in ids and "2611.00007" not in ids


def test_the_count_of_matches_includes_the_followed_papers() -> None:
    index, profile = Index(LISTING), parse_profile(FOLLOWER.keywords)
    follows = follows_of(FOLLOWER)
    assert count_matches(index, profile, min_score=0.5, follows=follows) == 6
    assert count_matches(index, profile, min_score=0.5) == 3


def test_a_hugging_face_user_name_follows_the_authors_who_claimed_the_paper() -> None:
    item = {"paper": {"id": "2611.00011", "title": "Latent planning", "summary": "Plans in latent space.",
                      "authors": [{"_id": "a", "name": "Yann LeCun", "hidden": False,
                                   "user": {"_id": "u", "fullname": "Yann LeCun", "user": "ylecun", "type": "user"}},
                                  {"_id": "b", "name": "Ada Lovelace", "hidden": False}]},
            "title": "Latent planning"}
    [paper] = parse_listing(json.dumps([item]).encode(), "daily.json").papers
    assert paper.hf_users == ("ylecun",)
    [pick] = picks_of(Subscriber("ada@example.org", ("diffusion",), authors=("@YLeCun",)), [paper])
    assert pick.paper.id == "2611.00011" and pick.followed == "by @YLeCun"


def test_hf_user_names_round_trip_and_older_stored_papers_without_them_still_load() -> None:
    paper = make_paper("Latent planning", "Plans.", id="2611.00011", authors=["Yann LeCun"], hf_users=("ylecun",))
    assert paper_from_stored(json.loads(json.dumps(paper.to_json()))) == paper
    [again] = parse_listing((json.dumps(paper.to_json()) + "\n").encode(), "again.jsonl").papers
    assert again.hf_users == ("ylecun",)
    older = {k: v for k, v in paper.to_json().items() if k != "hf_users"}
    assert paper_from_stored(older).hf_users == ()
    assert "hf_users" not in make_paper("T", "A").to_json()  # only when there are some: old copies unchanged


# readers who follow nobody ----------------------------------------------------------------------

def test_a_reader_who_follows_nobody_gets_exactly_the_keyword_ranking_and_costs_nothing() -> None:
    index = Index(LISTING)
    profile, selection = parse_profile(PLAIN.keywords), Selection(max_items=20, min_score=0.5)
    plain = rank(index, profile, selection=selection)
    assert follows_of(PLAIN) is None
    assert rank(index, profile, selection=selection, follows=follows_of(PLAIN)) == plain
    assert rank(index, profile, selection=selection, follows=Follows()) == plain
    assert "follows" not in index.cache  # no name was read, nothing was looked up


def test_many_readers_forked_or_not_get_the_same_picks_and_reasons() -> None:
    readers = [FOLLOWER, PLAIN] * 3
    args = ([parse_profile(r.keywords) for r in readers], None, [Selection(max_items=5, min_score=0.5)] * 6, None,
            [follows_of(r) for r in readers])
    serial = rank_many(Index(LISTING), *args)
    forked = rank_many(Index(LISTING), *args, workers=2, parallel_min=2)
    assert forked == serial
    assert serial[0][0].followed == "by Yann LeCun" and not any(p.followed for p in serial[1])


# the email --------------------------------------------------------------------------------------------

def test_the_email_says_why_escaped_in_html_and_plain_in_text() -> None:
    paper = make_paper("Speech at scale", "Bigger models.", id="2611.00012", organization='Meta <AI> & "Friends"')
    reader = Subscriber("ada@example.org", ("diffusion",), orgs=("Meta",))
    picks = picks_of(reader, [paper, *LISTING[3:6]])
    rendered = Renderer().render(reader, picks, day=DAY, unsubscribe="mailto:digest@example.com")

    assert 'Followed: from Meta &lt;AI&gt; &amp; &#34;Friends&#34;' in rendered.html
    assert "<AI>" not in rendered.html
    assert 'Followed: from Meta <AI> & "Friends"' in rendered.text
    text_item = rendered.text.split("1. Speech at scale", 1)[1].split("\n2. ", 1)[0]
    assert "Matched:" not in text_item  # no keyword matched: no "related to your keywords" either


def test_a_followed_authors_paper_is_sent_by_email(server, inbox, tmp_path: Path) -> None:
    listing = tmp_path / "listing.jsonl"
    listing.write_text("".join(json.dumps(p.to_json()) + "\n" for p in LISTING), encoding="utf-8")
    settings = load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
        "DIGEST_MIN_SCORE": "0.5", "DIGEST_MAX_ITEMS": "4"})

    report = Digest(settings, clock=lambda: NOW).send([FOLLOWER, PLAIN], source=str(listing))

    assert sorted(report.sent) == ["ada@example.org", "bob@example.org"]
    [ada] = inbox.to("ada@example.org")
    text, html = ada.get_body(("plain",)).get_content(), ada.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Self-supervised world models for planning" in body and "Followed: by Yann LeCun" in body
        assert "Followed: from AI at Meta" in body
    assert "and the papers of " + ", ".join((*FOLLOWER.authors, *FOLLOWER.orgs)) in " ".join(text.split())  # the foot
    [bob] = inbox.to("bob@example.org")
    assert "Followed" not in bob.get_body(("plain",)).get_content()
    assert "and the papers of" not in bob.get_body(("plain",)).get_content()
    assert "world models" not in bob.get_body(("plain",)).get_content()


# digest rank ---------------------------------------------------------------------------------------

def write_listing(tmp_path: Path) -> Path:
    path = tmp_path / "listing.jsonl"
    path.write_text("".join(json.dumps(p.to_json()) + "\n" for p in LISTING), encoding="utf-8")
    return path


def test_digest_rank_shows_the_followed_pick_and_why(run_cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "subscribers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["diffusion"]\n'
        'authors = ["LeCun, Yann"]\norgs = ["meta"]\nmin_score = 0.5\n', encoding="utf-8")
    listing = str(write_listing(tmp_path))

    code, out, err = run_cli("rank", "--source", listing, "--subscribers", "subscribers.toml")
    assert code == 0, err
    first = out.splitlines()[1]
    assert "Self-supervised world models for planning" in first and first.rstrip().endswith("by Yann LeCun")
    assert "from AI at Meta" in out

    code, out, err = run_cli("rank", "--source", listing, "--subscribers", "subscribers.toml", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["followed"] == "by Yann LeCun" and rows[0]["matched"] == []
    assert rows[-1]["followed"] is None


def test_digest_rank_uses_the_follows_a_reader_saved_on_the_web(run_cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    (tmp_path / "subscribers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["diffusion"]\nmin_score = 0.5\n', encoding="utf-8")
    listing = str(write_listing(tmp_path))
    code, out, _ = run_cli("rank", "--source", listing, "--subscribers", "subscribers.toml")
    assert code == 0 and "by Yann LeCun" not in out
    with Store.open(tmp_path / "state.db") as store:
        store.save_preferences("ada@example.org", keywords=["diffusion"], max_items=None, frequency="run",
                               status="active", authors=["Yann LeCun"], orgs=[])

    code, out, err = run_cli("rank", "--source", listing, "--subscribers", "subscribers.toml")

    assert code == 0, err
    assert out.splitlines()[1].rstrip().endswith("by Yann LeCun")  # as the next send will rank them


# the subscribers file ----------------------------------------------------------------------------------

def subscribers(tmp_path: Path, lines: str) -> Path:
    path = tmp_path / "subscribers.toml"
    path.write_text(f'[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["diffusion"]\n{lines}\n',
                    encoding="utf-8")
    return path


def test_the_subscribers_file_reads_authors_and_orgs(tmp_path: Path) -> None:
    [reader] = load_subscribers(subscribers(tmp_path, 'authors = ["Yann  LeCun", "@ylecun", "Yann LeCun"]\n'
                                                      'orgs = ["Meta AI"]'))
    assert reader.authors == ("Yann LeCun", "@ylecun") and reader.orgs == ("Meta AI",)
    [nobody] = load_subscribers(subscribers(tmp_path, ""))
    assert nobody.authors == () and nobody.orgs == ()


@pytest.mark.parametrize(("line", "problem"), [
    ('authors = "Yann LeCun"', 'authors = "Yann LeCun" is text; write a list: authors = ["Yann LeCun"]'),
    ("authors = true", "authors must be a list of names, e.g. authors = "),
    ("authors = [1, 2]", "authors must be a list of names, e.g. authors = "),
    ('orgs = {name = "Meta"}', "orgs must be a list of names, e.g. orgs = "),
    ('orgs = "Meta AI"', 'orgs = "Meta AI" is text; write a list: orgs = ["Meta AI"]'),
    ('authors = ["  "]', "authors: an empty name"),
    ('authors = ["@@ylecun"]', 'authors: "@@ylecun" is not a Hugging Face user name'),
    ('authors = ["42"]', 'authors: "42" is not a name'),
    ('orgs = ["..."]', 'orgs: "..." is not an organisation name'),
    ('authors = ["Yann\\u202eLeCun"]', "authors: 'Yann\\u202eLeCun' has control characters"),
])
def test_bad_authors_or_orgs_are_one_line_naming_the_reader_and_the_fix(tmp_path: Path, line: str,
                                                                          problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_subscribers(subscribers(tmp_path, line))
    message = str(info.value)
    assert "subscriber 1: ada@example.org: " + problem in message and "\n" not in message


def test_the_cli_reports_a_bad_authors_field_in_one_line(run_cli, tmp_path: Path) -> None:
    subscribers(tmp_path, 'authors = "Yann LeCun"')
    code, out, err = run_cli("rank", "--source", str(write_listing(tmp_path)), "--subscribers", "subscribers.toml")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("digest: error: ") and "Traceback" not in err
    assert 'authors = "Yann LeCun" is text' in err


# the store, on both engines ------------------------------------------------------------------------

def test_the_readers_own_follows_are_kept_and_left_alone_when_not_given(state_db: Path) -> None:
    with Store.open(state_db) as store:
        store.save_preferences("ada@example.org", keywords=["diffusion"], max_items=None, frequency="run",
                               status="active")
        assert store.reader_state("ada@example.org").authors is None  # type: ignore[union-attr]
        store.save_preferences("ada@example.org", keywords=["diffusion"], max_items=None, frequency="run",
                               status="active", authors=["Léon Bottou", "@ylecun"], orgs=["Meta"])
        store.save_preferences("ada@example.org", keywords=["graphs"], max_items=None, frequency="run",
                               status="active")  # a caller that does not know of follows keeps them
        state = store.reader_state("ada@example.org")
        assert state is not None and state.keywords == ("graphs",)
        assert state.authors == ("Léon Bottou", "@ylecun") and state.orgs == ("Meta",)
        store.save_preferences("ada@example.org", keywords=["graphs"], max_items=None, frequency="run",
                               status="active", authors=[], orgs=[])
        state = store.reader_state("ada@example.org")
        assert state is not None and state.authors == () and state.orgs == ()


def test_names_written_last_first_are_told_apart_in_the_followed_line_and_the_footer() -> None:
    from digest.ranking.authors import reason
    from digest.render import Renderer

    assert reason(["Liskov, B.", "Hopper, G."], ["MIT"]) == "by Liskov, B.; Hopper, G.; from MIT"
    assert reason(["Barbara Liskov", "Grace Hopper"], []) == "by Barbara Liskov, Grace Hopper"
    reader = Subscriber("ada@example.org", ("exploration",), authors=("LeCun, Y.", "Bottou, L."))
    text = Renderer().render(reader, [], day=date(2026, 8, 13), unsubscribe="").text
    assert "and the papers of LeCun, Y.; Bottou, L." in " ".join(text.split())
