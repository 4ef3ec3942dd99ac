"""The package is type-checked: mypy finds nothing in ``digest/`` (settings in pyproject's [tool.mypy])."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ERROR = re.compile(r"^(?P<path>[^:\s]+\.pyi?):\d+(:\d+)?: error: ")
CHECKED = re.compile(r"(?:checked|found \d+ issues? in|no issues found in) (\d+) source files?", re.IGNORECASE)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")


def test_mypy_finds_no_errors_in_the_package():
    # no paths given: pyproject's files = ["digest"] decides what is checked
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-color-output"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode in (0, 1), f"mypy did not run:\n{output}"
    checked = CHECKED.search(result.stdout)
    assert checked and int(checked[1]) >= len(list((ROOT / "digest").rglob("*.py"))), \
        f"mypy did not check the whole package:\n{output}"
    errors = [line for line in result.stdout.splitlines() if ERROR.match(line)]
    assert result.returncode == 0 or errors, f"mypy failed without naming an error:\n{output}"
    assert errors == [], "mypy errors:\n" + "\n".join(errors)
