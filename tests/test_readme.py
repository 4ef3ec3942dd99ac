"""The README works as written: its configuration blocks parse, its commands exist.

Every fenced block is found by its info string and read with a real parser:
PyYAML for ``yaml``, ``tomllib`` for ``toml``, ``configparser`` for ``ini``
(systemd units), python-dotenv for ``dotenv``/``env`` blocks and for ``sh``
blocks made only of ``KEY=value`` lines. Every ``digest ...`` command line in a
block goes through the real argument parser, and the subscribers example passes
``digest check``.
"""

from __future__ import annotations

import configparser
import io
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from dotenv.parser import parse_stream

import digest
from digest.cli import build_parser
from digest.cron import parse_cron

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
ENV_LINE = re.compile(r"(export\s+)?[A-Za-z_][A-Za-z0-9_]*=")
SHELL_END = {"&&", "||", ";", "|", ">", ">>", "2>&1", "2>", "&"}


@dataclass(frozen=True)
class Block:
    kind: str
    text: str
    line: int

    def __str__(self) -> str:
        return f"README.md line {self.line} ({self.kind})"


def fenced_blocks(markdown: str) -> list[Block]:
    return [Block(m.group(1).lower(), m.group(2), markdown.count("\n", 0, m.start()) + 1)
            for m in FENCE.finditer(markdown)]


def is_env_style(block: Block) -> bool:
    """A dotenv block, or a shell block that only assigns variables (a ``.env`` file shown as ``sh``)."""
    if block.kind in ("dotenv", "env"):
        return True
    lines = [ln.strip() for ln in block.text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return block.kind in ("sh", "bash", "shell") and bool(lines) and all(ENV_LINE.match(ln) for ln in lines)


def parse_yaml(text: str) -> object:
    parsed = yaml.safe_load(text)
    if not isinstance(parsed, dict):
        raise ValueError(f"expected a mapping, got {type(parsed).__name__}")
    return parsed


def parse_ini(text: str) -> configparser.ConfigParser:
    """As systemd reads a unit: ``%h`` specifiers are not interpolation, keys may repeat."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    if not parser.sections():
        raise ValueError("no [section]")
    return parser


def parse_env(text: str) -> dict[str, str | None]:
    bindings = list(parse_stream(io.StringIO(text)))
    broken = [b.original.string.strip() for b in bindings if b.error]
    if broken:
        raise ValueError(f"not KEY=value: {broken}")
    return {b.key: b.value for b in bindings if b.key}


PARSERS = {"yaml": parse_yaml, "yml": parse_yaml, "toml": tomllib.loads, "ini": parse_ini, "env": parse_env}


def parser_for(block: Block):
    if is_env_style(block):
        return parse_env
    return PARSERS.get(block.kind)


BLOCKS = fenced_blocks(README.read_text(encoding="utf-8"))
CONFIG_BLOCKS = [b for b in BLOCKS if parser_for(b) is not None]


def block_of(kind: str, containing: str) -> Block:
    return next(b for b in BLOCKS if b.kind == kind and containing in b.text)


# the blocks parse ----------------------------------------------------------------------

def test_the_readme_has_yaml_toml_and_ini_blocks_to_check() -> None:
    kinds = {b.kind for b in CONFIG_BLOCKS}
    assert {"yaml", "toml", "ini"} <= kinds, f"found only {sorted(kinds)}: is the fence pattern still right?"


@pytest.mark.parametrize("block", CONFIG_BLOCKS, ids=str)
def test_every_configuration_block_of_the_readme_parses_with_a_real_parser(block: Block) -> None:
    parse = parser_for(block)
    assert parse is not None
    try:
        parse(block.text)
    except Exception as err:  # any parser's error: the block is broken as written
        pytest.fail(f"{block} does not parse: {err}")


@pytest.mark.parametrize(("kind", "broken"), [
    ("yaml", "steps:\n  - with: { key: digest-state-${{ github.run_id }} }\n"),
    ("toml", "[[subscribers]]\nemail = ada@example.org\n"),
    ("ini", "ExecStart=/usr/bin/digest run\n"),
    ("dotenv", "DIGEST_TO=you@example.com\nthis line is not an assignment\n"),
])
def test_the_block_checks_reject_a_broken_block(kind: str, broken: str) -> None:
    parse = parser_for(Block(kind, broken, 1))
    assert parse is not None
    with pytest.raises(Exception):
        parse(broken)


def test_a_shell_block_of_assignments_is_read_as_a_dotenv_file_and_commands_are_not() -> None:
    assert is_env_style(Block("sh", "# settings\nDIGEST_TO=a@example.org\nexport DIGEST_SOURCE=hf\n", 1))
    assert not is_env_style(Block("sh", "python3 -m venv .venv && .venv/bin/digest send\n", 1))


def test_the_github_workflow_keeps_the_password_in_a_secret_and_the_state_in_the_cache() -> None:
    workflow = parse_yaml(block_of("yaml", "runs-on").text)
    assert isinstance(workflow, dict)
    job = workflow["jobs"]["send"]
    assert job["env"]["DIGEST_SMTP_PASSWORD"] == "${{ secrets.DIGEST_SMTP_PASSWORD }}"
    caches = [s["with"] for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache/")]
    assert [c["path"] for c in caches] == ["state", "state"]
    assert all(c["key"] == "digest-state-${{ github.run_id }}" for c in caches)
    assert job["env"]["DIGEST_STATE_DB"].startswith("state/")


def test_the_systemd_units_start_the_daemon_and_the_reader_pages() -> None:
    units = [parse_ini(b.text) for b in BLOCKS if b.kind == "ini" and "[Service]" in b.text]
    assert [u["Service"]["ExecStart"].split()[-1] for u in units] == ["run", "serve"]
    assert all(u["Install"]["WantedBy"] == "default.target" for u in units)


def test_the_cron_example_is_a_schedule_digest_itself_accepts() -> None:
    lines = [ln for ln in block_of("cron", "digest send").text.splitlines() if ln and not ln.startswith("#")]
    zone = next(ln.split("=", 1)[1] for ln in lines if ln.startswith("CRON_TZ="))
    schedule = next(" ".join(ln.split()[:5]) for ln in lines if "digest" in ln)
    parse_cron(schedule, zone)  # a ConfigError would name the problem


# the commands exist -----------------------------------------------------------------------

def digest_commands(text: str) -> list[list[str]]:
    """The arguments of every ``digest`` (or ``.../digest``) command in shell-like text (not ``cd .../digest``)."""
    found: list[list[str]] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if ENV_LINE.match(line):  # an assignment (WorkingDirectory=, CRON_TZ=): only ExecStart= runs a command
            if not line.startswith("ExecStart="):
                continue
            line = line.split("=", 1)[1]
        words = shlex.split(line, comments=True)
        for i, word in enumerate(words):
            at_command = i == 0 or words[i - 1] in SHELL_END
            if at_command and (word == "digest" or word.endswith("/digest")):
                end = next((j for j in range(i + 1, len(words)) if words[j] in SHELL_END), len(words))
                found.append(words[i + 1:end])
    return found


COMMANDS = [(b, argv) for b in BLOCKS if b.kind in ("sh", "bash", "cron", "ini") for argv in digest_commands(b.text)]


def test_the_readme_shows_digest_commands_to_check() -> None:
    assert {argv[-1] for _, argv in COMMANDS} >= {"run", "serve"}
    assert any("send" in argv for _, argv in COMMANDS)


@pytest.mark.parametrize(("block", "argv"), COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_every_digest_command_in_a_readme_block_is_accepted_by_the_real_parser(block: Block, argv: list[str]) -> None:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{block}: `digest {' '.join(argv)}` is not a valid command line")
    assert callable(args.func)


# the command table: what it shows in [...] may be left out ----------------------------------

TABLE_ROW = re.compile(r"^\| `digest (\w+)([^`]*)` \|", re.M)
PLACEHOLDERS = {"SRC": "sample", "EMAIL": "ada@example.org", "FILE": "x.toml", "N": "1", "ID": "2601.00001",
                "K/N": "1/2", "DIR": "out", "SECONDS": "5", "PATH": "x"}


def least_usage(usage: str) -> list[str]:
    """A command table row's usage with every optional ``[...]`` dropped, the first of each ``(a | b)`` kept."""
    usage = usage.replace("\\|", "|")
    while "[" in usage:
        usage = re.sub(r"\[[^\[\]]*\]", "", usage)
    usage = re.sub(r"\(([^()|]*)\|[^()]*\)", r"\1", usage)
    return [PLACEHOLDERS.get(word, word) for word in usage.split()]


ROWS = TABLE_ROW.findall(README.read_text(encoding="utf-8").split("## Commands", 1)[1].split("\n## ", 1)[0])


@pytest.mark.parametrize(("command", "usage"), ROWS, ids=[command for command, _ in ROWS])
def test_what_the_command_table_shows_as_optional_can_be_left_out(command: str, usage: str) -> None:
    argv = [command, *least_usage(usage)]
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"the README's `digest {command}{usage}` shows as optional what `digest {' '.join(argv)}` "
                    "needs")


