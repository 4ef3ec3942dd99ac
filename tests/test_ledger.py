"""The never-twice ledger: a send asks only about today's papers, and gets what the full history says."""

from __future__ import annotations

import itertools
import json
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from digest.app import Digest
from digest.errors import ConfigError
from digest.model import Subscriber
from digest.settings import load_settings
from digest.store import Store

from .conftest import FIXTURES

EMAILS = ["ada@example.org", "bob@example.org", "chloé@example.fr", "o'brien@example.ie"]
NEW_PAPER = {"id": "2608.00099", "title": "Reward Models for Exploration with Diffusion Language Models",
             "abstract": "A reward model guides exploration; diffusion language models write the plans."}
PAPERS = ["2608.00001", "2608.00002", "2608.00003", "hep-th/9901001", "x'); DROP TABLE sent; --", "ünïcode", "?"]

# the same address as readers may write it: case does not matter
addresses = st.sampled_from(EMAILS).flatmap(lambda e: st.sampled_from([e, e.upper(), e.capitalize()]))
delivery = st.tuples(addresses, st.lists(st.sampled_from(PAPERS), max_size=4), st.booleans())
histories = st.lists(st.lists(delivery, min_size=1, max_size=6), max_size=6)  # batches of answered messages


def record(store: Store, history: list[list[tuple[str, list[str], bool]]]) -> dict[str, set[str]]:
    """Write the history through the store's API; return what the old full load would have held."""
    expected: dict[str, set[str]] = {}
    numbers = itertools.count()
    for batch in history:
        store.record_deliveries(
            (email, f"<{next(numbers)}@example.org>", papers, "550 no such user" if failed else None)
            for email, papers, failed in batch
        )
        for email, papers, failed in batch:
            if not failed and papers:
                expected.setdefault(email.lower(), set()).update(papers)
    return expected


def restricted(full: dict[str, set[str]], today: set[str], emails: set[str] | None = None) -> dict[str, set[str]]:
    return {
        email: ids & today for email, ids in full.items()
        if ids & today and (emails is None or email in {e.lower() for e in emails})
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, today=st.sets(st.sampled_from(PAPERS + ["2699.99999"])),
       emails=st.none() | st.sets(addresses | st.just("nobody@example.org")))
@example(history=[[("ada@example.org", ["2608.00001"], False)]], today={"2608.00001"}, emails={"Ada@Example.org"})
def test_todays_query_returns_the_full_history_restricted_to_todays_papers(history, today, emails) -> None:
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "state.db") as store:
        expected = record(store, history)
        assert store.all_sent_ids() == expected  # the old full load, kept for tests and exports
        assert store.sent_among(today, emails) == restricted(expected, today, emails)


