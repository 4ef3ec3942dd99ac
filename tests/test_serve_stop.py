"""`digest serve` stopped by SIGTERM (a service manager, `kill`) or SIGINT (Ctrl-C) exits 0 once it has
stopped cleanly, as `digest run --serve` does: uvicorn re-raised the caught SIGTERM after its shutdown,
and the process died of it (status -15, 143 to a shell), which a service manager reads as a failure.

Real parts: a `digest serve` process, asked over HTTP on 127.0.0.1 until it answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .smtp_server import free_port


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DIGEST_")}
    env.update({"DIGEST_STATE_DB": str(tmp_path / "state.db"), "DIGEST_SECRET_KEY": "Ut4nW8qZ1xC6vB3mK9pR2sL7",
                "DIGEST_FROM": "Digest <digest@example.com>"})
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "digest", "serve", "--port", str(port)], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, f"http://127.0.0.1:{port}/"


def _answers(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return True
        except httpx.HTTPError:
            time.sleep(0.05)
    return False


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stopped_by_a_signal_exits_0(tmp_path: Path, stop: signal.Signals) -> None:
    process, url = _serve(tmp_path)
    try:
        assert _answers(url, 20), "digest serve did not answer"
        process.send_signal(stop)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, (process.returncode, err)
    assert "reader pages at " in out and "Traceback" not in err
