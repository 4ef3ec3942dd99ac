"""The subscribers file is read strictly: a value of the wrong type is an error naming the reader
and the fix, never a guess that mails the wrong thing (issue #17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.subscribers import load_subscribers


def write(tmp_path: Path, *tables: str) -> Path:
    path = tmp_path / "subscribers.toml"
    path.write_text("".join(f"[[subscribers]]\n{table}\n" for table in tables), encoding="utf-8")
    return path


def problem_of(tmp_path: Path, *tables: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_subscribers(write(tmp_path, *tables))
    return str(info.value)


ADA = 'email = "ada@example.org"\nkeywords = ["exploration"]\n'
BOB = 'email = "bob@example.org"\nkeywords = ["exploration"]\n'


@pytest.mark.parametrize("written", ['"false"', '"False"', '"true"'])
def test_enabled_written_as_text_is_an_error_naming_the_reader_and_the_fix(tmp_path: Path, written: str) -> None:
    message = problem_of(tmp_path, ADA, BOB + f"enabled = {written}\n")

    assert "subscribers.toml: subscriber 2: bob@example.org:" in message
    assert f"enabled = {written} is text" in message
    assert f"write enabled = {written.strip(chr(34)).lower()} without quotes" in message


def test_enabled_that_is_not_a_boolean_at_all_is_an_error(tmp_path: Path) -> None:
    assert "enabled must be true or false, not 0" in problem_of(tmp_path, ADA + "enabled = 0\n")


def test_enabled_false_without_quotes_pauses_the_reader(tmp_path: Path) -> None:
    readers = load_subscribers(write(tmp_path, ADA + "enabled = false\n", BOB))
    assert [reader.enabled for reader in readers] == [False, True]


@pytest.mark.parametrize(("line", "problem"), [
    ("min_score = nan", "min_score must be a number from 0 to 1000, not nan"),
    ("min_score = inf", "min_score must be a number from 0 to 1000, not inf"),
    ("min_score = -1.5", "min_score must be a number from 0 to 1000, not -1.5"),
    ('min_score = "2"', 'min_score = "2" is text; write the number without quotes'),
    ("max_items = 2.5", "max_items must be a whole number from 0 (no limit) to 10000, not 2.5"),
    ("max_items = 100000000000", "max_items must be a whole number from 0 (no limit) to 10000, not 100000000000"),
    ('max_items = "5"', 'max_items = "5" is text; write the number without quotes'),
    ("max_items = true", "max_items must be a whole number from 0 (no limit) to 10000, not true"),
])
def test_numbers_must_be_finite_numbers_within_range(tmp_path: Path, line: str, problem: str) -> None:
    message = problem_of(tmp_path, ADA + line + "\n")
    assert "subscriber 1: ada@example.org: " + problem in message


def test_every_bad_reader_is_named_in_one_message(tmp_path: Path) -> None:
    message = problem_of(tmp_path, ADA + 'enabled = "false"\n', BOB + "min_score = nan\n")
    assert "subscriber 1: ada@example.org: enabled" in message and "subscriber 2: bob@example.org: min_score" in message
    assert "\n" not in message


def test_keywords_as_one_string_are_split_like_digest_keywords(tmp_path: Path) -> None:
    (reader,) = load_subscribers(write(tmp_path, 'email = "ada@example.org"\n'
                                                 'keywords = "reinforcement learning, LLM, -survey"\n'))
    assert reader.keywords == ("reinforcement learning", "LLM", "-survey")


def test_keywords_written_naturally_are_stored_as_what_they_mean(tmp_path: Path) -> None:
    (reader,) = load_subscribers(write(tmp_path, 'email = "ada@example.org"\n'
                                                 'keywords = ["Reinforcement Learning (RL)", "a; b", "NOT survey"]\n'))
    assert reader.keywords == ("Reinforcement Learning", "RL", "a", "b", "-survey")


@pytest.mark.parametrize(("line", "problem"), [
    ("keywords = 3", "keywords must be a list of strings or one comma-separated string, not 3"),
    ("keywords = [1, 2]", "keywords must be a list of strings"),
    ('keywords = ["a OR b"]', "OR is not an operator here; write the alternatives as separate keywords"),
    ('keywords = ["diffusion (image generation)"]', "parentheses are understood only around a trailing acronym"),
    ('keywords = ""', 'no keywords; add keywords = ["reinforcement learning", "-survey"]'),
])
def test_keywords_that_cannot_mean_what_was_written_are_refused_with_a_hint(tmp_path: Path, line: str,
                                                                             problem: str) -> None:
    message = problem_of(tmp_path, f'email = "ada@example.org"\n{line}\n')
    assert "subscriber 1: ada@example.org: " in message and problem in message


@pytest.mark.parametrize("line", ["", "keywords = []", 'keywords = ""', 'keywords = [" ", ""]', 'keywords = ",, ;"'])
def test_a_reader_without_keywords_is_told_how_to_write_them(tmp_path: Path, line: str) -> None:
    message = problem_of(tmp_path, f'email = "ada@example.org"\n{line}\n')

    assert 'no keywords; add keywords = ["reinforcement learning", "-survey"]' in message
    assert "--keywords" not in message  # an option of the command line, not a field of this file


def test_an_unknown_field_lists_the_known_ones(tmp_path: Path) -> None:
    message = problem_of(tmp_path, ADA + "enable = false\n")
    assert "unknown field(s) enable; the fields are authors, email, enabled, keywords" in message


def test_a_library_under_the_home_of_an_unknown_user_is_an_error_naming_the_reader(tmp_path: Path) -> None:
    message = problem_of(tmp_path, ADA + 'library = "~no-such-user-here/ada.bib"\n')

    assert "subscriber 1: ada@example.org: ~no-such-user-here/ada.bib: cannot expand ~no-such-user-here" in message


def test_a_file_saved_with_a_utf8_byte_order_mark_loads_like_one_without(tmp_path: Path) -> None:
    path = tmp_path / "subscribers.toml"
    path.write_text(f"[[subscribers]]\n{ADA}", encoding="utf-8-sig")  # as Windows Notepad saves UTF-8

    assert [reader.email for reader in load_subscribers(path)] == ["ada@example.org"]


def test_digest_keywords_of_separators_alone_is_told_how_to_set_them() -> None:
    from digest.settings import load_settings
    from digest.subscribers import subscribers_from_settings

    with pytest.raises(ConfigError) as info:
        subscribers_from_settings(load_settings(None, {"DIGEST_KEYWORDS": ",, ;"}))

    assert str(info.value).startswith("no readers: set DIGEST_KEYWORDS") and "--keywords" not in str(info.value)


def test_a_file_that_is_not_utf8_names_the_line_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "subscribers.toml"
    path.write_bytes(f'[[subscribers]]\n{ADA}name = "Jos\u00e9"\n'.encode("latin-1"))  # as an old editor saves it

    with pytest.raises(ConfigError) as info:
        load_subscribers(path)

    assert str(info.value) == f"{path}: line 4 is not UTF-8 text; save the subscribers file as UTF-8"


def test_a_folder_named_as_the_subscribers_file_names_the_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_subscribers(tmp_path, named_by="--subscribers")

    assert str(info.value) == f"{tmp_path}: a folder, not a subscribers file; check --subscribers"