def test_the_query_looks_up_todays_papers_and_never_scans_the_ledger(tmp_path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_deliveries([(f"r{n}@example.org", f"<{n}@x>", [f"2608.{n % 50:05d}"], None) for n in range(500)])
        store.db.execute("ANALYZE")
        for query, params in [
            ("_SENT_AMONG", {"ids": '["2608.00001"]'}),
            ("_SENT_AMONG_READERS", {"ids": '["2608.00001"]', "emails": '["r1@example.org"]'}),
        ]:
            from digest.store import deliveries

            plan = " | ".join(row[3] for row in store.db.execute("EXPLAIN QUERY PLAN " + getattr(deliveries, query), params))
            assert "SEARCH s USING PRIMARY KEY (paper=?" in plan, plan
            assert "SCAN s" not in plan and "SCAN p" not in plan and "SCAN a" not in plan, plan


def test_the_sends_refusal_check_reads_the_failed_messages_never_every_message_kept(tmp_path) -> None:
    from digest.store.bounces import RCPT_MARK, REFUSALS_NOT_SCORED

    with Store.open(tmp_path / "state.db") as store:
        store.record_deliveries([(f"r{n}@example.org", f"<{n}@x>", [f"2608.{n % 50:05d}"], None) for n in range(500)])
        store.record_failed("ada@example.org", "<refused@x>", "550 no such user" + RCPT_MARK, 3)
        store.record_failed("bob@example.org", "<later@x>", "421 try later", 3)  # not refused at RCPT
        store.db.execute("ANALYZE")
        plan = " | ".join(row[3] for row in store.db.execute("EXPLAIN QUERY PLAN " + REFUSALS_NOT_SCORED,
                                                            {"mark": "%" + RCPT_MARK}))
        assert "USING INDEX messages_failed" in plan, plan
        assert "SCAN m" not in plan.replace("SCAN m USING INDEX messages_failed", ""), plan
        assert [(mid, email) for mid, email, *_ in store.refusals_not_scored()] == [("<refused@x>", "ada@example.org")]


def test_a_message_recorded_again_replaces_its_status(tmp_path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_failed("ada@example.org", "<1@x>", "421 try later", 2)
        store.record_sent("ada@example.org", "<1@x>", ["2608.00001"])
        assert store.message_status("ADA@example.org") == [("<1@x>", "sent")]
        assert store.sent_among(["2608.00001"]) == {"ada@example.org": {"2608.00001"}}


def test_the_status_column_takes_states_beyond_sent_and_failed(tmp_path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_sent("ada@example.org", "<1@x>", ["2608.00001"])
        store.db.execute("UPDATE messages SET status = 'uncertain'")
        assert store.message_status("ada@example.org") == [("<1@x>", "uncertain")]


def test_readers_sent_since_counts_only_accepted_messages_from_that_time(tmp_path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_sent("ada@example.org", "<1@x>", ["2608.00001"])
        store.record_failed("bob@example.org", "<2@x>", "550 no", 1)
        now = datetime.now(timezone.utc)
        assert store.readers_sent_since(now - timedelta(minutes=1)) == {"ada@example.org"}
        assert store.readers_sent_since(now + timedelta(minutes=1)) == set()


def test_pruning_forgets_old_messages_but_never_who_got_which_paper(tmp_path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_sent("ada@example.org", "<old@x>", ["2608.00001"])
        later = time.time() + 401 * 86_400
        assert store.prune(400, now=time.time()) == 0
        assert store.prune(400, now=later) == 1
        assert store.message_status("ada@example.org") == []
        assert store.sent_among(["2608.00001"]) == {"ada@example.org": {"2608.00001"}}


def test_a_send_prunes_messages_older_than_keep_days_and_still_never_resends(server, inbox, tmp_path) -> None:
    settings = load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
        "DIGEST_MIN_SCORE": "1", "DIGEST_KEEP_DAYS": "30",
    })
    with Store.open(settings.state_db) as store:
        store.record_sent("ada@example.org", "<long-ago@x>", ["2608.00003"])
        store.db.execute("UPDATE messages SET created = created - 31 * 86400")
    readers = [Subscriber("ada@example.org", ("reward model", "exploration"))]

    report = Digest(settings).send(readers, source=str(FIXTURES / "papers.jsonl"))

    assert report.sent == ["ada@example.org"]
    assert "Reward Models for RLHF" not in inbox.messages[0].get_body(("plain",)).get_content()
    with Store.open(settings.state_db) as store:
        assert [mid for mid, _ in store.message_status("ada@example.org")] == [inbox.messages[0]["Message-ID"]]
        assert "2608.00003" in store.sent_ids("ada@example.org")


def test_rank_asks_the_ledger_about_the_listing_it_ranks(run_cli, tmp_path) -> None:
    (tmp_path / ".env").write_text(f"DIGEST_STATE_DB={tmp_path / 'state.db'}\nDIGEST_MIN_SCORE=1\n"
                                   "DIGEST_TO=ada@example.org\n", encoding="utf-8")
    with Store.open(tmp_path / "state.db") as store:
        store.record_sent("ada@example.org", "<1@x>", ["2608.00003"])
    code, out, err = run_cli("rank", "--source", str(FIXTURES / "papers.jsonl"), "--keywords", "reward model", "--json")
    assert code == 0, err
    assert "2608.00003" not in out


def test_counts_for_status(tmp_path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_deliveries([("ada@example.org", "<1@x>", ["a", "b"], None), ("bob@example.org", "<2@x>", ["a"], "550"),
                                 ("ada@example.org", "<3@x>", ["c"], None)])
        assert store.counts() == {"papers": 3, "messages": 2, "readers": 1}


@pytest.mark.parametrize("value, problem", [("0", "must be 1 or more"), ("soon", "not a number")])
def test_keep_days_must_be_a_positive_number_of_days(value, problem) -> None:
    with pytest.raises(ConfigError, match=f"DIGEST_KEEP_DAYS='{value}': {problem}"):
        load_settings(None, {"DIGEST_KEEP_DAYS": value})
    assert load_settings(None, {}).keep_days == 400


def test_paper_ids_and_addresses_are_stored_once(tmp_path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.record_deliveries([(f"reader{n}@example.org", f"<{n}@x>", ["2608.00001", "2608.00002"], None)
                                 for n in range(20)])
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("SELECT count(*) FROM papers").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM addresses").fetchone()[0] == 20
    assert db.execute("SELECT typeof(paper), typeof(reader) FROM sent LIMIT 1").fetchone() == ("integer", "integer")


def test_two_stores_on_one_file_agree_on_the_keys_of_papers_and_readers(tmp_path) -> None:
    """Keys are remembered only once committed; another process (a shard) may add the same paper."""
    with Store.open(tmp_path / "state.db") as one, Store.open(tmp_path / "state.db") as two:
        one.record_sent("ada@example.org", "<1@x>", ["2608.00001", "2608.00002"])
        two.record_sent("bob@example.org", "<2@x>", ["2608.00002", "2608.00003"])
        one.record_sent("chloé@example.fr", "<3@x>", ["2608.00003", "2608.00002"])
        expected = {"ada@example.org": {"2608.00002"}, "bob@example.org": {"2608.00002"},
                    "chloé@example.fr": {"2608.00002"}}
        assert one.sent_among(["2608.00002"]) == two.sent_among(["2608.00002"]) == expected
        assert two.sent_ids("chloé@example.fr") == {"2608.00002", "2608.00003"}


def test_keep_days_1_never_prunes_the_morning_of_a_25_hour_day_before_a_late_send(server, inbox, tmp_path) -> None:
    """Europe/Berlin's 25 October 2026 has 25 hours: a send at 23:30 is more than a day after one at 00:15.
    Pruning by 24 hours forgot the morning's delivery, and the next send that day mailed the reader again."""
    settings = load_settings(None, {
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(server.port), "DIGEST_SMTP_SECURITY": "none",
        "DIGEST_FROM": "digest@example.com", "DIGEST_STATE_DB": str(tmp_path / "state.db"),
        "DIGEST_MIN_SCORE": "1", "DIGEST_KEEP_DAYS": "1", "DIGEST_TIMEZONE": "Europe/Berlin",
    })
    readers = [Subscriber("ada@example.org", ("reward model", "exploration", "diffusion"))]
    later = tmp_path / "later.jsonl"  # the day's listing grew: one more paper for her
    later.write_text((FIXTURES / "papers.jsonl").read_text() + json.dumps(NEW_PAPER) + "\n")
    berlin = ZoneInfo("Europe/Berlin")
    morning, night, later_night = (datetime(2026, 10, 25, h, m, tzinfo=berlin).timestamp()
                                   for h, m in ((0, 15), (23, 30), (23, 45)))
    assert night - morning > 86_400

    Digest(settings, clock=lambda: morning).send(readers, source=str(FIXTURES / "papers.jsonl"))
    Digest(settings, clock=lambda: night).send(readers, source=str(FIXTURES / "papers.jsonl"))
    report = Digest(settings, clock=lambda: later_night).send(readers, source=str(later))

    assert len(inbox.messages) == 1 and report.already_today == ["ada@example.org"]
