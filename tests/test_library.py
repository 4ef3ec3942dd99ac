"""A reader's library of liked papers, read from the files reference managers export."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import ConfigError
from digest.library import Entry, fill_from, load_library
from digest.model import make_paper
from digest.settings import load_settings
from digest.subscribers import load_subscribers, subscribers_from_settings

from .conftest import FIXTURES

LIBRARY = FIXTURES / "library"
REWARD = "Reward Models that Generalize: Preference Learning at Scale"
CURIOSITY = "Curiosity-Driven Exploration with Learned World Models"


@pytest.mark.parametrize("name,kind,skipped", [
    ("zotero.bib", "BibTeX", 2),     # an unclosed brace, and an entry with neither title nor id
    ("scholar.bib", "BibTeX", 1),    # an unclosed brace
    ("zotero.csv", "CSV", 2),        # a row without a title or id, and a row with too few cells
    ("mendeley.ris", "RIS", 1),      # a record without a title or id
])
def test_exports_give_titles_ids_and_a_count_of_broken_entries(name: str, kind: str, skipped: int) -> None:
    library = load_library(LIBRARY / name)
    assert (library.format, library.skipped) == (kind, skipped)
    assert [(e.paper_id, e.title.casefold()) for e in library.entries] == [
        ("2501.01234", REWARD.casefold()), (None, CURIOSITY.casefold()),
    ]


@pytest.mark.parametrize("name", ["zotero.bib", "zotero.csv", "mendeley.ris"])
def test_exports_with_abstracts_keep_them(name: str) -> None:
    first = load_library(LIBRARY / name).entries[0]
    assert "generalize to unseen tasks" in first.abstract


def test_bibtex_latex_accents_and_braces_are_decoded() -> None:
    text = '@article{k, title = {{\\"U}ber {Reward} Models}, eprint = {2501.01234}, archivePrefix = {arXiv}}\n'
    path = Path("accents.bib")
    path.write_text(text, encoding="utf-8")
    assert load_library(path).entries == (Entry("2501.01234", "Über Reward Models", ""),)


def test_a_plain_list_of_ids_and_urls_counts_lines_that_are_not_ids() -> None:
    library = load_library(LIBRARY / "ids.txt")
    assert [e.paper_id for e in library.entries] == ["2501.01234", "2502.04321", "cs/0112017"]
    assert (library.format, library.skipped, library.without_text) == ("id list", 1, 3)


def test_entries_with_only_an_id_take_their_text_from_the_listing_and_the_rest_are_counted() -> None:
    listing = [make_paper("Sparse Rewards, Dense Signals", "Shaping sparse rewards.", id="2502.04321")]
    library = fill_from(load_library(LIBRARY / "ids.txt"), listing)
    assert library.entries[1] == Entry("2502.04321", "Sparse Rewards, Dense Signals", "Shaping sparse rewards.")
    assert library.without_text == 2
    assert "2 with an id but no title or abstract" in library.summary()


def test_a_missing_library_file_is_one_config_error_naming_the_path() -> None:
    with pytest.raises(ConfigError, match=r"^nowhere\.bib: library file not found; check"):
        load_library(Path("nowhere.bib"))


def test_an_unreadable_library_file_is_one_config_error_naming_the_path() -> None:
    Path("binary.bib").write_bytes(b"\xff\xfe\x00@article{")
    with pytest.raises(ConfigError, match=r"^binary\.bib: cannot read library file"):
        load_library(Path("binary.bib"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("@{}=,\"%TYAB  -ER\ntitle arxiv:2301.00001 ")), max_size=300))
def test_any_text_reads_as_a_library_without_crashing(text: str) -> None:
    path = Path("fuzz.txt")
    path.write_text(text, encoding="utf-8")
    library = load_library(path)
    assert library.skipped >= 0 and all(e.title or e.paper_id for e in library.entries)


def test_a_subscriber_library_is_relative_to_the_subscribers_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "readers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["exploration"]\nlibrary = "ada.bib"\n'
        '[[subscribers]]\nemail = "bo@example.org"\nkeywords = ["exploration"]\n', encoding="utf-8")
    ada, bo = load_subscribers(folder / "readers.toml")
    assert (ada.library, bo.library) == (folder / "ada.bib", None)


def test_digest_library_is_the_one_readers_library(tmp_path: Path) -> None:
    settings = load_settings(None, {"DIGEST_KEYWORDS": "exploration", "DIGEST_TO": "ada@example.org",
                                    "DIGEST_LIBRARY": str(tmp_path / "mine.ris")})
    assert subscribers_from_settings(settings)[0].library == tmp_path / "mine.ris"


def test_digest_rank_with_a_missing_library_is_one_line_and_exit_1(tmp_path: Path, run_cli) -> None:
    (tmp_path / "readers.toml").write_text(
        '[[subscribers]]\nemail = "ada@example.org"\nkeywords = ["exploration"]\nlibrary = "ada.bib"\n', encoding="utf-8")
    code, out, err = run_cli("rank", "--source", "sample", "--subscribers", str(tmp_path / "readers.toml"))
    assert code == 1
    assert err.strip().splitlines() == [f"digest: error: {tmp_path / 'ada.bib'}: library file not found; "
                                        "check the reader's library = or DIGEST_LIBRARY"]
