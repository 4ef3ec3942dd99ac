"""Output to a terminal or pipe whose encoding cannot carry every character (``PYTHONIOENCODING=ascii``,
a Latin-1 terminal): a title's ``☃`` is written as an escape, never a ``UnicodeEncodeError`` traceback,
and ``--json`` output still parses to the same text."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from digest.cli import main

TITLES = ["Bücher for RLHF \u2603 and \U0001F600", "Reward models for RLHF \ud800 broken"]
SHOWN = ["Bücher for RLHF \u2603 and \U0001F600", "Reward models for RLHF \ufffd broken"]


@pytest.fixture
def listing(tmp_path: Path) -> Path:
    path = tmp_path / "listing.json"
    path.write_text(json.dumps([{"id": f"2608.0000{n}", "title": title, "abstract": "Reward models for RLHF."}
                                for n, title in enumerate(TITLES, 1)]), encoding="ascii")
    return path


def terminal(monkeypatch: pytest.MonkeyPatch, encoding: str) -> io.BytesIO:
    """stdout in an encoding that cannot carry the titles, as ``PYTHONIOENCODING=ascii`` gives (set in the
    test itself: pytest's capture replaces a fixture's ``sys.stdout`` when the test starts)."""
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding=encoding, write_through=True))
    return raw


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_papers_json_parses_to_the_same_titles_in_any_terminal_encoding(listing, monkeypatch, encoding):
    raw = terminal(monkeypatch, encoding)

    assert main(["papers", "--json", "--source", str(listing)]) == 0

    lines = raw.getvalue().decode(encoding).splitlines()
    assert [json.loads(line)["title"] for line in lines] == SHOWN


@pytest.mark.parametrize("command", [["papers"], ["rank", "--keywords", "RLHF"], ["rank", "--keywords", "RLHF", "--json"]])
def test_a_table_on_an_ascii_terminal_is_written_with_escapes(listing, monkeypatch, command):
    raw = terminal(monkeypatch, "ascii")

    assert main([*command, "--source", str(listing)]) == 0

    out = raw.getvalue().decode("ascii")
    assert "\\u2603" in out and "Reward models for RLHF" in out
