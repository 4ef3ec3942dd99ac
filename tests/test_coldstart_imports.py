"""A cold start loads no library before the arguments are parsed: ``digest --help`` and
``digest --version`` answer without Jinja, Starlette, httpx or the email validator
(issue #19, "cold start"; the timings are benchmarks/coldstart.py's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("jinja2", "starlette", "email_validator", "httpx", "apscheduler", "mjml", "bibtexparser")
COMMANDS = ("papers", "rank", "preview", "send", "run", "check", "status", "serve", "readers", "feedback")


def imported_by(*argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime -m digest ARGV`` on this checkout: the result, and every module it imported."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DIGEST_", "PYTHON"))}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "digest", *argv],
                            env=env | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:") and "cumulative" not in line}
    return result, modules


def heavy_among(modules: set[str]) -> list[str]:
    return sorted(module for module in modules if module.split(".")[0] in HEAVY)


def test_the_import_report_names_what_a_library_command_loads() -> None:
    # the check below could not fail if the parsing missed modules: a real command shows them
    _, modules = imported_by("check", "--no-smtp")
    assert "digest.cli" in modules
    assert "jinja2" in modules


def test_digest_help_prints_the_help_without_loading_a_heavy_library() -> None:
    result, modules = imported_by("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: digest")
    assert "send today's digests once" in result.stdout
    assert heavy_among(modules) == []


def test_digest_help_loads_neither_the_app_nor_the_settings() -> None:
    _, modules = imported_by("--help")
    assert {"digest.app", "digest.settings", "digest.render", "digest.store"} & modules == set()


def test_digest_version_prints_the_version_without_loading_a_heavy_library() -> None:
    from digest import __version__

    result, modules = imported_by("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"digest {__version__}"
    assert heavy_among(modules) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_each_commands_help_loads_no_heavy_library(command: str) -> None:
    result, modules = imported_by(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: digest {command}")
    assert heavy_among(modules) == []


def test_a_usage_error_is_reported_before_any_heavy_library_loads() -> None:
    result, modules = imported_by("send", "--shard")
    assert result.returncode == 2
    assert "argument --shard: expected one argument" in result.stderr
    assert heavy_among(modules) == []


def test_a_send_loads_only_what_its_readers_and_settings_use(tmp_path: Path) -> None:
    """No reader with a library, no DIGEST_LLM_URL, no bounce mailbox: a one-reader send from a file
    loads neither the library readers, nor the summaries, nor flufl.bounce's detectors, nor httpx."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DIGEST_", "PYTHON"))}
    env |= {"PYTHONPATH": str(ROOT), "DIGEST_FROM": "Digest <digest@example.com>", "DIGEST_TO": "ada@example.org",
            "DIGEST_KEYWORDS": "diffusion, language model*", "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "digest", "send", "--dry-run", "--source",
                             "sample", "--outbox", str(tmp_path / "outbox")],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:") and "cumulative" not in line}

    assert result.returncode == 0 and "written 1 (dry run)" in result.stdout
    assert "digest.ranking.select" in modules  # the parsing sees what a send loads
    assert {"digest.library", "digest.summaries", "flufl.bounce", "httpx"} & modules == set()


THREADS_AFTER_RANK = """
import os, sys
from digest.cli import main
code = main(["rank", "--source", "sample"])
print(code, os.environ.get("OPENBLAS_NUM_THREADS"), len(os.listdir("/proc/self/task")), file=sys.stderr)
"""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="counts threads in /proc")
@pytest.mark.parametrize("preset,threads", [(None, "1"), ("2", "2")])
def test_the_cli_loads_numpy_with_one_blas_thread_unless_told_otherwise(tmp_path: Path, preset: str | None,
                                                                        threads: str) -> None:
    """OpenBLAS starts a spinning thread per core when numpy loads: a tenth of a second of CPU in a cold run."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DIGEST_", "PYTHON", "OPENBLAS", "OMP_"))}
    env |= {"PYTHONPATH": str(ROOT), "DIGEST_KEYWORDS": "diffusion", "DIGEST_STATE_DB": str(tmp_path / "state.db")}
    if preset:
        env["OPENBLAS_NUM_THREADS"] = preset
    result = subprocess.run([sys.executable, "-c", THREADS_AFTER_RANK], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    code, told, running = result.stderr.split()[-3:]

    assert code == "0" and told == threads
    if preset is None:
        assert running == "1"  # numpy is loaded (the ranking ran), and no BLAS thread beside the main one
