"""`digest run --serve`: the daemon sends and serves the reader pages from one process."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx

from .smtp_server import free_port
from .test_daemon import daemon_env, daemons, launch, wait_until  # noqa: F401 (daemons: a fixture)

ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"content-type": "application/x-www-form-urlencoded"}}


def test_run_serve_sends_serves_the_links_it_sent_and_stops_on_sigterm(server, inbox, tmp_path: Path, daemons) -> None:
    port = free_port()
    env = daemon_env(server, tmp_path, DIGEST_PUBLIC_URL=f"http://127.0.0.1:{port}",
                     DIGEST_SECRET_KEY="Ut4nW8qZ1xC6vB3mK9pR2sL7")
    daemon = launch(daemons, env, tmp_path, "--now", "--serve", "--port", str(port))
    daemon.wait_for_log(f"reader pages at http://127.0.0.1:{port}/")
    wait_until(lambda: len(inbox.messages) >= 1, timeout=30)
    daemon.wait_for_log("sent 1")

    link = re.findall(r"<([^>]+)>", str(inbox.messages[0]["List-Unsubscribe"]))[0]
    assert link.startswith(f"http://127.0.0.1:{port}/unsubscribe/")
    assert httpx.post(link, timeout=10, **ONE_CLICK).status_code == 200
    view = re.search(r"https?://\S+/d/\S+", inbox.messages[0].get_body(("plain",)).get_content()).group()
    assert httpx.get(view, timeout=10).status_code == 200

    code, took = daemon.terminate()
    assert code == 0 and took < 10
    assert "stopped" in daemon.log
    with httpx.Client(timeout=2) as client:
        try:
            client.get(f"http://127.0.0.1:{port}/")
            served_after_stop = True
        except httpx.TransportError:
            served_after_stop = False
    assert not served_after_stop


def test_run_serve_without_a_secret_key_is_one_line_and_exit_1(run_cli, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DIGEST_TO=ada@example.org\nDIGEST_KEYWORDS=exploration\n"
                                   "DIGEST_FROM=Digest <digest@example.com>\n")
    code, out, err = run_cli("run", "--serve")
    assert code == 1 and err.count("\n") == 1 and "DIGEST_SECRET_KEY" in err and "Traceback" not in err


def test_digest_serve_setting_serves_like_the_option(run_cli, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DIGEST_TO=ada@example.org\nDIGEST_KEYWORDS=exploration\n"
                                   "DIGEST_FROM=Digest <digest@example.com>\nDIGEST_SERVE=true\n")
    code, out, err = run_cli("run")
    assert code == 1 and "DIGEST_SECRET_KEY" in err  # serving needs the key: checked before the daemon starts


def test_run_serve_on_a_port_taken_says_so_in_one_line_before_the_daemon_starts(server, tmp_path: Path,
                                                                                 daemons) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = daemon_env(server, tmp_path, DIGEST_SECRET_KEY="Ut4nW8qZ1xC6vB3mK9pR2sL7")
        daemon = launch(daemons, env, tmp_path, "--serve", "--port", str(port))
        code = daemon.process.wait(30)
    assert code == 1
    assert daemon.log.strip().splitlines() == [f"digest: error: cannot listen on 127.0.0.1:{port} "
                                               "(Address already in use); choose another --port"]
