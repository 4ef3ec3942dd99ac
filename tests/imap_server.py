"""A real IMAP server (Debian's dovecot-imapd) on 127.0.0.1 for the bounce tests.

Dovecot runs in the foreground as the current user, everything under one
temporary folder: its configuration, one passwd-file user, the Maildir, and a
certificate made by trustme for implicit TLS (imaps) and STARTTLS (imap).
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trustme

DOVECOT = Path("/usr/sbin/dovecot")
USER, PASSWORD = "bounces", "imap-test-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ImapServer:
    folder: Path
    imaps_port: int
    imap_port: int
    ca_file: Path
    process: subprocess.Popen[bytes]
    run: Path

    def url(self, scheme: str = "imaps", mailbox: str = "INBOX") -> str:
        port = self.imaps_port if scheme == "imaps" else self.imap_port
        return f"{scheme}://{USER}:{PASSWORD}@localhost:{port}/{mailbox}"

    def client(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        imap = imaplib.IMAP4_SSL("localhost", self.imaps_port, ssl_context=context, timeout=5)
        imap.login(USER, PASSWORD)
        return imap

    def deliver(self, message: bytes, mailbox: str = "INBOX") -> None:
        """Put one message into the mailbox, as the bounce's MTA would have (IMAP APPEND)."""
        imap = self.client()
        try:
            imap.create(mailbox) if mailbox != "INBOX" else None
            imap.append(mailbox, None, None, message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        finally:
            imap.logout()

    def deliver_many(self, messages: list[bytes]) -> None:
        """Put many messages into the INBOX over one connection (a connection each is slow for hundreds)."""
        imap = self.client()
        try:
            for message in messages:
                imap.append("INBOX", None, None, message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        finally:
            imap.logout()

    def seen(self, mailbox: str = "INBOX") -> list[bool]:
        """For each message in order: whether it is flagged \\Seen."""
        imap = self.client()
        try:
            imap.select(mailbox, readonly=True)
            _, data = imap.fetch("1:*", "(FLAGS)")
            return [b"\\Seen" in line for line in data if isinstance(line, bytes)]
        finally:
            imap.logout()

    def stop(self) -> None:
        """Kill dovecot and its children at once (its own process group).

        On SIGTERM dovecot's master waits a second for its children before it exits: a
        second a test. Its folder is thrown away, so nothing is lost by not waiting.
        """
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=5)
        shutil.rmtree(self.run, ignore_errors=True)


def start(folder: Path) -> ImapServer:
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    imaps, imap = free_port(), free_port()
    run = Path(tempfile.mkdtemp(prefix="dovecot-run-"))  # open to dovecot's own users (under root, its auth)
    run.chmod(0o755)
    uid, gid = _mail_owner()
    (run / "mail").mkdir()
    os.chown(run / "mail", uid, gid)
    (run / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{run / 'mail'}\n")
    (folder / "dovecot.conf").write_text(_config(folder, run, imaps, imap))
    log = (folder / "dovecot.log").open("ab")
    process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(folder / "dovecot.conf")], stdout=log, stderr=log,
                               process_group=0)  # its children too: ``stop`` kills the group
    server = ImapServer(folder, imaps, imap, folder / "ca.pem", process, run)
    _wait_for(server)
    return server


def _wait_for(server: ImapServer) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {(server.folder / 'dovecot.log').read_text()[-2000:]}")
        try:
            server.client().logout()
            return
        except (OSError, imaplib.IMAP4.error):
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"dovecot did not answer: {(server.folder / 'dovecot.log').read_text()[-2000:]}")


def _mail_owner() -> tuple[int, int]:
    """Whose the mail is: us; as root (dovecot refuses uid 0 for mail), dovecot's own user."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam("dovecot")
    return entry.pw_uid, entry.pw_gid


def _users() -> str:
    """As root, dovecot's login processes run as its own users (the package made them); else as us."""
    if os.getuid() == 0:
        return ""
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    return f"default_login_user = {user}\ndefault_internal_user = {user}\ndefault_internal_group = {group}"


def _config(folder: Path, run: Path, imaps: int, imap: int) -> str:
    return f"""
base_dir = {run}
state_dir = {folder}/state
log_path = {folder}/dovecot.log
{_users()}
first_valid_uid = 0
first_valid_gid = 0
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{folder}/cert.pem
ssl_key = <{folder}/key.pem
auth_mechanisms = plain login
mail_location = maildir:{run}/mail/%u
passdb {{
  driver = passwd-file
  args = {run}/users
}}
userdb {{
  driver = passwd-file
  args = {run}/users
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