# the subscribers example passes digest check ----------------------------------------------

ONE_ENTRY = """@article{vaswani2017,
  title = {Attention Is All You Need},
  author = {Vaswani, Ashish},
  year = {2017},
  eprint = {1706.03762},
  abstract = {The dominant sequence transduction models are based on recurrent networks.},
}
"""


def check(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``digest check --no-smtp`` in a new process with only these settings."""
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder), "PYTHONPATH": str(Path(digest.__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "digest", "check", "--no-smtp"], cwd=folder, env=base | env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def readme_subscribers(tmp_path: Path) -> Path:
    """The README's subscribers example as a file, beside the library file it names."""
    text = block_of("toml", "[[subscribers]]").text
    tables = tomllib.loads(text)["subscribers"]
    for table in tables:
        if "library" in table:
            (tmp_path / table["library"]).write_text(ONE_ENTRY, encoding="utf-8")
    path = tmp_path / "subscribers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_readme_subscribers_example_passes_digest_check(readme_subscribers: Path) -> None:
    result = check(readme_subscribers.parent, {
        "DIGEST_SUBSCRIBERS": str(readme_subscribers), "DIGEST_SOURCE": "sample",
        "DIGEST_FROM": "Paper digest <digest@example.org>",
        "DIGEST_STATE_DB": str(readme_subscribers.parent / "state.db"),
    })
    assert result.returncode == 0, result.stderr
    assert "settings ok: 1 reader," in result.stdout
    assert "Traceback" not in result.stderr


def test_the_readme_workflow_settings_with_the_subscribers_example_pass_digest_check(readme_subscribers: Path) -> None:
    workflow = parse_yaml(block_of("yaml", "runs-on").text)
    assert isinstance(workflow, dict)
    env = {k: str(v) for k, v in workflow["jobs"]["send"]["env"].items()}
    (readme_subscribers.parent / "state").mkdir()
    result = check(readme_subscribers.parent, env)
    assert result.returncode == 0, result.stderr
    assert "settings ok: 1 reader, source hf" in result.stdout
