"""Votes reach the ranker: `digest feedback`, the web app's feedback links, `rank`, `preview` and `send`.

Yesterday's listing has the papers the reader votes on; today's has two papers with
the same keyword score ("benchmark"): a close relative of the voted paper and an
unrelated one. A vote moves the relative, after yesterday's listing is gone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from digest.model import Paper, make_paper
from digest.store import Store

from .test_learn import LEGAL, LISTING, PROTEIN

ADA = "ada@example.org"
# yesterday's papers: close relatives of today's LEGAL and PROTEIN, not in today's listing
OLD_LEGAL = make_paper("Legal contract retrieval with clause queries",
                       "Clause queries over legal contracts and court citation graphs improve retrieval.",
                       id="2602.07001")
OLD_PROTEIN = make_paper("Protein structure prediction from folding targets",
                         "Residue contact maps and folding targets improve protein structure prediction "
                         "on a new benchmark.",
                         id="2602.07002")
ROSTER = f'[[subscribers]]\nemail = "{ADA}"\nkeywords = ["benchmark"]\nmin_score = 0\n' \
         '\n[[subscribers]]\nemail = "bo@example.org"\nkeywords = ["benchmark"]\nmin_score = 0\n'


def write_listing(path: Path, papers: list[Paper]) -> Path:
    path.write_text("".join(json.dumps(p.to_json()) + "\n" for p in papers), encoding="utf-8")
    return path


@pytest.fixture
def days(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(yesterday's listing, today's listing), a roster and a state database in tmp_path."""
    (tmp_path / "readers.toml").write_text(ROSTER, encoding="utf-8")
    monkeypatch.setenv("DIGEST_SUBSCRIBERS", str(tmp_path / "readers.toml"))
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    yesterday = write_listing(tmp_path / "yesterday.jsonl", [OLD_LEGAL, OLD_PROTEIN, *LISTING[2:]])
    today = write_listing(tmp_path / "today.jsonl", LISTING)
    return str(yesterday), str(today)


