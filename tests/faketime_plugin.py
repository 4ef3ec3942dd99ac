"""Under ``faketime``, the tests run as on any other date (loaded with ``-p`` from pyproject's addopts).

libfaketime 0.9.10 fakes ``CLOCK_MONOTONIC`` too, and glibc's timed waits take an
absolute deadline on that clock: Python's ``Lock.acquire(timeout=...)``,
``queue.get(timeout=...)`` and ``Event.wait(...)`` then wait until the faked deadline,
90 days away. When ``LD_PRELOAD`` holds libfaketime, this plugin compiles
``faketime_shim.c`` (which rebases those deadlines onto the real clock) and re-runs the
same command with the shim preloaded too, before pytest captures any output. Without
faketime it does nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SHIM_NAME = "digest-faketime-shim"


def _compiled() -> Path | None:
    source = Path(__file__).with_name("faketime_shim.c")
    target = Path(tempfile.gettempdir()) / f"{SHIM_NAME}-{os.getuid()}.so"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    try:
        # no timeout: a timed wait is what the shim mends (with FAKETIME_DONT_FAKE_MONOTONIC=1 libfaketime
        # answers EINVAL to Python's sleeps), and cc on a small file ends
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(target), str(source), "-ldl"],
                       check=True, capture_output=True)
    except (OSError, subprocess.SubprocessError) as err:
        print(f"faketime_plugin: could not build the shim ({err}); timed waits may hang", file=sys.stderr)
        return None
    return target


def _rerun_with_shim() -> None:
    preload = os.environ.get("LD_PRELOAD", "")
    if "libfaketime" not in preload or SHIM_NAME in preload:
        return
    shim = _compiled()
    if shim is not None:
        os.environ["LD_PRELOAD"] = f"{shim}:{preload}"
        os.execv(sys.executable, sys.orig_argv)


_rerun_with_shim()


@contextmanager
def real_clock() -> Iterator[None]:
    """Processes started inside run on the real clock: without libfaketime and its settings.

    For headless Chromium and Playwright's driver, which are the test's instruments, not the
    code under test: under libfaketime with an unfaked monotonic clock Chromium does not load
    a page within Playwright's timeout. The pages they look at still come from the faked clock.
    """
    saved = {key: value for key, value in os.environ.items() if key == "LD_PRELOAD" or key.startswith("FAKETIME")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


@contextmanager
def playwright_on_real_clock(manager: Any) -> Iterator[Any]:
    """``with sync_playwright() as p``, its driver (and so the browsers it starts) on the real clock."""
    with real_clock():
        playwright = manager.__enter__()
    try:
        yield playwright
    finally:
        manager.__exit__(None, None, None)
