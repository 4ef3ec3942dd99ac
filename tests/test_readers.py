"""Readers in the state store, the roster merged with them, and `digest readers`."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from digest.model import Subscriber, make_paper
from digest.readers import effective_readers, suppressed
from digest.store import Store, Vote

MONDAY, TUESDAY = date(2026, 11, 23), date(2026, 11, 24)
ADA = Subscriber("ada@example.org", ("reward model*",), name="Ada", max_items=10)
BOB = Subscriber("Bob@Example.org", ("diffusion",))


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "state.db") as opened:
        yield opened


def emails(readers: list[Subscriber]) -> list[str]:
    return [r.email for r in readers]


def test_without_web_changes_the_roster_is_unchanged(store: Store) -> None:
    assert effective_readers([ADA, BOB], store, MONDAY) == [ADA, BOB]


@pytest.mark.parametrize("status", ["unsubscribed", "paused", "pending"])
def test_unsubscribed_paused_and_pending_readers_get_nothing(store: Store, status: str) -> None:
    store.set_status("bob@example.org", status)
    assert emails(effective_readers([ADA, BOB], store, MONDAY)) == ["ada@example.org"]
    assert suppressed(store, "BOB@example.org")
    assert not suppressed(store, "ada@example.org")


def test_the_readers_own_keywords_and_max_items_win_over_the_file(store: Store) -> None:
    store.save_preferences("ada@example.org", keywords=["graphs", "-survey"], max_items=4, frequency="run",
                           status="active")
    [ada] = effective_readers([ADA], store, MONDAY)
    assert (ada.keywords, ada.max_items, ada.name) == (("graphs", "-survey"), 4, "Ada")


def test_weekly_readers_get_the_digest_once_a_week_on_their_day(store: Store) -> None:
    store.save_preferences("ada@example.org", keywords=["graphs"], max_items=None, frequency="mon", status="active")
    got_monday = {"ada@example.org": MONDAY}
    assert emails(effective_readers([ADA], store, MONDAY)) == ["ada@example.org"]
    assert effective_readers([ADA], store, TUESDAY, got_monday) == []
    assert emails(effective_readers([ADA], store, MONDAY + timedelta(days=7), got_monday)) == ["ada@example.org"]
    assert effective_readers([ADA], store, MONDAY)[0].max_items == 10  # not edited: the file's


def test_a_weekly_digest_missed_on_its_day_goes_out_at_the_next_run(store: Store) -> None:
    # Saturday under a Monday-to-Friday schedule: the week arrives on Monday, once
    store.save_preferences("ada@example.org", keywords=["graphs"], max_items=None, frequency="sat", status="active")
    got_last_monday = {"ada@example.org": MONDAY - timedelta(days=7)}
    assert effective_readers([ADA], store, MONDAY - timedelta(days=3), got_last_monday) == []  # Friday
    assert emails(effective_readers([ADA], store, MONDAY, got_last_monday)) == ["ada@example.org"]
    assert effective_readers([ADA], store, TUESDAY, {"ada@example.org": MONDAY}) == []
    assert emails(effective_readers([ADA], store, TUESDAY)) == ["ada@example.org"]  # never had one: the next run


def test_confirmed_web_signups_are_added(store: Store) -> None:
    assert store.request_signup("new@example.org", "rid1", ["graphs"])
    assert emails(effective_readers([ADA], store, MONDAY)) == ["ada@example.org"]  # pending
    assert store.confirm_signup("new@example.org")
    assert effective_readers([ADA], store, MONDAY)[1] == Subscriber("new@example.org", ("graphs",))


def test_re_adding_an_unsubscribed_address_to_the_file_does_not_resume(store: Store) -> None:
    store.set_status("ada@example.org", "unsubscribed", by="web")
    assert effective_readers([ADA], store, MONDAY) == []
    assert effective_readers([ADA, ADA], store, MONDAY) == []
    store.set_status("ada@example.org", "active")
    assert effective_readers([ADA], store, MONDAY) == [ADA]


def test_each_change_is_logged_with_its_time(store: Store) -> None:
    store.set_status("ada@example.org", "paused")
    store.set_status("ada@example.org", "paused")  # no change, no entry
    store.set_status("ada@example.org", "unsubscribed", by="web")
    changes = store.reader_changes("ada@example.org")
    assert [c for _, c in changes] == ["status active -> paused (operator)", "status paused -> unsubscribed (web)"]
    assert all(at.endswith("+00:00") for at, _ in changes)


def test_a_later_vote_on_a_paper_replaces_the_earlier_one(store: Store) -> None:
    paper = make_paper("Reward Models", "We study reward models.", id="2401.00001")
    other = make_paper("Diffusion", "Noise.", id="2401.00002")
    store.record_vote("ada@example.org", paper, 1)
    store.record_vote("ada@example.org", other, 1)
    store.record_vote("ADA@example.org", paper, -1)
    votes = store.votes("ada@example.org")
    assert sorted((v.paper_id, v.vote) for v in votes) == [("2401.00001", -1), ("2401.00002", 1)]
    assert isinstance(votes[0], Vote) and {v.abstract for v in votes} == {"We study reward models.", "Noise."}
    with pytest.raises(ValueError):
        store.record_vote("ada@example.org", paper, 2)


def test_the_archive_keeps_archive_days_and_prunes_on_write(store: Store) -> None:
    store.archive("ada@example.org", "<old@x>", date(2026, 1, 1), "<p>old</p>", keep_days=90)
    store.archive("ada@example.org", "<new@x>", date(2026, 11, 23), "<p>new</p>", keep_days=90)
    assert store.archived("ada@example.org", "2026-11-23") == "<p>new</p>"
    assert store.archived("ada@example.org", "2026-01-01") is None


def test_the_rate_limit_counts_per_key_and_period(store: Store) -> None:
    assert [store.hit("client:1.2.3.4", "2026-11-23T10", 2) for _ in range(3)] == [True, True, False]
    assert store.hit("client:1.2.3.4", "2026-11-23T11", 2)
    assert store.hit("client:5.6.7.8", "2026-11-23T10", 2)


def test_the_rate_limit_prunes_by_the_callers_clock_not_the_machines(store: Store) -> None:
    # a period years away from today still counts (the test passes on any date)
    assert [store.hit("signup:a@x.org", "2031-01-05", 1) for _ in range(2)] == [True, False]
    # three days later the old counter is stale and pruned
    assert store.hit("signup:b@x.org", "2031-01-08", 1)
    assert store.db.execute("SELECT count(*) FROM counters WHERE period = '2031-01-05'").fetchone()[0] == 0


# digest readers ---------------------------------------------------------------------------

@pytest.fixture
def roster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "subscribers.toml"
    path.write_text('[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["reward model*"]\n\n'
                    '[[subscribers]]\nemail = "bob@example.org"\nkeywords = ["diffusion"]\n')
    monkeypatch.setenv("DIGEST_SUBSCRIBERS", str(path))
    monkeypatch.setenv("DIGEST_STATE_DB", str(tmp_path / "state.db"))
    return path


def test_readers_list_shows_the_roster_with_web_changes(run_cli, roster: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.set_status("bob@example.org", "unsubscribed", by="web")
        store.request_signup("web@example.org", "rid", ["graphs"])
    code, out, err = run_cli("readers", "list")
    assert code == 0 and "3 reader(s)" in err
    lines = {line.split()[0]: line.split()[1:4] for line in out.splitlines()[1:]}
    assert lines == {"ada@example.org": ["active", "file", "run"], "bob@example.org": ["unsubscribed", "file", "run"],
                     "web@example.org": ["pending", "web", "run"]}


def test_pause_and_resume_round_trip_and_resume_says_so(run_cli, roster: Path, tmp_path: Path) -> None:
    assert run_cli("readers", "pause", "ada@example.org")[0] == 0
    with Store.open(tmp_path / "state.db") as store:
        assert store.reader_status("ada@example.org") == "paused"
        store.set_status("bob@example.org", "unsubscribed", by="web")
    code, out, _ = run_cli("readers", "resume", "bob@example.org")
    assert code == 0 and out.strip() == "resumed: bob@example.org gets the next digest (was unsubscribed)"
    with Store.open(tmp_path / "state.db") as store:
        assert store.reader_status("bob@example.org") == "active"
    code, out, _ = run_cli("readers", "resume", "bob@example.org")  # again: nothing to lift
    assert code == 0 and out.strip() == "resumed: bob@example.org gets the next digest (it was active already)"


def test_show_and_export_print_everything_stored_as_json(run_cli, roster: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_vote("ada@example.org", make_paper("T", "A", id="2401.00001"), 1)
        store.archive("ada@example.org", "<m@x>", date.today(), "<p>hi</p>")
        store.record_sent("ada@example.org", "<m@x>", ["2401.00001"])
    code, out, _ = run_cli("readers", "show", "ada@example.org")
    shown = json.loads(out)
    assert code == 0 and shown["votes"][0]["paper_id"] == "2401.00001" and shown["archive"][0]["html"] == "<p>hi</p>"
    assert shown["sent"][0]["paper_id"] == "2401.00001"
    code, out, _ = run_cli("readers", "export")
    exported = {r["email"]: r for r in json.loads(out)["readers"]}
    assert code == 0 and set(exported) == {"ada@example.org", "bob@example.org"}
    assert exported["ada@example.org"] == shown


def test_show_says_what_the_subscribers_file_says_of_a_reader_the_store_knows_nothing_about(
        run_cli, roster: Path, tmp_path: Path) -> None:
    """Ada is only in the file: show printed ``"state": null`` and empty lists, as if no such reader existed;
    now her status and origin as ``readers list`` gives them, and her entry in the file."""
    with Store.open(tmp_path / "state.db") as store:
        store.set_status("bob@example.org", "paused")  # the store exists, knowing someone else

    code, out, err = run_cli("readers", "show", "ada@example.org")

    shown = json.loads(out)
    assert code == 0, err
    assert (shown["status"], shown["from"], shown["state"]) == ("active", "file", None)
    assert shown["roster"]["keywords"] == ["reward model*"] and shown["roster"]["enabled"] is True
    bob = json.loads(run_cli("readers", "show", "bob@example.org")[1])
    assert (bob["status"], bob["roster"]["keywords"]) == ("paused", ["diffusion"])


def test_remove_wipes_the_readers_data(run_cli, roster: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_vote("ada@example.org", make_paper("T", "A", id="2401.00001"), 1)
        store.archive("ada@example.org", "<m@x>", date.today(), "<p>hi</p>")
        store.set_status("ada@example.org", "paused")
        store.record_sent("ada@example.org", "<m@x>", ["2401.00001"])
    code, out, _ = run_cli("readers", "remove", "ada@example.org")
    assert code == 0 and "still in the subscribers file" in out
    with Store.open(tmp_path / "state.db") as store:
        assert store.export_reader("ada@example.org") == {
            "email": "ada@example.org", "state": None, "changes": [], "votes": [], "messages": [], "sent": [],
            "archive": [], "reading_list": []}


@pytest.mark.parametrize("action", ["list", "export"])
def test_list_and_export_given_an_address_say_show_is_for_one_reader(run_cli, roster: Path, action: str) -> None:
    code, out, err = run_cli("readers", action, "ada@example.org")  # not everyone's data, as if it were Ada's

    assert code == 1 and out == ""
    assert err == (f"digest: error: digest readers {action} takes no address; "
                   "for one reader: digest readers show ada@example.org\n")


@pytest.mark.parametrize("argv", [("readers", "pause"), ("readers", "show", "nobody@example.org")])
def test_readers_errors_are_one_line(run_cli, roster: Path, argv: tuple[str, ...]) -> None:
    code, out, err = run_cli(*argv)
    assert code == 1 and err.startswith("digest: error: ") and err.count("\n") == 1


def test_old_rate_limit_counters_are_pruned(store: Store) -> None:
    store.hit("client:1.2.3.4", "2020-01-01T10", 5)
    store.hit("signup:a@example.org", "2020-01-01", 5)
    store.hit("client:5.6.7.8", "2999-01-01T10", 5)
    assert store.db.execute("SELECT key FROM counters").fetchall() == [("client:5.6.7.8",)]


# rank and preview: the readers a send serves ------------------------------------------------

@pytest.fixture
def web_reader(roster: Path, tmp_path: Path) -> str:
    """A confirmed web sign-up (the send gets them a digest), and one that never confirmed (it does not)."""
    with Store.open(tmp_path / "state.db") as store:
        store.request_signup("Web@Example.org", "rid", ["exploration"])
        store.confirm_signup("web@example.org")
        store.request_signup("pending@example.org", "rid2", ["exploration"])
    return "web@example.org"


def test_rank_shows_confirmed_web_sign_ups_as_the_send_serves_them(run_cli, web_reader: str) -> None:
    code, out, err = run_cli("rank", "--source", "sample", "--json")

    assert code == 0, err
    ranked = {json.loads(line)["subscriber"] for line in out.splitlines()}
    assert web_reader in ranked and "ada@example.org" in ranked and "pending@example.org" not in ranked


@pytest.mark.parametrize("command", [("rank",), ("preview", "--output", "out.html")])
def test_subscriber_finds_a_confirmed_web_sign_up(run_cli, web_reader: str, tmp_path: Path,
                                                  command: tuple[str, ...]) -> None:
    code, out, err = run_cli(*command, "--source", "sample", "--subscriber", "WEB@example.org")

    assert code == 0, err
    shown = out if command == ("rank",) else (tmp_path / "out.html").read_text(encoding="utf-8")
    assert "Curiosity in the Dark" in shown


def test_subscriber_does_not_find_a_sign_up_never_confirmed(run_cli, web_reader: str) -> None:
    code, _, err = run_cli("rank", "--source", "sample", "--subscriber", "pending@example.org")

    assert code == 1 and err.startswith("digest: error: no subscriber pending@example.org")


@pytest.mark.parametrize("hold", ["paused", "unsubscribed", "suppressed"])
def test_rank_leaves_out_a_reader_the_send_skips_and_shows_them_when_named(run_cli, roster: Path, tmp_path: Path,
                                                                       hold: str) -> None:
    with Store.open(tmp_path / "state.db") as store:
        if hold == "suppressed":
            from digest.store.bounces import BounceEvent, Rule

            store.record_bounce(BounceEvent("mail:1", "ada@example.org", MONDAY, "complaint", "abuse report"), Rule())
        else:
            store.set_status("ada@example.org", hold)

    code, out, err = run_cli("rank", "--source", "sample", "--json")
    assert code == 0, err
    assert "ada@example.org" not in {json.loads(line)["subscriber"] for line in out.splitlines()}

    code, out, err = run_cli("rank", "--source", "sample", "--subscriber", "ADA@example.org")
    assert code == 0 and "Reward Models That Know" in out
    note = f"digest: ada@example.org is {hold}{' (complaint)' if hold == 'suppressed' else ''}: " \
           "no digest is sent to them; shown anyway"
    assert err.splitlines() == [note]

    code, out, err = run_cli("preview", "--source", "sample", "--subscriber", "ada@example.org", "--output", "p.html")
    assert code == 0 and err.splitlines() == [note]


@pytest.mark.parametrize("command", [("rank",), ("preview", "--output", "out.html")])
def test_a_listing_that_cannot_be_read_is_the_one_line_for_a_reader_shown_anyway(
        run_cli, roster: Path, tmp_path: Path, command: tuple[str, ...]) -> None:
    """"ada is paused: ... shown anyway" came first, about a digest the command then could not make."""
    roster.write_text(roster.read_text().replace('keywords = ["reward model*"]',
                                                 'keywords = ["reward model*"]\nenabled = false'))
    with Store.open(tmp_path / "state.db") as store:
        store.set_status("ada@example.org", "paused")

    code, out, err = run_cli(*command, "--source", str(tmp_path / "gone.json"), "--subscriber", "ada@example.org")

    assert code == 1 and out == ""
    gone = tmp_path / "gone.json"
    assert err.splitlines() == [f"digest: error: {gone}: no such file; check the path given to --source"]