def ranked(run_cli, today: str, *who: str) -> list[dict]:
    code, out, err = run_cli("rank", "--source", today, *who, "--json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_without_votes_the_two_benchmark_papers_tie_and_legal_comes_first(days, run_cli) -> None:
    rows = ranked(run_cli, days[1], "--subscriber", ADA)
    assert [r["id"] for r in rows[:2]] == [LEGAL.id, PROTEIN.id] and rows[0]["score"] == rows[1]["score"]
    assert {r["subscriber"] for r in rows} == {ADA}


def test_a_like_from_the_command_line_lifts_a_near_duplicate_and_says_why(days, run_cli) -> None:
    yesterday, today = days
    code, out, err = run_cli("feedback", "--reader", ADA, "--source", yesterday, "--like", OLD_PROTEIN.id)
    assert code == 0, err
    assert out == f"liked by {ADA}: {OLD_PROTEIN.id}  {OLD_PROTEIN.title}\n"

    rows = ranked(run_cli, today, "--subscriber", ADA)
    assert (rows[0]["id"], rows[0]["because"]) == (PROTEIN.id, f"like '{OLD_PROTEIN.title}'")
    assert rows[0]["score"] > rows[1]["score"]
    others = ranked(run_cli, today, "--subscriber", "bo@example.org")
    assert others[0]["id"] == LEGAL.id, "one reader's votes never move another's ranking"


def test_a_dislike_from_the_command_line_demotes_a_near_duplicate(days, run_cli) -> None:
    yesterday, today = days
    plain = {r["id"]: r["score"] for r in ranked(run_cli, today, "--subscriber", ADA)}
    code, out, err = run_cli("feedback", "--reader", ADA, "--source", yesterday, "--dislike", OLD_LEGAL.id)
    assert code == 0, err
    assert out == f"disliked by {ADA}: {OLD_LEGAL.id}  {OLD_LEGAL.title}\n"

    rows = ranked(run_cli, today, "--subscriber", ADA)
    assert rows[0]["id"] == PROTEIN.id
    assert {r["id"]: r["score"] for r in rows}.get(LEGAL.id, 0.0) < plain[LEGAL.id]


def test_keywords_on_the_command_line_rank_with_that_readers_votes(days, run_cli) -> None:
    yesterday, today = days
    run_cli("feedback", "--reader", ADA, "--source", yesterday, "--like", OLD_PROTEIN.id)
    rows = ranked(run_cli, today, "--keywords", "benchmark", "--subscriber", ADA)
    assert rows[0]["id"] == PROTEIN.id and rows[0]["because"] == f"like '{OLD_PROTEIN.title}'"


def test_the_preview_ranks_with_the_readers_votes(days, run_cli, tmp_path) -> None:
    yesterday, today = days
    run_cli("feedback", "--reader", ADA, "--source", yesterday, "--like", OLD_PROTEIN.id)
    code, _, err = run_cli("preview", "--source", today, "--subscriber", ADA, "--output", str(tmp_path / "ada.html"))
    html = (tmp_path / "ada.html").read_text(encoding="utf-8")
    assert code == 0, err
    assert html.index(PROTEIN.title) < html.index(LEGAL.title)


def test_votes_show_in_readers_show_with_title_direction_and_time(days, run_cli) -> None:
    yesterday, _ = days
    run_cli("feedback", "--reader", ADA, "--source", yesterday, "--like", f"{OLD_LEGAL.id},{OLD_PROTEIN.id}")
    run_cli("feedback", "--reader", ADA, "--source", yesterday, "--dislike", f"https://arxiv.org/abs/{OLD_PROTEIN.id}v2")

    code, out, err = run_cli("readers", "show", ADA)

    assert code == 0, err
    votes = json.loads(out)["votes"]
    assert sorted((v["title"], v["vote"]) for v in votes) == [(OLD_LEGAL.title, 1), (OLD_PROTEIN.title, -1)]
    assert all(v["at"] and v["abstract"] for v in votes), "kept with the vote: it works after the listing is gone"


@pytest.mark.parametrize("argv,problem", [
    (["--like", f"{OLD_LEGAL.id},2699.99999"], "2699.99999: not in "),
    (["--dislike", "2699.99999,nonsense"], "2699.99999, nonsense: not in "),
    (["--like", ",".join(f"2699.{n:05d}" for n in range(10_000))],
     "2699.00000, 2699.00001, 2699.00002, 2699.00003, 2699.00004 and 9995 more: not in "),
])
def test_an_id_not_in_the_listing_is_one_line_naming_it_and_nothing_is_recorded(days, run_cli, tmp_path,
                                                                                   argv, problem) -> None:
    code, out, err = run_cli("feedback", "--reader", ADA, "--source", days[0], *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and problem in err and "nothing recorded" in err
    assert not (tmp_path / "state.db").exists() or _votes(tmp_path, ADA) == []


def test_an_unknown_reader_is_one_line_and_nothing_is_recorded(days, run_cli, tmp_path) -> None:
    code, out, err = run_cli("feedback", "--reader", "eve@example.org", "--source", days[0], "--like", OLD_LEGAL.id)
    assert code == 1 and out == ""
    assert err == "digest: error: no reader eve@example.org in the roster or the state store; " \
                  "check the address (digest readers list)\n"
    assert not (tmp_path / "state.db").exists() or _votes(tmp_path, "eve@example.org") == []


def test_a_reader_known_only_to_the_store_may_vote(days, run_cli, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DIGEST_SUBSCRIBERS")
    with Store.open(tmp_path / "state.db") as store:
        store.set_status("web@example.org", "active")
    code, _, err = run_cli("feedback", "--reader", "Web@Example.org", "--source", days[0], "--like", OLD_LEGAL.id)
    assert code == 0, err
    assert [v.paper_id for v in _votes(tmp_path, "web@example.org")] == [OLD_LEGAL.id]


def test_like_and_dislike_together_is_a_usage_error(days, run_cli) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_cli("feedback", "--reader", ADA, "--source", days[0], "--like", OLD_LEGAL.id, "--dislike", OLD_PROTEIN.id)
    assert stopped.value.code == 2


def _votes(tmp_path: Path, email: str) -> list:
    with Store.open(tmp_path / "state.db") as store:
        return store.votes(email)


# the web app's feedback links ------------------------------------------------------------------

def test_a_vote_through_the_web_app_keeps_the_abstract_and_changes_the_next_rank(days, run_cli, tmp_path,
                                                                               monkeypatch, server, inbox) -> None:
    """Yesterday's digest went out (the send keeps the papers' texts); Ada clicks "more like this" on it."""
    from .web_server import csrf_of, running

    yesterday, today = days
    for key, value in {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port),
                       "DIGEST_SMTP_SECURITY": "none", "DIGEST_FROM": "digest@example.com"}.items():
        monkeypatch.setenv(key, value)
    code, _, err = run_cli("send", "--source", yesterday, "--subscriber", ADA)
    assert code == 0, err
    assert OLD_PROTEIN.title in inbox.messages[0].get_body(("plain",)).get_content()

    with running(tmp_path) as web, httpx.Client(timeout=10) as client:
        link = web.links(ADA, (OLD_PROTEIN.id,)).feedback[OLD_PROTEIN.id].up
        page = client.get(link)
        assert OLD_PROTEIN.title in page.text
        assert client.post(link, data={"csrf": csrf_of(page.text), "vote": "up"}).status_code == 200

    [vote] = _votes(tmp_path, ADA)
    assert (vote.title, vote.abstract, vote.vote) == (OLD_PROTEIN.title, OLD_PROTEIN.abstract, 1)
    rows = ranked(run_cli, today, "--subscriber", ADA)
    assert (rows[0]["id"], rows[0]["because"]) == (PROTEIN.id, f"like '{OLD_PROTEIN.title}'")


# send, with the forked producer --------------------------------------------------------------

def test_a_big_send_built_by_the_forked_producer_ranks_with_each_readers_votes(days, run_cli, tmp_path) -> None:
    """`digest send` in its own single-threaded process forks the producer for 200+ readers."""
    from digest.app import PRODUCER_MIN

    yesterday, today = days
    readers = [f"reader{n}@example.org" for n in range(PRODUCER_MIN + 5)]
    roster = tmp_path / "many.toml"
    roster.write_text("".join(f'[[subscribers]]\nemail = "{e}"\nkeywords = ["benchmark"]\nmin_score = 1\n\n'
                              for e in readers), encoding="utf-8")
    code, _, err = run_cli("feedback", "--subscribers", str(roster), "--reader", readers[7],
                           "--source", yesterday, "--like", OLD_PROTEIN.id)
    assert code == 0, err
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
           "DIGEST_FROM": "digest@example.com", "DIGEST_SUBSCRIBERS": str(roster),
           "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    done = subprocess.run([sys.executable, "-m", "digest", "-v", "send", "--source", today, "--dry-run",
                           "--outbox", str(tmp_path / "outbox")], env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert f"building {len(readers)} messages in a second process" in done.stderr
    assert _first_title(tmp_path / "outbox", readers[7]) == PROTEIN.title
    assert _first_title(tmp_path / "outbox", readers[8]) == LEGAL.title


def _first_title(outbox: Path, email: str) -> str:
    [path] = outbox.glob(f"*-{email}.eml")
    text = message_from_bytes(path.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    return min((text.index(t), t) for t in (LEGAL.title, PROTEIN.title))[1]
